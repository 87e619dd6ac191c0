// The one UTF-8 decoder of the core. Hashing and JS string ordering read text
// as the reference client's JS strings hold it (UTF-16 units, lone surrogates
// kept, as msgpackr writes them in WTF-8); regex matching and tokenizing read
// code points, where a surrogate is not a character.
#pragma once

#include <topgun/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

TOPGUN_BEGIN_NAMESPACE
namespace detail {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes one WTF-8 sequence at `pos` (pos < s.size()): {code point, bytes}.
// Encoded surrogates are returned as such; an invalid, overlong or truncated
// sequence yields U+FFFD for its first byte, as a JS TextDecoder reads it.
constexpr std::pair<char32_t, std::size_t> decode_wtf8(std::string_view s, std::size_t pos) noexcept {
    const auto byte = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[k])); };
    const auto cont = [&](std::size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
    const char32_t c = byte(pos);
    if (c < 0x80) return {c, 1};
    if ((c & 0xE0) == 0xC0 && c >= 0xC2 && cont(pos + 1)) return {((c & 0x1Fu) << 6) | (byte(pos + 1) & 0x3Fu), 2};
    if ((c & 0xF0) == 0xE0 && cont(pos + 1) && cont(pos + 2)) {
        const char32_t v = ((c & 0x0Fu) << 12) | ((byte(pos + 1) & 0x3Fu) << 6) | (byte(pos + 2) & 0x3Fu);
        if (v >= 0x800) return {v, 3};
    } else if ((c & 0xF8) == 0xF0 && cont(pos + 1) && cont(pos + 2) && cont(pos + 3)) {
        const char32_t v = ((c & 0x07u) << 18) | ((byte(pos + 1) & 0x3Fu) << 12) | ((byte(pos + 2) & 0x3Fu) << 6) |
                           (byte(pos + 3) & 0x3Fu);
        if (v >= 0x10000 && v <= 0x10FFFF) return {v, 4};
    }
    return {kReplacementChar, 1};
}

inline constexpr char32_t kNoChar = 0xFFFFFFFF;  // before the start or past the end of the text

// Decodes one code point at `pos`: {kNoChar, 0} at the end; an encoded
// surrogate is not a character and reads as U+FFFD for one byte, like any other
// invalid byte, so every input makes progress.
constexpr std::pair<char32_t, std::size_t> decode_utf8(std::string_view s, std::size_t pos) noexcept {
    if (pos >= s.size()) return {kNoChar, 0};
    const auto [cp, len] = decode_wtf8(s, pos);
    if (cp >= 0xD800 && cp <= 0xDFFF) return {kReplacementChar, 1};
    return {cp, len};
}

// Calls unit(u) for each UTF-16 code unit of the text a JS string would hold.
template <class Unit>
constexpr void for_each_utf16_unit(std::string_view s, Unit&& unit) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {  // the common case, without the decoder
            unit(static_cast<std::uint16_t>(c));
            ++i;
            continue;
        }
        auto [cp, len] = decode_wtf8(s, i);
        i += len;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            unit(static_cast<std::uint16_t>(0xD800 + (cp >> 10)));
            unit(static_cast<std::uint16_t>(0xDC00 + (cp & 0x3FF)));
        } else {
            unit(static_cast<std::uint16_t>(cp));
        }
    }
}

}  // namespace detail
TOPGUN_END_NAMESPACE
