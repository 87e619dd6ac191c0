// The hash functions of the reference TypeScript client, bit for bit:
// FNV-1a over UTF-16 code units, the MurmurHash3 fmix32 "mix", and the
// order-independent "combine" (wrapping sum of mixed hashes).
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/utf8.hpp>

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

    constexpr Fnv1a() noexcept = default;
    // Goes on from `state`, the value() of the input so far: FNV-1a's state is
    // its value, so a hash of "<key>:..." can start from a kept hash of the key.
    constexpr explicit Fnv1a(std::uint32_t state) noexcept : hash_(state) {}

    constexpr Fnv1a& add_unit(std::uint16_t unit) noexcept {
        hash_ = (hash_ ^ unit) * kPrime;
        return *this;
    }

    // Accepts UTF-8 and its WTF-8 superset (lone surrogates encoded in three
    // bytes, which msgpackr writes for JS strings holding one). Invalid bytes
    // hash as U+FFFD, as a JS TextDecoder would read them.
    constexpr Fnv1a& add_utf8(std::string_view s) noexcept {
        detail::for_each_utf16_unit(s, [this](std::uint16_t unit) { add_unit(unit); });
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
