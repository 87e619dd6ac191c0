// The full-text analyser: splits UTF-8 text into lower-case terms, then
// optionally drops English stop words and applies the Porter stemmer.
//
// Token characters are letters and digits: ASCII letters and digits, the
// letters of Latin-1 Supplement and Latin Extended-A (U+00C0–U+017F without
// × and ÷), Greek (U+0370–U+03FF) and Cyrillic (U+0400–U+04FF) letters. Every
// other code point above U+0180 is a token character as well unless it is
// listed as a separator below: classifying all of Unicode needs tables this
// header does not carry, and keeping unknown scripts (CJK, Indic, emoji…)
// searchable beats dropping them. A run of CJK ideographs is therefore one
// token, not one per character.
//
// Separators: ASCII controls, spaces and punctuation; U+0080–U+00BF (C1
// controls, no-break space, Latin-1 punctuation and signs, ª º µ included);
// × ÷; the Greek and Cyrillic signs (U+0374, U+0375, U+037E, U+0384, U+0385,
// U+0387, U+0482); U+1680; General Punctuation U+2000–U+206F (which holds the
// Unicode spaces); Supplemental Punctuation U+2E00–U+2E7F; CJK Symbols and
// Punctuation U+3000–U+303F except 々 〆 〇; U+FEFF; and U+FFFD, which invalid
// UTF-8 decodes to.
//
// Lower-casing covers Latin (Latin-1 and Extended-A with its irregular
// pairings), Greek and Cyrillic; other scripts pass through unchanged. Final
// sigma ς is folded to σ, as Unicode case folding does, so "ΛΟΓΟΣ" and "λόγος"
// differ only by the accent; Greek accents are kept.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/utf8.hpp>
#include <topgun/search/porter_stemmer.hpp>
#include <topgun/search/stop_words.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace search {

struct TokenizerOptions {
    // Bounds on a term's length in code points; shorter and longer words are
    // dropped (not truncated: a cut word would match unrelated words).
    std::size_t min_length = 1;
    std::size_t max_length = 40;
    bool stop_words = false;  // drop english_stop_words
    bool stem = false;        // Porter-stem ASCII words

    // The defaults index like the Rust server's tantivy tokenizer (split,
    // lower-case, nothing else); english() is the TS client's local search
    // analyser (PROTOCOL.md §9.1): lengths 2..40, stop words, stemming.
    static TokenizerOptions english() noexcept { return TokenizerOptions{2, 40, true, true}; }
};

// A term and its word position in the text. Positions count every word the
// text splits into, dropped ones included, so a phrase with a stop word in it
// still lines up with the document.
struct Token {
    std::string term;
    std::uint32_t position = 0;
};

// True when `c` belongs to a token (see the header comment).
inline bool is_token_char(char32_t c) noexcept {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c < 0xC0) return false;
    if (c <= 0x17F) return c != 0xD7 && c != 0xF7;
    if (c >= 0x370 && c <= 0x3FF) {
        return c != 0x374 && c != 0x375 && c != 0x37E && c != 0x384 && c != 0x385 && c != 0x387;
    }
    if (c == 0x482 || c == 0x1680 || c == 0xFEFF || c == 0xFFFD) return false;
    if (c >= 0x2000 && c <= 0x206F) return false;
    if (c >= 0x2E00 && c <= 0x2E7F) return false;
    if (c >= 0x3000 && c <= 0x303F) return c >= 0x3005 && c <= 0x3007;
    return true;
}

// Simple (one code point to one) lower-case mapping for Latin, Greek and Cyrillic.
inline char32_t to_lower(char32_t c) noexcept {
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 0x20 : c;
    if (c < 0x100) return c >= 0xC0 && c <= 0xDE && c != 0xD7 ? c + 0x20 : c;
    if (c < 0x180) {
        // Latin Extended-A pairs upper/lower as even/odd, except where ĸ and ŉ
        // (lower case without a partner) shift the pairing to odd/even.
        if (c == 0x130) return 'i';   // İ: the simple mapping drops the dot
        if (c == 0x178) return 0xFF;  // Ÿ → ÿ
        if ((c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c % 2 == 0 ? c + 1 : c;
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 1 ? c + 1 : c;
        return c;  // ĸ ŉ ſ
    }
    if (c >= 0x370 && c <= 0x3FF) {
        if (c >= 0x391 && c <= 0x3AB) return c + 0x20;  // Α–Ω, Ϊ Ϋ
        if (c == 0x3C2) return 0x3C3;                   // ς folds to σ
        if (c == 0x386) return 0x3AC;
        if (c >= 0x388 && c <= 0x38A) return c + 0x25;
        if (c == 0x38C) return 0x3CC;
        if (c == 0x38E || c == 0x38F) return c + 0x3F;
        if (c == 0x370 || c == 0x372 || c == 0x376 || (c >= 0x3D8 && c <= 0x3EE && c % 2 == 0)) return c + 1;
        if (c == 0x37F) return 0x3F3;
        if (c == 0x3CF) return 0x3D7;
        if (c == 0x3F4) return 0x3B8;
        if (c == 0x3F7 || c == 0x3FA) return c + 1;
        if (c == 0x3F9) return 0x3F2;
        if (c >= 0x3FD) return c - 0x82;  // Ͻ Ͼ Ͽ → ͻ ͼ ͽ
        return c;
    }
    if (c >= 0x400 && c <= 0x4FF) {
        if (c <= 0x40F) return c + 0x50;  // Ѐ–Џ
        if (c <= 0x42F) return c + 0x20;  // А–Я
        if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || c >= 0x4D0) return c % 2 == 0 ? c + 1 : c;
        if (c == 0x4C0) return 0x4CF;  // Ӏ
        if (c >= 0x4C1 && c <= 0x4CE) return c % 2 == 1 ? c + 1 : c;
        return c;
    }
    return c;
}

namespace detail {

inline void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

// Calls fn(word, code_points) for each lower-cased word of `text`.
template <class Fn>
void for_each_word(std::string_view text, Fn&& fn) {
    std::string word;
    std::size_t length = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto [c, len] = topgun::detail::decode_utf8(text, pos);
        pos += len;
        if (is_token_char(c)) {
            append_utf8(word, to_lower(c));
            ++length;
        } else if (!word.empty()) {
            fn(word, length);
            word.clear();
            length = 0;
        }
    }
    if (!word.empty()) fn(word, length);
}

}  // namespace detail

class Tokenizer {
public:
    Tokenizer() = default;
    explicit Tokenizer(TokenizerOptions options) noexcept : options_(options) {}

    const TokenizerOptions& options() const noexcept { return options_; }

    std::vector<std::string> tokenize(std::string_view text) const {
        std::vector<std::string> out;
        detail::for_each_word(text, [&](std::string& word, std::size_t length) {
            if (auto term = analyze(word, length)) out.push_back(std::move(*term));
        });
        return out;
    }

    std::vector<Token> tokenize_with_positions(std::string_view text) const {
        std::vector<Token> out;
        std::uint32_t position = 0;
        detail::for_each_word(text, [&](std::string& word, std::size_t length) {
            if (auto term = analyze(word, length)) out.push_back(Token{std::move(*term), position});
            ++position;
        });
        return out;
    }

    // The lower-cased words alone, with no length, stop-word or stemming
    // filter: prefix queries match the raw beginning of a word.
    static std::vector<std::string> split(std::string_view text) {
        std::vector<std::string> out;
        detail::for_each_word(text, [&](std::string& word, std::size_t) { out.push_back(word); });
        return out;
    }

    // The term one split word becomes, or nullopt when a filter drops it.
    std::optional<std::string> analyze(std::string_view word) const {
        std::size_t length = 0;
        for (char ch : word) length += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
        return analyze(word, length);
    }

private:
    std::optional<std::string> analyze(std::string_view word, std::size_t length) const {
        if (length < options_.min_length || length > options_.max_length) return std::nullopt;
        if (options_.stop_words && is_english_stop_word(word)) return std::nullopt;
        if (options_.stem) return porter_stem(word);
        return std::string(word);
    }

    TokenizerOptions options_;
};

}  // namespace search
TOPGUN_END_NAMESPACE
