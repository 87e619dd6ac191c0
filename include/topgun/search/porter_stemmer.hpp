// The Porter stemmer (M. F. Porter, "An algorithm for suffix stripping", 1980),
// written from the published description. It follows the paper's rules
// (step 2 "abli → able"), not the later departures of the reference C code
// ("bli → ble", "logi → log"), so a few rare words stem differently from it.
#pragma once

#include <topgun/config.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

TOPGUN_BEGIN_NAMESPACE
namespace search {

namespace detail {

class PorterStemmer {
public:
    explicit PorterStemmer(std::string& word) noexcept : w_(word) {}

    void run() {
        step1a();
        step1b();
        step1c();
        step2();
        step3();
        step4();
        step5();
    }

private:
    struct Rule {
        std::string_view suffix;
        std::string_view replacement;
    };

    static bool is_vowel_letter(char c) noexcept { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

    // A consonant is a letter other than a e i o u, and other than y after a consonant.
    bool is_consonant(std::size_t i) const noexcept {
        if (is_vowel_letter(w_[i])) return false;
        if (w_[i] != 'y') return true;
        // A run of y's alternates, starting with a consonant at the word's start
        // or after a vowel; counted rather than recursed so no input is too deep.
        std::size_t first = i;
        while (first > 0 && w_[first - 1] == 'y') --first;
        const bool first_is_consonant = first == 0 || is_vowel_letter(w_[first - 1]);
        return ((i - first) % 2 == 0) == first_is_consonant;
    }

    // m in [C](VC)^m[V] over the first `len` letters.
    int measure(std::size_t len) const noexcept {
        int m = 0;
        std::size_t i = 0;
        while (i < len && is_consonant(i)) ++i;
        while (i < len) {
            while (i < len && !is_consonant(i)) ++i;
            if (i == len) break;
            while (i < len && is_consonant(i)) ++i;
            ++m;
        }
        return m;
    }

    bool has_vowel(std::size_t len) const noexcept {
        for (std::size_t i = 0; i < len; ++i) {
            if (!is_consonant(i)) return true;
        }
        return false;
    }

    // *d: the first `len` letters end with a double consonant.
    bool double_consonant(std::size_t len) const noexcept {
        return len >= 2 && w_[len - 1] == w_[len - 2] && is_consonant(len - 1);
    }

    // *o: the first `len` letters end consonant-vowel-consonant, the last not w, x or y.
    bool cvc(std::size_t len) const noexcept {
        if (len < 3 || !is_consonant(len - 1) || is_consonant(len - 2) || !is_consonant(len - 3)) return false;
        const char c = w_[len - 1];
        return c != 'w' && c != 'x' && c != 'y';
    }

    bool ends_with(std::string_view suffix) const noexcept {
        return w_.size() >= suffix.size() && std::string_view(w_).substr(w_.size() - suffix.size()) == suffix;
    }

    // Stem length when the word ends with `suffix`.
    std::size_t stem_len(std::string_view suffix) const noexcept { return w_.size() - suffix.size(); }

    void replace_suffix(std::string_view suffix, std::string_view replacement) {
        w_.resize(stem_len(suffix));
        w_ += replacement;
    }

    // Only the longest matching suffix of a step counts: when its condition
    // fails the step does nothing (the paper's rule).
    template <std::size_t N>
    void apply_longest(const std::array<Rule, N>& rules, int min_measure) {
        const Rule* best = nullptr;
        for (const Rule& r : rules) {
            if ((!best || r.suffix.size() > best->suffix.size()) && ends_with(r.suffix)) best = &r;
        }
        if (best && measure(stem_len(best->suffix)) > min_measure) replace_suffix(best->suffix, best->replacement);
    }

    void step1a() {
        if (ends_with("sses")) {
            replace_suffix("sses", "ss");
        } else if (ends_with("ies")) {
            replace_suffix("ies", "i");
        } else if (ends_with("ss")) {
            // unchanged
        } else if (ends_with("s")) {
            w_.pop_back();
        }
    }

    void step1b() {
        if (ends_with("eed")) {
            if (measure(stem_len("eed")) > 0) w_.pop_back();
            return;
        }
        std::string_view suffix;
        if (ends_with("ed")) {
            suffix = "ed";
        } else if (ends_with("ing")) {
            suffix = "ing";
        } else {
            return;
        }
        if (!has_vowel(stem_len(suffix))) return;
        w_.resize(stem_len(suffix));
        // Tidy the stem so that e.g. "conflat(ed)" and "conflat(e)" meet again.
        if (ends_with("at") || ends_with("bl") || ends_with("iz")) {
            w_ += 'e';
        } else if (double_consonant(w_.size())) {
            const char c = w_.back();
            if (c != 'l' && c != 's' && c != 'z') w_.pop_back();
        } else if (measure(w_.size()) == 1 && cvc(w_.size())) {
            w_ += 'e';
        }
    }

    void step1c() {
        if (ends_with("y") && has_vowel(stem_len("y"))) w_.back() = 'i';
    }

    void step2() {
        static constexpr std::array<Rule, 20> rules = {{
            {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"}, {"anci", "ance"}, {"izer", "ize"},
            {"abli", "able"}, {"alli", "al"}, {"entli", "ent"}, {"eli", "e"}, {"ousli", "ous"},
            {"ization", "ize"}, {"ation", "ate"}, {"ator", "ate"}, {"alism", "al"}, {"iveness", "ive"},
            {"fulness", "ful"}, {"ousness", "ous"}, {"aliti", "al"}, {"iviti", "ive"}, {"biliti", "ble"},
        }};
        apply_longest(rules, 0);
    }

    void step3() {
        static constexpr std::array<Rule, 7> rules = {{
            {"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"}, {"ical", "ic"}, {"ful", ""},
            {"ness", ""},
        }};
        apply_longest(rules, 0);
    }

    void step4() {
        // "ement" precedes "ment" precedes "ent": the longest one decides.
        static constexpr std::array<std::string_view, 19> suffixes = {
            "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment",
            "ent", "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize",
        };
        std::string_view best;
        for (std::string_view s : suffixes) {
            if (s.size() > best.size() && ends_with(s)) best = s;
        }
        if (best.empty()) return;
        const std::size_t len = stem_len(best);
        if (measure(len) <= 1) return;
        if (best == "ion" && (len == 0 || (w_[len - 1] != 's' && w_[len - 1] != 't'))) return;
        w_.resize(len);
    }

    void step5() {
        if (ends_with("e")) {
            const std::size_t len = stem_len("e");
            const int m = measure(len);
            if (m > 1 || (m == 1 && !cvc(len))) w_.pop_back();
        }
        if (measure(w_.size()) > 1 && double_consonant(w_.size()) && w_.back() == 'l') w_.pop_back();
    }

    std::string& w_;
};

}  // namespace detail

// Stems a lower-case ASCII word; anything else (digits, non-ASCII, upper case)
// and words of one or two letters come back unchanged, since the rules are
// defined for English letters only.
// Longer words are returned unchanged: no English word comes close, and the
// measure computations are quadratic in the word length.
inline constexpr std::size_t kMaxStemmedLength = 64;

inline std::string porter_stem(std::string_view word) {
    std::string w(word);
    if (w.size() <= 2 || w.size() > kMaxStemmedLength) return w;
    for (char c : w) {
        if (c < 'a' || c > 'z') return w;
    }
    detail::PorterStemmer(w).run();
    return w;
}

}  // namespace search
TOPGUN_END_NAMESPACE
