// A bounded MsgPack pull reader: callers decode straight into their own
// structs, so no intermediate object tree is built (msgpack-cxx's object API
// reaches ~0.9 M CLIENT_OP/s on this hardware; the target is >= 2 M).
//
// Errors are sticky: the first failure is recorded with its offset and every
// later read fails fast, so decoders need no exceptions (the core builds for
// WASM without them). Nothing here allocates in proportion to a length the
// input merely claims: every declared length is checked against the bytes
// actually remaining first.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/bit_cast.hpp>
#include <topgun/value.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

TOPGUN_BEGIN_NAMESPACE
namespace msgpack {

enum class Errc : std::uint8_t {
    Ok,
    Truncated,       // input ended inside a value
    InvalidByte,     // 0xC1, never valid MsgPack
    TooDeep,         // container nesting beyond the limit
    TooLarge,        // input beyond the frame limit
    WrongType,       // a value of another kind than the field needs
    OutOfRange,      // a number that does not fit the field, or a fractional integer
    InvalidUtf8,     // a string that is not UTF-8 (WTF-8 surrogates are accepted)
    MissingField,    // a required field is absent
    InvalidValue,    // a well-typed value the field does not allow (unknown enum string...)
    UnknownType,     // a message "type" this protocol does not define
    TrailingBytes,   // bytes after the one top-level value
};

constexpr std::string_view to_string(Errc e) noexcept {
    switch (e) {
        case Errc::Ok: return "ok";
        case Errc::Truncated: return "truncated input";
        case Errc::InvalidByte: return "invalid byte";
        case Errc::TooDeep: return "nesting too deep";
        case Errc::TooLarge: return "input too large";
        case Errc::WrongType: return "wrong type";
        case Errc::OutOfRange: return "number out of range";
        case Errc::InvalidUtf8: return "invalid UTF-8";
        case Errc::MissingField: return "missing required field";
        case Errc::InvalidValue: return "invalid value";
        case Errc::UnknownType: return "unknown message type";
        case Errc::TrailingBytes: return "trailing bytes";
    }
    return "unknown error";
}

struct Error {
    Errc code = Errc::Ok;
    std::size_t offset = 0;
    std::string path;    // field path, e.g. "payload.record.timestamp.millis"
    std::string detail;  // what was expected or found

    explicit operator bool() const noexcept { return code != Errc::Ok; }
    std::string message() const {
        std::string out(to_string(code));
        if (!path.empty()) out += " at " + path;
        if (!detail.empty()) out += ": " + detail;
        out += " (byte " + std::to_string(offset) + ")";
        return out;
    }
};

struct Limits {
    std::size_t max_depth = 256;
    std::size_t max_bytes = 2 * 1024 * 1024;
};

// The kind of the next value, from its first byte.
enum class Kind : std::uint8_t { Nil, Bool, Int, Float, String, Binary, Array, Map, Ext, Invalid, End };

constexpr std::string_view to_string(Kind k) noexcept {
    switch (k) {
        case Kind::Nil: return "nil";
        case Kind::Bool: return "bool";
        case Kind::Int: return "integer";
        case Kind::Float: return "float";
        case Kind::String: return "string";
        case Kind::Binary: return "binary";
        case Kind::Array: return "array";
        case Kind::Map: return "map";
        case Kind::Ext: return "extension";
        case Kind::Invalid: return "invalid byte";
        case Kind::End: return "end of input";
    }
    return "?";
}

namespace detail {

constexpr Kind kind_of(std::uint8_t b) noexcept {
    if (b <= 0x7F || b >= 0xE0) return Kind::Int;
    if (b <= 0x8F) return Kind::Map;
    if (b <= 0x9F) return Kind::Array;
    if (b <= 0xBF) return Kind::String;
    switch (b) {
        case 0xC0: return Kind::Nil;
        case 0xC2:
        case 0xC3: return Kind::Bool;
        case 0xC4:
        case 0xC5:
        case 0xC6: return Kind::Binary;
        case 0xC7:
        case 0xC8:
        case 0xC9:
        case 0xD4:
        case 0xD5:
        case 0xD6:
        case 0xD7:
        case 0xD8: return Kind::Ext;
        case 0xCA:
        case 0xCB: return Kind::Float;
        case 0xCC:
        case 0xCD:
        case 0xCE:
        case 0xCF:
        case 0xD0:
        case 0xD1:
        case 0xD2:
        case 0xD3: return Kind::Int;
        case 0xD9:
        case 0xDA:
        case 0xDB: return Kind::String;
        case 0xDC:
        case 0xDD: return Kind::Array;
        case 0xDE:
        case 0xDF: return Kind::Map;
        default: return Kind::Invalid;  // 0xC1
    }
}

// Validates UTF-8, accepting encoded surrogates (WTF-8) because msgpackr writes a
// JS string's lone surrogate that way; rejects overlong and truncated forms.
inline bool valid_wtf8_tail(const unsigned char* p, const unsigned char* end) noexcept {
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (end - p < 2 || (p[1] & 0xC0) != 0x80) return false;
            p += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return false;
            if (c == 0xE0 && p[1] < 0xA0) return false;  // overlong
            p += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return false;
            if (c == 0xF0 && p[1] < 0x90) return false;  // overlong
            if (c == 0xF4 && p[1] >= 0x90) return false;  // beyond U+10FFFF
            p += 4;
        } else {
            return false;
        }
    }
    return true;
}

inline bool valid_wtf8(const unsigned char* p, std::size_t n) noexcept {
    // Keys, names and ids are nearly always ASCII: one branch-free pass decides.
    unsigned char high = 0;
    for (std::size_t i = 0; i < n; ++i) high |= p[i];
    return high < 0x80 || valid_wtf8_tail(p, p + n);
}

}  // namespace detail

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> data, Limits limits = {}) noexcept
        : begin_(data.data()), p_(data.data()), end_(data.data() + data.size()), limits_(limits) {
        if (data.size() > limits_.max_bytes) {
            fail(Errc::TooLarge, "frame of " + std::to_string(data.size()) + " bytes exceeds the limit of " +
                                     std::to_string(limits_.max_bytes));
        }
    }

    bool ok() const noexcept { return error_.code == Errc::Ok; }
    const Error& error() const noexcept { return error_; }
    Error& error() noexcept { return error_; }
    std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }
    bool at_end() const noexcept { return p_ >= end_; }
    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
    const Limits& limits() const noexcept { return limits_; }

    // Records the first error only; later ones are consequences of it. Kept out
    // of line so the hot read paths stay small.
    [[gnu::noinline, gnu::cold]] bool fail(Errc code, std::string detail = {}) {
        if (error_.code == Errc::Ok) {
            error_.code = code;
            error_.offset = offset();
            error_.detail = std::move(detail);
            p_ = end_;  // stop every further read
        }
        return false;
    }
    [[gnu::noinline, gnu::cold]] bool fail_type(std::string_view expected) {
        return fail(Errc::WrongType, "expected " + std::string(expected) + ", got " + std::string(to_string(peek())));
    }

    Kind peek() const noexcept { return p_ < end_ ? detail::kind_of(*p_) : Kind::End; }
    std::uint8_t peek_byte() const noexcept { return p_ < end_ ? *p_ : 0; }
    // The raw bytes from `from` up to the current position.
    std::span<const std::uint8_t> bytes_since(std::size_t from) const noexcept {
        return {begin_ + from, static_cast<std::size_t>(p_ - begin_) - from};
    }
    // Re-positions at an offset previously read from offset().
    void rewind(std::size_t to) noexcept {
        if (ok()) p_ = begin_ + to;
    }

    // Consumes a nil if one is next.
    bool skip_nil() noexcept {
        if (p_ < end_ && *p_ == 0xC0) {
            ++p_;
            return true;
        }
        return false;
    }

    bool read_bool(bool& out) {
        if (p_ < end_ && (*p_ == 0xC2 || *p_ == 0xC3)) {
            out = *p_++ == 0xC3;
            return true;
        }
        return fail_type("bool");
    }

    // Any MsgPack number read as a JS number would be: integers of every width,
    // and float32/float64. Used by fields typed as numbers.
    bool read_double(double& out) {
        if (p_ >= end_) return fail(Errc::Truncated);
        const std::uint8_t b = *p_;
        if (b == 0xCB) {
            if (!need(9)) return false;
            out = ::topgun::detail::bit_cast<double>(load_be<std::uint64_t>(p_ + 1));
            p_ += 9;
            return true;
        }
        if (b == 0xCA) {
            if (!need(5)) return false;
            out = ::topgun::detail::bit_cast<float>(load_be<std::uint32_t>(p_ + 1));
            p_ += 5;
            return true;
        }
        Integer i;
        if (!read_integer_raw(i, "number")) return false;
        out = i.negative ? static_cast<double>(static_cast<std::int64_t>(i.bits)) : static_cast<double>(i.bits);
        return true;
    }

    // Unsigned integer fields accept any integer encoding or a whole float64 in
    // range: msgpackr writes integers beyond 32 bits (millisecond timestamps)
    // as float64.
    bool read_uint(std::uint64_t& out, std::uint64_t max = UINT64_MAX) {
        if (p_ >= end_) return fail(Errc::Truncated);
        if (*p_ == 0xCB || *p_ == 0xCA) {
            double d;
            if (!read_double(d)) return false;
            if (!(d >= 0) || d != std::floor(d) || d >= 18446744073709551616.0 || static_cast<std::uint64_t>(d) > max) {
                return fail(Errc::OutOfRange, "expected a whole number in 0.." + std::to_string(max));
            }
            out = static_cast<std::uint64_t>(d);
            return true;
        }
        Integer i;
        if (!read_integer_raw(i, "integer")) return false;
        if (i.negative || i.bits > max) {
            return fail(Errc::OutOfRange, "expected a whole number in 0.." + std::to_string(max));
        }
        out = i.bits;
        return true;
    }
    bool read_u32(std::uint32_t& out) {
        std::uint64_t v = 0;
        if (!read_uint(v, UINT32_MAX)) return false;
        out = static_cast<std::uint32_t>(v);
        return true;
    }

    bool read_int(std::int64_t& out) {
        if (p_ >= end_) return fail(Errc::Truncated);
        if (*p_ == 0xCB || *p_ == 0xCA) {
            double d;
            if (!read_double(d)) return false;
            if (d != std::floor(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0) {
                return fail(Errc::OutOfRange, "expected a whole signed 64-bit number");
            }
            out = static_cast<std::int64_t>(d);
            return true;
        }
        Integer i;
        if (!read_integer_raw(i, "integer")) return false;
        if (!i.negative && i.bits > static_cast<std::uint64_t>(INT64_MAX)) {
            return fail(Errc::OutOfRange, "expected a signed 64-bit number");
        }
        out = static_cast<std::int64_t>(i.bits);
        return true;
    }

    // The returned view points into the input buffer.
    bool read_string(std::string_view& out) {
        if (p_ >= end_) return fail(Errc::Truncated);
        const std::uint8_t b = *p_;
        std::size_t len = 0, header = 1;
        if ((b & 0xE0) == 0xA0) {
            len = b & 0x1F;
        } else if (b == 0xD9) {
            if (!need(2)) return false;
            len = p_[1];
            header = 2;
        } else if (b == 0xDA) {
            if (!need(3)) return false;
            len = load_be<std::uint16_t>(p_ + 1);
            header = 3;
        } else if (b == 0xDB) {
            if (!need(5)) return false;
            len = load_be<std::uint32_t>(p_ + 1);
            header = 5;
        } else {
            return fail_type("string");
        }
        if (!need(header + len)) return false;
        const unsigned char* s = p_ + header;
        if (!detail::valid_wtf8(s, len)) return fail(Errc::InvalidUtf8);
        out = std::string_view(reinterpret_cast<const char*>(s), len);
        p_ += header + len;
        return true;
    }
    bool read_string(std::string& out) {
        std::string_view v;
        if (!read_string(v)) return false;
        out.assign(v);
        return true;
    }

    bool read_binary(std::span<const std::uint8_t>& out) {
        if (p_ >= end_) return fail(Errc::Truncated);
        const std::uint8_t b = *p_;
        std::size_t len = 0, header = 0;
        if (b == 0xC4) {
            if (!need(2)) return false;
            len = p_[1];
            header = 2;
        } else if (b == 0xC5) {
            if (!need(3)) return false;
            len = load_be<std::uint16_t>(p_ + 1);
            header = 3;
        } else if (b == 0xC6) {
            if (!need(5)) return false;
            len = load_be<std::uint32_t>(p_ + 1);
            header = 5;
        } else {
            return fail_type("binary");
        }
        if (!need(header + len)) return false;
        out = {p_ + header, len};
        p_ += header + len;
        return true;
    }

    // Container headers. The count is checked against the remaining input
    // (every element takes at least one byte per item), so callers may reserve.
    bool read_array_header(std::uint32_t& count) { return read_container(count, Kind::Array); }
    bool read_map_header(std::uint32_t& count) { return read_container(count, Kind::Map); }

    // Nesting depth bookkeeping for containers the caller descends into.
    bool enter() {
        if (++depth_ > limits_.max_depth) {
            return fail(Errc::TooDeep, "more than " + std::to_string(limits_.max_depth) + " nested containers");
        }
        return true;
    }
    void leave() noexcept { --depth_; }

    // Skips one value of any kind, bounded by the depth limit.
    bool skip() {
        if (p_ >= end_) return fail(Errc::Truncated);
        const std::uint8_t b = *p_;
        switch (detail::kind_of(b)) {
            case Kind::Nil:
            case Kind::Bool: ++p_; return true;
            case Kind::Int: {
                Integer i;
                return read_integer_raw(i, "integer");
            }
            case Kind::Float: return advance(b == 0xCA ? 5 : 9);
            case Kind::String: {
                std::string_view s;
                return read_string(s);
            }
            case Kind::Binary: {
                std::span<const std::uint8_t> s;
                return read_binary(s);
            }
            case Kind::Ext: return skip_ext();
            case Kind::Array:
            case Kind::Map: {
                std::uint32_t n = 0;
                const bool is_map = detail::kind_of(b) == Kind::Map;
                if (!(is_map ? read_map_header(n) : read_array_header(n)) || !enter()) return false;
                const std::uint64_t items = is_map ? 2ULL * n : n;
                for (std::uint64_t i = 0; i < items; ++i) {
                    if (!skip()) return false;
                }
                leave();
                return true;
            }
            case Kind::Invalid: return fail(Errc::InvalidByte, "0xC1 is not valid MsgPack");
            case Kind::End: return fail(Errc::Truncated);
        }
        return false;
    }

    // Reads any value into the dynamic Value. Map keys that are not strings are
    // stringified as JS does for object keys (1 -> "1"); duplicate keys keep the
    // last value, as a JS object would. Extension values (such as msgpackr's
    // Date) have no Value form and read as nil, as the reference server stores them.
    bool read_value(Value& out) {
        if (p_ >= end_) return fail(Errc::Truncated);
        const std::uint8_t b = *p_;
        switch (detail::kind_of(b)) {
            case Kind::Nil: ++p_; out = Value(); return true;
            case Kind::Bool: out = Value(*p_++ == 0xC3); return true;
            case Kind::Int: {
                Integer i;
                if (!read_integer_raw(i, "integer")) return false;
                if (i.negative) {
                    out = Value(static_cast<std::int64_t>(i.bits));
                } else {
                    out = Value(i.bits);
                }
                return true;
            }
            case Kind::Float: {
                double d;
                if (!read_double(d)) return false;
                out = Value(d);
                return true;
            }
            case Kind::String: {
                std::string_view s;
                if (!read_string(s)) return false;
                out = Value(std::string(s));
                return true;
            }
            case Kind::Binary: {
                std::span<const std::uint8_t> s;
                if (!read_binary(s)) return false;
                out = Value(Bytes(s.begin(), s.end()));
                return true;
            }
            case Kind::Ext: out = Value(); return skip_ext();
            case Kind::Array: {
                std::uint32_t n = 0;
                if (!read_array_header(n) || !enter()) return false;
                Value::Array items;
                items.reserve(n);
                for (std::uint32_t i = 0; i < n; ++i) {
                    if (!read_value(items.emplace_back())) return false;
                }
                leave();
                out = Value(std::move(items));
                return true;
            }
            case Kind::Map: {
                std::uint32_t n = 0;
                if (!read_map_header(n) || !enter()) return false;
                out = Value::map();
                Value::Map& members = out.as_map();
                members.reserve(n);  // no reallocation below: the index may view member keys
                // Large maps index their keys so duplicate detection stays linear.
                std::unordered_map<std::string_view, std::size_t> index;
                std::string converted;
                for (std::uint32_t i = 0; i < n; ++i) {
                    std::string_view key;
                    if (peek() == Kind::String) {
                        if (!read_string(key)) return false;
                    } else {
                        if (!read_key(converted)) return false;
                        key = converted;
                    }
                    if (Value* existing = find_member(members, index, key)) {
                        // A repeated key keeps its first position, as in a JS object.
                        if (!read_value(*existing)) return false;
                        continue;
                    }
                    auto& member = members.emplace_back(std::string(key), Value());
                    if (!index.empty() || members.size() > kLinearMemberLimit) {
                        if (index.empty()) {
                            for (std::size_t m = 0; m < members.size(); ++m) index.emplace(members[m].first, m);
                        } else {
                            index.emplace(member.first, members.size() - 1);
                        }
                    }
                    if (!read_value(member.second)) return false;
                }
                leave();
                return true;
            }
            case Kind::Invalid: return fail(Errc::InvalidByte, "0xC1 is not valid MsgPack");
            case Kind::End: return fail(Errc::Truncated);
        }
        return false;
    }

private:
    static constexpr std::size_t kLinearMemberLimit = 16;

    static Value* find_member(Value::Map& members, const std::unordered_map<std::string_view, std::size_t>& index,
                              std::string_view key) {
        if (!index.empty()) {
            const auto it = index.find(key);
            return it == index.end() ? nullptr : &members[it->second].second;
        }
        for (auto& m : members) {
            if (m.first == key) return &m.second;
        }
        return nullptr;
    }

    struct Integer {
        std::uint64_t bits = 0;  // two's complement when negative
        bool negative = false;
    };

    template <class U>
    static U load_be(const std::uint8_t* p) noexcept {
        U v = 0;
        for (std::size_t i = 0; i < sizeof(U); ++i) v = static_cast<U>((v << 8) | p[i]);
        return v;
    }

    bool need(std::size_t n) {
        if (remaining() < n) [[unlikely]] return fail(Errc::Truncated);
        return true;
    }
    bool advance(std::size_t n) {
        if (!need(n)) return false;
        p_ += n;
        return true;
    }

    bool read_integer_raw(Integer& out, std::string_view expected) {
        if (p_ >= end_) return fail(Errc::Truncated);
        const std::uint8_t b = *p_;
        if (b <= 0x7F) {
            out = {b, false};
            ++p_;
            return true;
        }
        if (b >= 0xE0) {
            out = {static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int8_t>(b))), true};
            ++p_;
            return true;
        }
        switch (b) {
            case 0xCC:
                if (!need(2)) return false;
                out = {p_[1], false};
                p_ += 2;
                return true;
            case 0xCD:
                if (!need(3)) return false;
                out = {load_be<std::uint16_t>(p_ + 1), false};
                p_ += 3;
                return true;
            case 0xCE:
                if (!need(5)) return false;
                out = {load_be<std::uint32_t>(p_ + 1), false};
                p_ += 5;
                return true;
            case 0xCF:
                if (!need(9)) return false;
                out = {load_be<std::uint64_t>(p_ + 1), false};
                p_ += 9;
                return true;
            case 0xD0: return read_signed<std::int8_t, std::uint8_t>(out);
            case 0xD1: return read_signed<std::int16_t, std::uint16_t>(out);
            case 0xD2: return read_signed<std::int32_t, std::uint32_t>(out);
            case 0xD3: return read_signed<std::int64_t, std::uint64_t>(out);
            default: return fail_type(expected);
        }
    }

    template <class S, class U>
    bool read_signed(Integer& out) {
        if (!need(1 + sizeof(U))) return false;
        const auto v = static_cast<std::int64_t>(static_cast<S>(load_be<U>(p_ + 1)));
        out = {static_cast<std::uint64_t>(v), v < 0};
        p_ += 1 + sizeof(U);
        return true;
    }

    bool read_container(std::uint32_t& count, Kind kind) {
        if (p_ >= end_) return fail(Errc::Truncated);
        const std::uint8_t b = *p_;
        const bool map = kind == Kind::Map;
        std::size_t header = 1;
        if (map && (b & 0xF0) == 0x80) {
            count = b & 0x0F;
        } else if (!map && (b & 0xF0) == 0x90) {
            count = b & 0x0F;
        } else if (b == (map ? 0xDE : 0xDC)) {
            if (!need(3)) return false;
            count = load_be<std::uint16_t>(p_ + 1);
            header = 3;
        } else if (b == (map ? 0xDF : 0xDD)) {
            if (!need(5)) return false;
            count = load_be<std::uint32_t>(p_ + 1);
            header = 5;
        } else {
            return fail_type(map ? "map" : "array");
        }
        const std::uint64_t min_bytes = static_cast<std::uint64_t>(count) * (map ? 2 : 1);
        if (remaining() - header < min_bytes) {
            return fail(Errc::Truncated, "container claims " + std::to_string(count) + " items");
        }
        p_ += header;
        return true;
    }

    bool read_key(std::string& key) {
        switch (peek()) {
            case Kind::String: return read_string(key);
            case Kind::Int: {
                Integer i;
                if (!read_integer_raw(i, "map key")) return false;
                key = i.negative ? std::to_string(static_cast<std::int64_t>(i.bits)) : std::to_string(i.bits);
                return true;
            }
            case Kind::Nil: ++p_; key = "null"; return true;
            case Kind::Bool: key = *p_++ == 0xC3 ? "true" : "false"; return true;
            default: return fail_type("string or integer map key");
        }
    }

    bool skip_ext() {
        const std::uint8_t b = *p_;
        std::size_t len = 0, header = 2;
        switch (b) {
            case 0xD4: len = 1; break;
            case 0xD5: len = 2; break;
            case 0xD6: len = 4; break;
            case 0xD7: len = 8; break;
            case 0xD8: len = 16; break;
            case 0xC7:
                if (!need(2)) return false;
                len = p_[1];
                header = 3;
                break;
            case 0xC8:
                if (!need(3)) return false;
                len = load_be<std::uint16_t>(p_ + 1);
                header = 4;
                break;
            case 0xC9:
                if (!need(5)) return false;
                len = load_be<std::uint32_t>(p_ + 1);
                header = 6;
                break;
            default: return fail_type("extension");
        }
        return advance(header + len);
    }

    const std::uint8_t* begin_;
    const std::uint8_t* p_;
    const std::uint8_t* end_;
    Limits limits_;
    std::size_t depth_ = 0;
    Error error_;
};

// Decodes exactly one value; trailing bytes are an error.
inline bool decode(std::span<const std::uint8_t> bytes, Value& out, Error& error, Limits limits = {}) {
    Reader r(bytes, limits);
    if (r.ok() && r.read_value(out) && !r.at_end()) r.fail(Errc::TrailingBytes);
    error = r.error();
    return r.ok();
}

}  // namespace msgpack
TOPGUN_END_NAMESPACE
