// Bounded Levenshtein distance over code points, for fuzzy term expansion.
#pragma once

#include <topgun/config.hpp>

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace search {

namespace detail {

template <class Char>
std::size_t banded_edit_distance(std::basic_string_view<Char> a, std::basic_string_view<Char> b, std::size_t max_edits,
                                 std::vector<std::size_t>& scratch) {
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    const std::size_t over = max_edits + 1;
    if ((n > m ? n - m : m - n) > max_edits) return over;
    // Cells outside the band hold `over`, which no path through them can beat.
    scratch.assign(2 * (m + 1), over);
    std::size_t* prev = scratch.data();
    std::size_t* cur = prev + (m + 1);
    for (std::size_t j = 0; j <= std::min(m, max_edits); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= n; ++i) {
        const std::size_t lo = i > max_edits ? i - max_edits : 1;
        const std::size_t hi = std::min(m, i + max_edits);
        // Only the band is written; its two neighbours are reset so that no
        // value left from two rows before is read.
        cur[lo - 1] = lo == 1 && i <= max_edits ? i : over;
        if (hi < m) cur[hi + 1] = over;
        std::size_t row_min = cur[lo - 1];
        for (std::size_t j = lo; j <= hi; ++j) {
            const std::size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            const std::size_t d = std::min({substitute, prev[j] + 1, cur[j - 1] + 1, over});
            cur[j] = d;
            row_min = std::min(row_min, d);
        }
        if (row_min >= over) return over;
        std::swap(prev, cur);
    }
    return std::min(prev[m], over);
}

}  // namespace detail

// The edit distance (insertions, deletions, substitutions) between a and b when
// it is at most max_edits, otherwise max_edits + 1. Only the diagonal band of
// width 2·max_edits + 1 is computed and the scan stops as soon as a whole row
// exceeds the bound, so the work is O(|a|·max_edits) whatever the distance.
// `scratch` holds the two rows; passing the same vector to many calls (a scan
// over a dictionary) saves an allocation per call.
inline std::size_t bounded_edit_distance(std::u32string_view a, std::u32string_view b, std::size_t max_edits,
                                         std::vector<std::size_t>& scratch) {
    return detail::banded_edit_distance(a, b, max_edits, scratch);
}

// The same over bytes, which are code points when both strings are ASCII.
inline std::size_t bounded_edit_distance_ascii(std::string_view a, std::string_view b, std::size_t max_edits,
                                               std::vector<std::size_t>& scratch) {
    return detail::banded_edit_distance(a, b, max_edits, scratch);
}

inline std::size_t bounded_edit_distance(std::u32string_view a, std::u32string_view b, std::size_t max_edits) {
    std::vector<std::size_t> scratch;
    return bounded_edit_distance(a, b, max_edits, scratch);
}

}  // namespace search
TOPGUN_END_NAMESPACE
