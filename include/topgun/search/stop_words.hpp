// A built-in list of common English stop words: function words (articles,
// pronouns, auxiliaries, prepositions, conjunctions) that match nearly every
// document and so add cost without telling documents apart.
#pragma once

#include <topgun/config.hpp>

#include <algorithm>
#include <array>
#include <string_view>

TOPGUN_BEGIN_NAMESPACE
namespace search {

// Sorted, lower case, so a lookup is a binary search with no setup.
inline constexpr std::array<std::string_view, 126> english_stop_words = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "could",
    "did", "do", "does", "doing", "down", "during",
    "each",
    "few", "for", "from", "further",
    "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "itself",
    "just",
    "me", "more", "most", "my", "myself",
    "no", "nor", "not", "now",
    "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own",
    "same", "she", "should", "so", "some", "such",
    "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this",
    "those", "through", "to", "too",
    "under", "until", "up",
    "very",
    "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
    "would",
    "you", "your", "yours", "yourself", "yourselves",
};
static_assert(std::is_sorted(english_stop_words.begin(), english_stop_words.end()));

inline bool is_english_stop_word(std::string_view word) noexcept {
    return std::binary_search(english_stop_words.begin(), english_stop_words.end(), word);
}

}  // namespace search
TOPGUN_END_NAMESPACE
