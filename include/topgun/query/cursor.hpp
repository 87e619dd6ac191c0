// Opaque keyset cursors (PROTOCOL.md §8.3): the sort slots and record key of
// the last row of a page, plus a hash of the query shape so that a cursor is
// only honoured by the query it came from. Rows strictly after the cursor in
// the SortOrder form the next page, so rows written between pages are neither
// repeated nor skipped (unless they sort before the cursor).
//
// Format (any opaque format is allowed; the reference's is process-local too):
// base64url without padding of  msgpack [1, shape(bin8), key, [slot…]]  followed
// by an 8-byte FNV-1a 64 checksum of those bytes, so a damaged or edited
// cursor is reported invalid instead of silently starting somewhere else. The
// checksum is not a MAC: clients can forge cursors, which only moves their own
// page start. There is no expiry: the core has no clock.
#pragma once

#include <topgun/config.hpp>
#include <topgun/msgpack/reader.hpp>
#include <topgun/msgpack/writer.hpp>
#include <topgun/protocol/fields.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

namespace detail {

inline std::uint64_t fnv1a64(std::span<const std::uint8_t> bytes) noexcept {
    std::uint64_t h = 0xCBF29CE484222325ULL;
    for (std::uint8_t b : bytes) {
        h ^= b;
        h *= 0x100000001B3ULL;
    }
    return h;
}

inline constexpr std::string_view base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

inline std::string base64url_encode(std::span<const std::uint8_t> in) {
    std::string out;
    out.reserve((in.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const std::uint32_t n = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8 | in[i + 2];
        for (int s = 18; s >= 0; s -= 6) out.push_back(base64url_alphabet[(n >> s) & 63]);
    }
    const std::size_t rest = in.size() - i;
    if (rest == 1) {
        const std::uint32_t n = std::uint32_t{in[i]} << 16;
        out.push_back(base64url_alphabet[(n >> 18) & 63]);
        out.push_back(base64url_alphabet[(n >> 12) & 63]);
    } else if (rest == 2) {
        const std::uint32_t n = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8;
        out.push_back(base64url_alphabet[(n >> 18) & 63]);
        out.push_back(base64url_alphabet[(n >> 12) & 63]);
        out.push_back(base64url_alphabet[(n >> 6) & 63]);
    }
    return out;
}

// Strict: no padding, no foreign characters, zero unused bits.
inline std::optional<Bytes> base64url_decode(std::string_view in) {
    if (in.size() % 4 == 1) return std::nullopt;
    Bytes out;
    out.reserve(in.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const std::size_t d = base64url_alphabet.find(c);
        if (d == std::string_view::npos) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(d);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>(acc >> bits));
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) return std::nullopt;
    return out;
}

}  // namespace detail

// The parts of a query that decide row order and membership: predicate (or
// where, canonically sorted by field), sort keys (either wire form), groupBy
// and aggregations. Limit and projection may change between pages.
inline std::uint64_t query_shape_hash(const protocol::Query& q) {
    msgpack::Writer w;
    w.array_header(5);
    if (q.predicate) {
        protocol::encode_field(w, *q.predicate);
    } else {
        w.nil();
    }
    if (q.where && !q.predicate) {
        std::vector<const std::pair<std::string, Value>*> members;
        for (const auto& m : *q.where) members.push_back(&m);
        std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
        w.map_header(members.size());
        for (const auto* m : members) {
            w.string(m->first);
            w.value(m->second);
        }
    } else {
        w.nil();
    }
    if (q.sort) {
        protocol::encode_field(w, q.sort->keys);
    } else {
        w.nil();
    }
    if (q.group_by) {
        protocol::encode_field(w, *q.group_by);
    } else {
        w.nil();
    }
    if (q.aggregations) {
        protocol::encode_field(w, *q.aggregations);
    } else {
        w.nil();
    }
    return detail::fnv1a64(w.bytes());
}

struct Cursor {
    std::uint64_t shape = 0;
    std::string key;           // record key of the last row
    std::vector<Value> slots;  // one per sort key; nil for missing/nil fields and "_key"

    // The slots as SortOrder::compare takes them.
    std::vector<const Value*> slot_pointers() const {
        std::vector<const Value*> out;
        out.reserve(slots.size());
        for (const Value& v : slots) out.push_back(v.is_nil() ? nullptr : &v);
        return out;
    }

    std::string encode() const {
        msgpack::Writer w;
        w.array_header(4);
        w.number(std::uint64_t{1});
        std::array<std::uint8_t, 8> shape_bytes{};
        for (std::size_t i = 0; i < 8; ++i) shape_bytes[i] = static_cast<std::uint8_t>(shape >> (56 - 8 * i));
        w.binary(shape_bytes);
        w.string(key);
        w.array_header(slots.size());
        for (const Value& v : slots) w.value(v);
        const std::uint64_t sum = detail::fnv1a64(w.bytes());
        for (std::size_t i = 0; i < 8; ++i) shape_bytes[i] = static_cast<std::uint8_t>(sum >> (56 - 8 * i));
        w.raw(shape_bytes);
        return detail::base64url_encode(w.bytes());
    }

    // nullopt for anything that is not a well-formed, intact cursor.
    static std::optional<Cursor> decode(std::string_view text) {
        const auto bytes = detail::base64url_decode(text);
        if (!bytes || bytes->size() < 9) return std::nullopt;
        const std::span<const std::uint8_t> all(*bytes);
        const auto body = all.first(all.size() - 8);
        std::uint64_t sum = 0;
        for (std::uint8_t b : all.last(8)) sum = sum << 8 | b;
        if (sum != detail::fnv1a64(body)) return std::nullopt;

        msgpack::Reader r(body);
        std::uint32_t n = 0;
        std::uint64_t version = 0;
        std::span<const std::uint8_t> shape;
        Cursor c;
        if (!r.read_array_header(n) || n != 4 || !r.read_uint(version) || version != 1) return std::nullopt;
        if (!r.read_binary(shape) || shape.size() != 8 || !r.read_string(c.key)) return std::nullopt;
        for (std::uint8_t b : shape) c.shape = c.shape << 8 | b;
        if (!r.read_array_header(n)) return std::nullopt;
        c.slots.resize(n);
        for (Value& v : c.slots) {
            if (!r.read_value(v)) return std::nullopt;
        }
        if (!r.ok() || !r.at_end()) return std::nullopt;
        return c;
    }
};

}  // namespace query
TOPGUN_END_NAMESPACE
