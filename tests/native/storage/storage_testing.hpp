// Shared helpers of the storage tests: a LoadSink that records what a store
// holds, exact comparison of two such recordings, seeded random mutation
// batches, and a temporary directory.
#pragma once

#include "storage/store.hpp"
#include "storage/value_codec.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace topgun::storage::testing {

// Everything a store streamed back, in call order.
struct Snapshot final : LoadSink {
    struct Lww {
        std::string map, key;
        LWWRecord record;
    };
    struct OrKey {
        std::string map, key;
        std::vector<ORRecord> records;
    };
    struct Entry {
        std::string a, b;  // (map, tag) or (ns, key)
        Bytes value;       // meta only
    };
    std::vector<Lww> lww_rows;
    std::vector<OrKey> or_rows;
    std::vector<Entry> tombstone_rows;
    std::vector<Entry> meta_rows;

    void lww(std::string_view map, std::string_view key, LWWRecord&& record) override {
        lww_rows.push_back({std::string(map), std::string(key), std::move(record)});
    }
    void or_key(std::string_view map, std::string_view key, std::vector<ORRecord>&& records) override {
        or_rows.push_back({std::string(map), std::string(key), std::move(records)});
    }
    void or_tombstone(std::string_view map, std::string_view tag) override {
        tombstone_rows.push_back({std::string(map), std::string(tag), {}});
    }
    void meta(std::string_view ns, std::string_view key, std::span<const std::uint8_t> value) override {
        meta_rows.push_back({std::string(ns), std::string(key), Bytes(value.begin(), value.end())});
    }

    std::size_t items() const { return lww_rows.size() + or_rows.size() + tombstone_rows.size() + meta_rows.size(); }
};

inline Snapshot load_all(Store& store) {
    Snapshot s;
    store.load(s);
    return s;
}

inline bool same_record(const LWWRecord& a, const LWWRecord& b) {
    return a.timestamp == b.timestamp && a.ttl_ms == b.ttl_ms && identical(a.value, b.value);
}
inline bool same_record(const ORRecord& a, const ORRecord& b) {
    return a.tag == b.tag && a.timestamp == b.timestamp && a.ttl_ms == b.ttl_ms && identical(a.value, b.value);
}

// "" when equal (same calls in the same order, values identical bit for bit),
// otherwise the first difference.
inline std::string difference(const Snapshot& got, const Snapshot& want) {
    std::ostringstream out;
    auto sizes = [&](const char* what, std::size_t g, std::size_t w) {
        if (g != w) out << what << ": got " << g << " items, want " << w << "; ";
    };
    sizes("lww", got.lww_rows.size(), want.lww_rows.size());
    sizes("or_keys", got.or_rows.size(), want.or_rows.size());
    sizes("tombstones", got.tombstone_rows.size(), want.tombstone_rows.size());
    sizes("meta", got.meta_rows.size(), want.meta_rows.size());
    for (std::size_t i = 0; i < std::min(got.lww_rows.size(), want.lww_rows.size()); ++i) {
        const auto &g = got.lww_rows[i], &w = want.lww_rows[i];
        if (g.map != w.map || g.key != w.key || !same_record(g.record, w.record)) {
            out << "lww[" << i << "]: got " << g.map << "/" << g.key << ", want " << w.map << "/" << w.key
                << " (or the record differs); ";
            break;
        }
    }
    for (std::size_t i = 0; i < std::min(got.or_rows.size(), want.or_rows.size()); ++i) {
        const auto &g = got.or_rows[i], &w = want.or_rows[i];
        bool same = g.map == w.map && g.key == w.key && g.records.size() == w.records.size();
        for (std::size_t r = 0; same && r < g.records.size(); ++r) same = same_record(g.records[r], w.records[r]);
        if (!same) {
            out << "or_keys[" << i << "]: got " << g.map << "/" << g.key << " with " << g.records.size()
                << " records, want " << w.map << "/" << w.key << " with " << w.records.size() << "; ";
            break;
        }
    }
    for (std::size_t i = 0; i < std::min(got.tombstone_rows.size(), want.tombstone_rows.size()); ++i) {
        const auto &g = got.tombstone_rows[i], &w = want.tombstone_rows[i];
        if (g.a != w.a || g.b != w.b) {
            out << "tombstones[" << i << "]: got " << g.a << "/" << g.b << ", want " << w.a << "/" << w.b << "; ";
            break;
        }
    }
    for (std::size_t i = 0; i < std::min(got.meta_rows.size(), want.meta_rows.size()); ++i) {
        const auto &g = got.meta_rows[i], &w = want.meta_rows[i];
        if (g.a != w.a || g.b != w.b || g.value != w.value) {
            out << "meta[" << i << "]: got " << g.a << "/" << g.b << ", want " << w.a << "/" << w.b << "; ";
            break;
        }
    }
    return out.str();
}

// --- random data ------------------------------------------------------------------------------------

struct Generator {
    std::mt19937_64 rng;
    // SQLite and memory hold any bytes in names; PostgreSQL text needs UTF-8 without NUL.
    bool any_bytes = true;

    explicit Generator(std::uint64_t seed, bool any_bytes_in_names = true) : rng(seed), any_bytes(any_bytes_in_names) {}

    std::uint64_t below(std::uint64_t n) { return rng() % n; }
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }

    std::string name(const char* prefix, std::uint64_t pool) {
        std::string s = std::string(prefix) + std::to_string(below(pool));
        switch (below(12)) {
            case 0: s += "-ünï-名前"; break;
            case 1: s += " with \"quotes\", \\backslash\\ and {braces}"; break;
            case 2:
                if (any_bytes) s += std::string("\0nul", 4);
                break;
            case 3:
                if (any_bytes) s += "\xED\xA0\x80";  // a lone surrogate, as msgpackr writes one (WTF-8)
                break;
            default: break;
        }
        return s;
    }

    Value scalar() {
        switch (below(14)) {
            case 0: return Value();
            case 1: return Value(chance(0.5));
            case 2: return Value(static_cast<std::int64_t>(rng()));
            case 3: {
                // clang-format off
                static const std::int64_t edges[] = {
                    0, -1, -32, -33, 127, 128, 255, 256, 65535, 65536, INT32_MAX, INT32_MIN, UINT32_MAX,
                    std::int64_t{UINT32_MAX} + 1, std::int64_t{1} << 53, (std::int64_t{1} << 53) + 1, INT64_MAX, INT64_MIN};
                // clang-format on
                return Value(edges[below(std::size(edges))]);
            }
            case 4: return Value(std::numeric_limits<std::uint64_t>::max() - below(1000));
            case 5: return Value(std::uniform_real_distribution<double>(-1e6, 1e6)(rng));
            case 6: {
                constexpr double kInf = std::numeric_limits<double>::infinity();
                static const double edges[] = {0.0,   -0.0,   1.0,  -1.0,  4294967296.0,
                                               1e300, 5e-324, kInf, -kInf, std::numeric_limits<double>::quiet_NaN()};
                return Value(edges[below(std::size(edges))]);
            }
            case 7:
            case 8: return Value(name("s", 1000));
            case 9: return Value(std::string(below(300), 'x'));
            case 10: {
                Bytes b(below(40));
                for (auto& byte : b) byte = static_cast<std::uint8_t>(rng());
                return Value(std::move(b));
            }
            case 11: return Value(Bytes{});
            case 12: return Value(std::string());
            default: return Value(static_cast<std::int64_t>(below(100)));
        }
    }

    Value value(int depth = 0) {
        const std::uint64_t kind = below(depth >= 3 ? 1 : 5);
        if (kind == 1) {
            Value a = Value::array();
            for (std::uint64_t i = below(5); i > 0; --i) a.push_back(value(depth + 1));
            return a;
        }
        if (kind == 2) {
            Value m = Value::map();
            for (std::uint64_t i = below(5); i > 0; --i) m.set("f" + std::to_string(below(10)), value(depth + 1));
            return m;
        }
        return scalar();
    }

    Timestamp timestamp() {
        return Timestamp{1'700'000'000'000ULL + below(1'000'000),
                         static_cast<std::uint32_t>(below(4) == 0 ? rng() : below(10)),
                         "node-" + std::to_string(below(3))};
    }

    std::optional<std::uint64_t> ttl() {
        switch (below(6)) {
            case 0: return std::uint64_t{0};
            case 1: return 1000 + below(100000);
            case 2: return std::numeric_limits<std::uint64_t>::max();
            default: return std::nullopt;
        }
    }

    LWWRecord lww_record() {
        LWWRecord r;
        r.value = chance(0.2) ? Value() : value();  // nil: a tombstone
        r.timestamp = timestamp();
        r.ttl_ms = ttl();
        return r;
    }

    std::string tag() {
        Timestamp t = timestamp();
        return t.to_string();
    }

    std::vector<ORRecord> or_records() {
        std::vector<ORRecord> out;
        for (std::uint64_t i = below(4); i > 0; --i) {
            ORRecord r;
            r.value = value();
            r.timestamp = timestamp();
            r.tag = chance(0.9) ? r.timestamp.to_string() : name("tag", 50);
            r.ttl_ms = ttl();
            out.push_back(std::move(r));
        }
        return out;
    }

    Mutation mutation() {
        const std::string map = name("map", 3);
        switch (below(10)) {
            case 0:
            case 1:
            case 2: return LwwPut{map, name("k", 40), lww_record()};
            case 3: return LwwErase{map, name("k", 40)};
            case 4:
            case 5: return OrKeyPut{map, name("ok", 20), or_records()};
            case 6: {
                std::vector<std::string> tags;
                for (std::uint64_t i = 1 + below(3); i > 0; --i) tags.push_back(chance(0.5) ? tag() : name("tag", 50));
                return OrTombstonesAdd{map, std::move(tags)};
            }
            case 7: {
                std::vector<std::string> tags;
                for (std::uint64_t i = 1 + below(3); i > 0; --i) tags.push_back(name("tag", 50));
                return OrTombstonesErase{map, std::move(tags)};
            }
            case 8: {
                Bytes blob(below(64));
                for (auto& byte : blob) byte = static_cast<std::uint8_t>(rng());
                return MetaPut{name("ns", 2), name("m", 10), std::move(blob)};
            }
            default: return MetaErase{name("ns", 2), name("m", 10)};
        }
    }

    std::vector<Mutation> batch(std::size_t max_size = 40) {
        std::vector<Mutation> out;
        for (std::uint64_t i = below(max_size + 1); i > 0; --i) out.push_back(mutation());
        return out;
    }
};

// A value nested deeper than any store accepts.
inline Value too_deep_value() {
    Value v = Value(1);
    for (std::size_t i = 0; i <= kMaxValueDepth; ++i) v = Value(Value::Array{std::move(v)});
    return v;
}

// --- files --------------------------------------------------------------------------------------------

class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "topgun-storage-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

}  // namespace topgun::storage::testing
