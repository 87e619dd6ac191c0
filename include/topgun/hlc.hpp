// Hybrid logical clock: wall-clock milliseconds plus a logical counter and the
// id of the node that generated the timestamp (PROTOCOL.md §4).
#pragma once

#include <topgun/config.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

TOPGUN_BEGIN_NAMESPACE

struct Timestamp {
    std::uint64_t millis = 0;
    std::uint32_t counter = 0;
    std::string node_id;

    // Total order: millis, then counter, then node id by bytes. (The TS client
    // uses localeCompare for the node id; the servers use byte order, which is
    // locale-independent and so the only order all replicas can agree on.)
    friend std::strong_ordering operator<=>(const Timestamp& a, const Timestamp& b) noexcept {
        if (a.millis != b.millis) return a.millis <=> b.millis;
        if (a.counter != b.counter) return a.counter <=> b.counter;
        const int c = a.node_id.compare(b.node_id);
        return c < 0 ? std::strong_ordering::less : (c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal);
    }
    friend bool operator==(const Timestamp&, const Timestamp&) = default;

    // "millis:counter:nodeId", the form used for OR tags and in hash inputs.
    std::string to_string() const {
        std::string out = std::to_string(millis);
        out += ':';
        out += std::to_string(counter);
        out += ':';
        out += node_id;
        return out;
    }

    // Parses "millis:counter:nodeId"; exactly three parts (a ':' in the node id
    // is rejected, as the TS client does) and a non-empty node id.
    static std::optional<Timestamp> parse(std::string_view s) {
        const auto first = s.find(':');
        if (first == std::string_view::npos) return std::nullopt;
        const auto second = s.find(':', first + 1);
        if (second == std::string_view::npos) return std::nullopt;
        const std::string_view node = s.substr(second + 1);
        if (node.empty() || node.find(':') != std::string_view::npos) return std::nullopt;
        Timestamp ts;
        ts.node_id = std::string(node);
        if (!parse_number(s.substr(0, first), ts.millis) || !parse_number(s.substr(first + 1, second - first - 1), ts.counter)) {
            return std::nullopt;
        }
        return ts;
    }

private:
    template <class N>
    static bool parse_number(std::string_view digits, N& out) {
        if (digits.empty()) return false;
        const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
        return ec == std::errc{} && ptr == digits.data() + digits.size();
    }
};

// Milliseconds since the Unix epoch; injectable so tests control time.
using ClockSource = std::function<std::uint64_t()>;

inline std::uint64_t system_clock_millis() {
    using namespace std::chrono;
    return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

inline bool valid_node_id(std::string_view node_id) noexcept {
    return !node_id.empty() && node_id.find(':') == std::string_view::npos;
}

struct HLCOptions {
    // A remote timestamp further than this ahead of the local wall clock is
    // reported by update().
    std::uint64_t max_drift_ms = 60'000;
    // Strict: a too-far-ahead remote timestamp is not adopted. Lenient (the
    // TS client's default): it is adopted, and still reported.
    bool strict = false;
    ClockSource clock = system_clock_millis;
};

class HLC {
public:
    using Options = HLCOptions;

    enum class UpdateResult { Ok, DriftExceeded };

    // Throws std::invalid_argument for an empty node id or one containing ':'
    // (':' separates the parts of the string form).
    explicit HLC(std::string node_id, Options options = {}) : node_id_(std::move(node_id)), options_(std::move(options)) {
        if (!valid_node_id(node_id_)) throw std::invalid_argument("HLC node id must be non-empty and contain no ':'");
        if (!options_.clock) options_.clock = system_clock_millis;
    }

    const std::string& node_id() const noexcept { return node_id_; }
    const Options& options() const noexcept { return options_; }
    std::uint64_t wall_clock() const { return options_.clock(); }

    // A timestamp for a local event, greater than every timestamp seen before.
    Timestamp now() {
        const std::uint64_t t = options_.clock();
        if (t > last_millis_) {
            last_millis_ = t;
            last_counter_ = 0;
        } else {
            bump(last_counter_);
        }
        return Timestamp{last_millis_, last_counter_, node_id_};
    }

    // Advances the clock past a received timestamp.
    UpdateResult update(const Timestamp& remote) { return update(remote.millis, remote.counter); }
    UpdateResult update(std::uint64_t remote_millis, std::uint32_t remote_counter) {
        const std::uint64_t t = options_.clock();
        const bool drift = remote_millis > t && remote_millis - t > options_.max_drift_ms;
        if (drift && options_.strict) return UpdateResult::DriftExceeded;

        const std::uint64_t m = std::max({last_millis_, t, remote_millis});
        if (m == last_millis_ && m == remote_millis) {
            last_counter_ = std::max(last_counter_, remote_counter);
            bump(last_counter_);
        } else if (m == last_millis_) {
            bump(last_counter_);
        } else if (m == remote_millis) {
            last_millis_ = m;
            last_counter_ = remote_counter;
            bump(last_counter_);
        } else {
            last_millis_ = m;
            last_counter_ = 0;
        }
        return drift ? UpdateResult::DriftExceeded : UpdateResult::Ok;
    }

    // True when a remote timestamp is further ahead than the allowed drift.
    bool exceeds_drift(const Timestamp& remote) const {
        const std::uint64_t t = options_.clock();
        return remote.millis > t && remote.millis - t > options_.max_drift_ms;
    }

    std::uint64_t last_millis() const noexcept { return last_millis_; }
    std::uint32_t last_counter() const noexcept { return last_counter_; }

private:
    // Counter overflow rolls into the next millisecond instead of wrapping.
    void bump(std::uint32_t& counter) {
        if (counter == UINT32_MAX) {
            ++last_millis_;
            counter = 0;
        } else {
            ++counter;
        }
    }

    std::string node_id_;
    Options options_;
    std::uint64_t last_millis_ = 0;
    std::uint32_t last_counter_ = 0;
};

TOPGUN_END_NAMESPACE
