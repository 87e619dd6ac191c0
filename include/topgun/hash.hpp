// The hash functions of the reference TypeScript client, bit for bit:
// FNV-1a over UTF-16 code units, the MurmurHash3 fmix32 "mix", and the
// order-independent "combine" (wrapping sum of mixed hashes).
#pragma once

#include <topgun/config.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

TOPGUN_BEGIN_NAMESPACE

// Incremental FNV-1a over the UTF-16 code units of UTF-8 input. JS strings are
// UTF-16, so hashing UTF-8 bytes would disagree for every non-ASCII key.
class Fnv1a {
public:
    static constexpr std::uint32_t kOffsetBasis = 0x811C9DC5u;
    static constexpr std::uint32_t kPrime = 0x01000193u;

    constexpr Fnv1a& add_unit(std::uint16_t unit) noexcept {
        hash_ = (hash_ ^ unit) * kPrime;
        return *this;
    }

    // Accepts UTF-8 and its WTF-8 superset (lone surrogates encoded in three
    // bytes, which msgpackr writes for JS strings holding one). Invalid bytes
    // hash as U+FFFD, as a JS TextDecoder would read them.
    constexpr Fnv1a& add_utf8(std::string_view s) noexcept {
        const std::size_t n = s.size();
        std::size_t i = 0;
        auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[k])); };
        auto cont = [&](std::size_t k) { return k < n && (byte(k) & 0xC0) == 0x80; };
        while (i < n) {
            const std::uint32_t c = byte(i);
            if (c < 0x80) {
                add_unit(static_cast<std::uint16_t>(c));
                ++i;
                continue;
            }
            std::uint32_t cp = 0xFFFD;
            std::size_t len = 1;
            if ((c & 0xE0) == 0xC0 && c >= 0xC2 && cont(i + 1)) {
                cp = ((c & 0x1Fu) << 6) | (byte(i + 1) & 0x3Fu);
                len = 2;
            } else if ((c & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
                const std::uint32_t v = ((c & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) | (byte(i + 2) & 0x3Fu);
                if (v >= 0x800) {
                    cp = v;
                    len = 3;
                }
            } else if ((c & 0xF8) == 0xF0 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
                const std::uint32_t v = ((c & 0x07u) << 18) | ((byte(i + 1) & 0x3Fu) << 12) |
                                        ((byte(i + 2) & 0x3Fu) << 6) | (byte(i + 3) & 0x3Fu);
                if (v >= 0x10000 && v <= 0x10FFFF) {
                    cp = v;
                    len = 4;
                }
            }
            if (cp >= 0x10000) {
                cp -= 0x10000;
                add_unit(static_cast<std::uint16_t>(0xD800 + (cp >> 10)));
                add_unit(static_cast<std::uint16_t>(0xDC00 + (cp & 0x3FF)));
            } else {
                add_unit(static_cast<std::uint16_t>(cp));
            }
            i += len;
        }
        return *this;
    }

    constexpr Fnv1a& add_char(char c) noexcept { return add_unit(static_cast<unsigned char>(c)); }

    // Appends the decimal digits of n, as JS template literals print integers.
    constexpr Fnv1a& add_decimal(std::uint64_t n) noexcept {
        char digits[20] = {};
        int count = 0;
        do {
            digits[count++] = static_cast<char>('0' + n % 10);
            n /= 10;
        } while (n != 0);
        while (count > 0) add_char(digits[--count]);
        return *this;
    }

    constexpr std::uint32_t value() const noexcept { return hash_; }

private:
    std::uint32_t hash_ = kOffsetBasis;
};

constexpr std::uint32_t fnv1a(std::string_view utf8) noexcept { return Fnv1a{}.add_utf8(utf8).value(); }

// MurmurHash3 fmix32. mix(0) == 0 keeps zero the identity of combine().
constexpr std::uint32_t mix(std::uint32_t h) noexcept {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

// Order-independent combination: the wrapping sum of mix(h). Being a sum, it can
// be updated in O(1) when one input changes: subtract mix(old), add mix(new).
template <class Range>
constexpr std::uint32_t combine(const Range& hashes) noexcept {
    std::uint32_t sum = 0;
    for (std::uint32_t h : hashes) sum += mix(h);
    return sum;
}
constexpr std::uint32_t combine(std::initializer_list<std::uint32_t> hashes) noexcept {
    std::uint32_t sum = 0;
    for (std::uint32_t h : hashes) sum += mix(h);
    return sum;
}

TOPGUN_END_NAMESPACE
