// Bounded Levenshtein distance over code points, for fuzzy term expansion.
#pragma once

#include <topgun/config.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace search {

// The edit distance (insertions, deletions, substitutions) between a and b when
// it is at most max_edits, otherwise max_edits + 1. Only the diagonal band of
// width 2·max_edits + 1 is computed and the scan stops as soon as a whole row
// exceeds the bound, so the work is O(|a|·max_edits) whatever the distance.
inline std::size_t bounded_edit_distance(const std::u32string& a, const std::u32string& b, std::size_t max_edits) {
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    const std::size_t over = max_edits + 1;
    if ((n > m ? n - m : m - n) > max_edits) return over;
    // Cells outside the band hold `over`, which no path through them can beat.
    std::vector<std::size_t> prev(m + 1, over);
    std::vector<std::size_t> cur(m + 1, over);
    for (std::size_t j = 0; j <= std::min(m, max_edits); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= n; ++i) {
        const std::size_t lo = i > max_edits ? i - max_edits : 1;
        const std::size_t hi = std::min(m, i + max_edits);
        std::fill(cur.begin(), cur.end(), over);
        if (i <= max_edits) cur[0] = i;
        std::size_t row_min = cur[0];
        for (std::size_t j = lo; j <= hi; ++j) {
            const std::size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            const std::size_t d = std::min({substitute, prev[j] + 1, cur[j - 1] + 1, over});
            cur[j] = d;
            row_min = std::min(row_min, d);
        }
        if (row_min >= over) return over;
        prev.swap(cur);
    }
    return std::min(prev[m], over);
}

}  // namespace search
TOPGUN_END_NAMESPACE
