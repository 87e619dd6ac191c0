// MsgPack writer producing exactly the bytes the reference TS encoder (msgpackr
// 1.11 `pack`, default options) writes for the same JS values.
//
// Hand-written rather than msgpack-cxx: msgpackr's choices (map16 for every
// object, numbers encoded as JS numbers: 32-bit ints minimal, everything else
// float64) are not msgpack-cxx's, and the encode target (>= 4 M CLIENT_OP/s)
// needs a writer that appends straight into one growing buffer.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/bit_cast.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

TOPGUN_BEGIN_NAMESPACE
namespace msgpack {

class Writer {
public:
    Writer() = default;
    explicit Writer(std::size_t reserve) { buf_.resize(reserve); }

    // The bytes written so far.
    std::span<const std::uint8_t> bytes() const noexcept { return {buf_.data(), size_}; }
    Bytes take() noexcept {
        buf_.resize(size_);
        size_ = 0;
        return std::move(buf_);
    }
    std::size_t size() const noexcept { return size_; }
    void clear() noexcept { size_ = 0; }

    void nil() { put(0xC0); }
    void boolean(bool b) { put(b ? 0xC3 : 0xC2); }

    // Integers as a JS number: 32-bit values minimal, others float64 while
    // exactly representable (|n| <= 2^53), beyond that int64/uint64 as msgpackr
    // writes a BigInt.
    void number(std::int64_t n) {
        if (n >= 0) return number(static_cast<std::uint64_t>(n));
        if (n >= -32) return put(static_cast<std::uint8_t>(n));
        if (n >= -128) return put2(0xD0, static_cast<std::uint8_t>(n));
        if (n >= -32768) return put_be(0xD1, static_cast<std::uint16_t>(n));
        if (n >= -2147483648LL) return put_be(0xD2, static_cast<std::uint32_t>(n));
        if (n >= -(1LL << 53)) return put_be(0xCB, ::topgun::detail::bit_cast<std::uint64_t>(static_cast<double>(n)));
        put_be(0xD3, static_cast<std::uint64_t>(n));
    }
    void number(std::uint64_t n) {
        if (n < 128) return put(static_cast<std::uint8_t>(n));
        if (n < 0x100) return put2(0xCC, static_cast<std::uint8_t>(n));
        if (n < 0x10000) return put_be(0xCD, static_cast<std::uint16_t>(n));
        if (n < 0x100000000ULL) return put_be(0xCE, static_cast<std::uint32_t>(n));
        if (n <= (1ULL << 53)) return put_be(0xCB, ::topgun::detail::bit_cast<std::uint64_t>(static_cast<double>(n)));
        if (n <= static_cast<std::uint64_t>(INT64_MAX)) return put_be(0xD3, n);
        put_be(0xCF, n);
    }
    void number(std::uint32_t n) { number(static_cast<std::uint64_t>(n)); }
    void number(std::int32_t n) { number(static_cast<std::int64_t>(n)); }
    // A double that is a whole 32-bit number is written as an integer (JS cannot
    // tell 1.0 from 1); -0 becomes 0 as in msgpackr.
    void number(double d) {
        if (d >= -2147483648.0 && d <= 4294967295.0 && d == std::floor(d)) {
            if (d >= 0) return number(static_cast<std::uint64_t>(d));
            return number(static_cast<std::int64_t>(d));
        }
        put_be(0xCB, ::topgun::detail::bit_cast<std::uint64_t>(d));
    }

    void string(std::string_view s) {
        const std::size_t n = s.size();
        if (n < 32) {
            put(static_cast<std::uint8_t>(0xA0 | n));
        } else if (n < 0x100) {
            put2(0xD9, static_cast<std::uint8_t>(n));
        } else if (n < 0x10000) {
            put_be(0xDA, static_cast<std::uint16_t>(n));
        } else {
            put_be(0xDB, static_cast<std::uint32_t>(n));
        }
        append(s.data(), n);
    }

    void binary(std::span<const std::uint8_t> b) {
        const std::size_t n = b.size();
        if (n < 0x100) {
            put2(0xC4, static_cast<std::uint8_t>(n));
        } else if (n < 0x10000) {
            put_be(0xC5, static_cast<std::uint16_t>(n));
        } else {
            put_be(0xC6, static_cast<std::uint32_t>(n));
        }
        append(b.data(), n);
    }

    void array_header(std::size_t n) {
        if (n < 16) {
            put(static_cast<std::uint8_t>(0x90 | n));
        } else if (n < 0x10000) {
            put_be(0xDC, static_cast<std::uint16_t>(n));
        } else {
            put_be(0xDD, static_cast<std::uint32_t>(n));
        }
    }

    // msgpackr writes every plain object as map16, whatever its size.
    void map_header(std::size_t n) {
        if (n < 0x10000) {
            put_be(0xDE, static_cast<std::uint16_t>(n));
        } else {
            put_be(0xDF, static_cast<std::uint32_t>(n));
        }
    }

    // Opens a map whose size is not known yet; end_map() patches the count.
    std::size_t begin_map() {
        put_be(0xDE, std::uint16_t{0});
        return size_ - 2;
    }
    void end_map(std::size_t at, std::size_t count) {
        // Objects with more than 65535 members are outside any message shape.
        buf_[at] = static_cast<std::uint8_t>(count >> 8);
        buf_[at + 1] = static_cast<std::uint8_t>(count);
    }

    void value(const Value& v) {
        switch (v.type()) {
            case Value::Type::Nil: return nil();
            case Value::Type::Bool: return boolean(v.as_bool());
            case Value::Type::Int: return number(v.as_int());
            case Value::Type::UInt: return number(v.as_uint());
            case Value::Type::Double: return number(v.as_double());
            case Value::Type::String: return string(v.as_string());
            case Value::Type::Binary: return binary(v.as_binary());
            case Value::Type::Array:
                array_header(v.as_array().size());
                for (const Value& item : v.as_array()) value(item);
                return;
            case Value::Type::Map:
                map_header(v.as_map().size());
                for (const auto& [key, item] : v.as_map()) {
                    string(key);
                    value(item);
                }
                return;
        }
    }

    void raw(std::span<const std::uint8_t> bytes) { append(bytes.data(), bytes.size()); }

private:
    void put(std::uint8_t b) { *room(1) = b; }
    void put2(std::uint8_t a, std::uint8_t b) {
        const std::uint8_t two[2] = {a, b};
        append(two, 2);
    }
    template <class U>
    void put_be(std::uint8_t tag, U v) {
        std::uint8_t out[1 + sizeof(U)];
        out[0] = tag;
        for (std::size_t i = 0; i < sizeof(U); ++i) {
            out[1 + i] = static_cast<std::uint8_t>(v >> (8 * (sizeof(U) - 1 - i)));
        }
        append(out, sizeof(out));
    }
    void append(const void* data, std::size_t n) {
        if (n != 0) std::memcpy(room(n), data, n);
    }
    // Space for n more bytes. The buffer is kept larger than what was written
    // (size_), so most writes are a bounds check and a store.
    // The check inlines into every write; growing, rare, stays out of line.
    std::uint8_t* room(std::size_t n) {
        if (buf_.size() - size_ < n) [[unlikely]]
            grow(n);
        std::uint8_t* at = buf_.data() + size_;
        size_ += n;
        return at;
    }
    [[gnu::noinline]] void grow(std::size_t n) { buf_.resize(std::max(buf_.size() * 2, size_ + n)); }

    Bytes buf_;
    std::size_t size_ = 0;
};

inline Bytes encode(const Value& v) {
    Writer w;
    w.value(v);
    return w.take();
}

}  // namespace msgpack
TOPGUN_END_NAMESPACE
