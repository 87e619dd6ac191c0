// Exact JavaScript text forms that reference-client hashes are computed over:
// Number.prototype.toString, JSON.stringify string quoting, and the default
// Array.prototype.sort order (UTF-16 code units). Hashes built from these texts
// only match the TS client when every byte matches, hence the care here.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/utf8.hpp>

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

TOPGUN_BEGIN_NAMESPACE
namespace detail {

// The shortest scientific form of a positive finite double that reads back as
// it, "D[.DDD]e±XX", with the digits closest to the exact value, by printf:
// printf rounds correctly, so the first precision whose text reads back as d
// gives those digits (no other string of that length lies closer to d).
inline std::string_view shortest_scientific_by_printf(double d, char (&buf)[40]) {
    int length = 0;
    for (int precision = 0; precision <= 16; ++precision) {
        length = std::snprintf(buf, sizeof buf, "%.*e", precision, d);
        if (std::strtod(buf, nullptr) == d) break;
    }
    return {buf, static_cast<std::size_t>(length)};
}

// The same through to_chars where the library has it for doubles (libc++
// before 15, as in Emscripten 3.1.6, does not).
inline std::string_view shortest_scientific(double d, char (&buf)[40]) {
#if defined(__cpp_lib_to_chars)
    const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    return {buf, static_cast<std::size_t>(res.ptr - buf)};
#else
    return shortest_scientific_by_printf(d, buf);
#endif
}

// Number.prototype.toString(10) of a double (ECMA-262 Number::toString): the
// shortest digits that round-trip, in plain form for decimal exponents -7 < e < 21
// and exponent form ("1e+21", "1.5e-7") outside; -0 prints "0".
inline void append_js_number(std::string& out, double d) {
    if (std::isnan(d)) {
        out += "NaN";
        return;
    }
    if (std::isinf(d)) {
        out += d < 0 ? "-Infinity" : "Infinity";
        return;
    }
    if (d == 0) {
        out += '0';
        return;
    }
    if (d < 0) {
        out += '-';
        d = -d;
    }
    // Shortest round-trip scientific form, "D[.DDD]e±X": the same digits JS picks
    // (shortest, then closest to the exact value).
    char sci[40];
    const std::string_view text = shortest_scientific(d, sci);
    const std::size_t e = text.find('e');
    char digits[24];
    int k = 0;  // digit count
    for (std::size_t i = 0; i < e; ++i) {
        if (text[i] != '.') digits[k++] = text[i];
    }
    std::string_view exp_text = text.substr(e + 1);
    if (!exp_text.empty() && exp_text.front() == '+') exp_text.remove_prefix(1);  // from_chars rejects '+'
    int exp10 = 0;
    std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp10);
    const int n = exp10 + 1;  // the value is 0.DIGITS × 10^n

    const std::string_view ds(digits, static_cast<std::size_t>(k));
    if (k <= n && n <= 21) {
        out += ds;
        out.append(static_cast<std::size_t>(n - k), '0');
    } else if (0 < n && n <= 21) {
        out += ds.substr(0, static_cast<std::size_t>(n));
        out += '.';
        out += ds.substr(static_cast<std::size_t>(n));
    } else if (-6 < n && n <= 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-n), '0');
        out += ds;
    } else {
        out += ds.front();
        if (k > 1) {
            out += '.';
            out += ds.substr(1);
        }
        out += 'e';
        out += n - 1 < 0 ? '-' : '+';
        const int mag = n - 1 < 0 ? 1 - n : n - 1;
        char buf[8];
        const auto r = std::to_chars(buf, buf + sizeof buf, mag);
        out.append(buf, r.ptr);
    }
}

// Integers print as plain decimal. (JS would hold integers beyond 2^53 as
// rounded doubles or BigInts; exact digits are the only form every replica can
// reproduce from an int64/uint64.)
template <std::integral I>
    requires(!std::same_as<I, bool>)
inline void append_js_number(std::string& out, I n) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, r.ptr);
}

// Reads UTF-8 (and WTF-8: lone surrogates in three bytes) as UTF-16 code units,
// with exactly the decoding rules of Fnv1a::add_utf8, so that sorting and
// hashing see the same JS string.
class Utf16Cursor {
public:
    explicit constexpr Utf16Cursor(std::string_view s, std::size_t pos = 0) noexcept : s_(s), i_(pos) {}

    // The next code unit, or nothing at the end.
    constexpr std::optional<std::uint16_t> next() noexcept {
        if (pending_) {
            const std::uint16_t low = pending_;
            pending_ = 0;
            return low;
        }
        if (i_ >= s_.size()) return std::nullopt;
        auto [cp, len] = decode_wtf8(s_, i_);
        i_ += len;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            pending_ = static_cast<std::uint16_t>(0xDC00 + (cp & 0x3FF));
            return static_cast<std::uint16_t>(0xD800 + (cp >> 10));
        }
        return static_cast<std::uint16_t>(cp);
    }

private:
    std::string_view s_;
    std::size_t i_;
    std::uint16_t pending_ = 0;  // low surrogate still to return (never 0 when set)
};

// Three-way comparison in JS default sort order: by UTF-16 code units. UTF-8
// byte order differs for code points >= U+10000 (surrogates D800..DFFF sort
// below U+E000..U+FFFF in UTF-16) and for invalid bytes (read as U+FFFD).
constexpr int utf16_compare(std::string_view a, std::string_view b) noexcept {
    // Skip the common byte prefix, backed up to a byte that starts a decode step:
    // every byte that is not a continuation byte does, so both sides agree there.
    std::size_t p = 0;
    const std::size_t m = a.size() < b.size() ? a.size() : b.size();
    while (p < m && a[p] == b[p]) ++p;
    if (p == a.size() && p == b.size()) return 0;
    auto cont = [](std::string_view s, std::size_t i) {
        return i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80;
    };
    while (p > 0 && (cont(a, p) || cont(b, p))) --p;
    Utf16Cursor x(a, p), y(b, p);
    for (;;) {
        const auto ux = x.next();
        const auto uy = y.next();
        if (!ux || !uy) return ux ? 1 : (uy ? -1 : 0);
        if (*ux != *uy) return *ux < *uy ? -1 : 1;
    }
}

struct Utf16Less {
    constexpr bool operator()(std::string_view a, std::string_view b) const noexcept { return utf16_compare(a, b) < 0; }
};

// JSON.stringify's quoting of a string: the short escapes for \" \\ \b \f \n \r \t,
// \u00xx (lowercase hex) for other controls and \udxxx for lone surrogates
// (well-formed JSON.stringify, ES2019); everything else stays raw UTF-8.
inline void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    auto escape_unit = [&](std::uint32_t unit) {
        out += "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) out += hex[(unit >> shift) & 0xF];
    };
    // A three-byte (WTF-8) surrogate at i: its code unit, else 0.
    auto surrogate_at = [&](std::size_t i) -> std::uint32_t {
        if (i + 2 >= s.size() || static_cast<unsigned char>(s[i]) != 0xED) return 0;
        const auto b1 = static_cast<unsigned char>(s[i + 1]), b2 = static_cast<unsigned char>(s[i + 2]);
        if (b1 < 0xA0 || b1 > 0xBF || (b2 & 0xC0) != 0x80) return 0;
        return 0xD000u | ((b1 & 0x3Fu) << 6) | (b2 & 0x3Fu);
    };
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    escape_unit(c);
                } else if (const std::uint32_t unit = surrogate_at(i)) {
                    // A high surrogate directly followed by a low one is a valid pair in
                    // the JS string and stays raw; any other surrogate is lone.
                    const std::uint32_t after = unit < 0xDC00 ? surrogate_at(i + 3) : 0;
                    if (after >= 0xDC00) {
                        out.append(s.substr(i, 6));
                        i += 6;
                    } else {
                        escape_unit(unit);
                        i += 3;
                    }
                    continue;
                } else {
                    out += static_cast<char>(c);
                }
        }
        ++i;
    }
    out += '"';
}

}  // namespace detail
TOPGUN_END_NAMESPACE
