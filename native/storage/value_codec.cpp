// Exact MsgPack encoding of stored values (see value_codec.hpp).
#include "storage/value_codec.hpp"

#include <topgun/msgpack/reader.hpp>

#include <bit>
#include <cstring>
#include <limits>

namespace topgun::storage {
namespace {

// A tag byte and a big-endian 64-bit payload.
void put_tagged64(msgpack::Writer& out, std::uint8_t tag, std::uint64_t bits) {
    std::uint8_t buf[9];
    buf[0] = tag;
    for (int i = 0; i < 8; ++i) buf[1 + i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
    out.raw(buf);
}

void encode_at(msgpack::Writer& out, const Value& v, std::size_t depth) {
    switch (v.type()) {
        case Value::Type::Nil: return out.nil();
        case Value::Type::Bool: return out.boolean(v.as_bool());
        case Value::Type::Int: {
            // The wire writer keeps 32-bit integers in integer formats (minimal);
            // beyond that it would write a float64, so int64 is spelled out here.
            const std::int64_t n = v.as_int();
            if (n >= std::numeric_limits<std::int32_t>::min() && n <= std::numeric_limits<std::uint32_t>::max()) {
                return out.number(n);
            }
            return put_tagged64(out, 0xD3, static_cast<std::uint64_t>(n));
        }
        case Value::Type::UInt: return put_tagged64(out, 0xCF, v.as_uint());  // always above INT64_MAX
        case Value::Type::Double: return put_tagged64(out, 0xCB, std::bit_cast<std::uint64_t>(v.as_double()));
        case Value::Type::String: return out.string(v.as_string());
        case Value::Type::Binary: return out.binary(v.as_binary());
        case Value::Type::Array:
            if (depth >= kMaxValueDepth) break;
            out.array_header(v.as_array().size());
            for (const Value& item : v.as_array()) encode_at(out, item, depth + 1);
            return;
        case Value::Type::Map:
            if (depth >= kMaxValueDepth) break;
            out.map_header(v.as_map().size());
            for (const auto& [key, item] : v.as_map()) {
                out.string(key);
                encode_at(out, item, depth + 1);
            }
            return;
    }
    throw StoreError(StoreError::Kind::Rejected,
                     "value nested deeper than " + std::to_string(kMaxValueDepth) + " containers cannot be stored");
}

bool storable_at(const Value& v, std::size_t depth) noexcept {
    if (v.is_array()) {
        if (depth >= kMaxValueDepth) return false;
        for (const Value& item : v.as_array()) {
            if (!storable_at(item, depth + 1)) return false;
        }
    } else if (v.is_map()) {
        if (depth >= kMaxValueDepth) return false;
        for (const auto& member : v.as_map()) {
            if (!storable_at(member.second, depth + 1)) return false;
        }
    }
    return true;
}

}  // namespace

void encode_value(msgpack::Writer& out, const Value& v) { encode_at(out, v, 0); }

Bytes encode_value(const Value& v) {
    msgpack::Writer out;
    encode_value(out, v);
    return out.take();
}

bool storable(const Value& v) noexcept { return storable_at(v, 0); }

bool decode_value(std::span<const std::uint8_t> bytes, Value& out, std::string& error) {
    // A stored blob may be larger than a wire frame; the depth limit is the
    // encoder's, so whatever was stored decodes.
    msgpack::Limits limits;
    limits.max_depth = kMaxValueDepth;
    limits.max_bytes = std::numeric_limits<std::size_t>::max();
    msgpack::Error e;
    if (!msgpack::decode(bytes, out, e, limits)) {
        error = e.message();
        return false;
    }
    return true;
}

bool identical(const Value& a, const Value& b) noexcept {
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case Value::Type::Nil: return true;
        case Value::Type::Bool: return a.as_bool() == b.as_bool();
        case Value::Type::Int: return a.as_int() == b.as_int();
        case Value::Type::UInt: return a.as_uint() == b.as_uint();
        case Value::Type::Double:
            return std::bit_cast<std::uint64_t>(a.as_double()) == std::bit_cast<std::uint64_t>(b.as_double());
        case Value::Type::String: return a.as_string() == b.as_string();
        case Value::Type::Binary: return a.as_binary() == b.as_binary();
        case Value::Type::Array: {
            const auto& x = a.as_array();
            const auto& y = b.as_array();
            if (x.size() != y.size()) return false;
            for (std::size_t i = 0; i < x.size(); ++i) {
                if (!identical(x[i], y[i])) return false;
            }
            return true;
        }
        case Value::Type::Map: {
            const auto& x = a.as_map();
            const auto& y = b.as_map();
            if (x.size() != y.size()) return false;
            for (std::size_t i = 0; i < x.size(); ++i) {
                if (x[i].first != y[i].first || !identical(x[i].second, y[i].second)) return false;
            }
            return true;
        }
    }
    return false;
}

}  // namespace topgun::storage
