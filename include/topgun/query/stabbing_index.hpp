// Intervals answering "which intervals contain this point?" (stabbing
// queries), for filing standing range queries (live_reverse_index.hpp).
//
// The intervals are kept sorted by their low end with a max-tree over their
// high ends: the intervals with low <= point are a prefix, and a descent that
// skips every subtree whose greatest high end is below the point visits only
// the answers and O(log n) nodes per answer. Ends are inclusive; a missing
// end is unbounded. The sorted form is rebuilt on the first query after
// intervals were added or removed (items come and go far less often than
// records are written), so a burst of additions costs one O(n log n) build.
#pragma once

#include <topgun/config.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query::detail {

template <class K, class T>
class StabbingIndex {
public:
    struct Interval {
        std::optional<K> low;   // nullopt: unbounded below
        std::optional<K> high;  // nullopt: unbounded above
        T* item;
    };

    void add(Interval interval) {
        intervals_.push_back(std::move(interval));
        dirty_ = true;
    }

    // Drops every interval of `item`.
    void remove(const T* item) {
        std::erase_if(intervals_, [&](const Interval& i) { return i.item == item; });
        dirty_ = true;
    }

    bool empty() const noexcept { return intervals_.empty(); }
    std::size_t size() const noexcept { return intervals_.size(); }

    // Calls f(T*) for every interval containing `point`.
    template <class F>
    void stab(const K& point, F&& f) const {
        if (dirty_) rebuild();
        if (intervals_.empty()) return;
        // Intervals [0, prefix) start at or below the point.
        const auto prefix = static_cast<std::size_t>(
            std::partition_point(intervals_.begin(), intervals_.end(),
                                 [&](const Interval& i) { return !i.low || !(point < *i.low); }) -
            intervals_.begin());
        descend(1, 0, leaves_, prefix, point, f);
    }

private:
    static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

    // a's high end below b's (unbounded is the greatest).
    static bool high_less(const Interval& a, const Interval& b) {
        if (!a.high) return false;
        return !b.high || *a.high < *b.high;
    }

    void rebuild() const {
        std::stable_sort(intervals_.begin(), intervals_.end(), [](const Interval& a, const Interval& b) {
            if (!b.low) return false;
            return !a.low || *a.low < *b.low;
        });
        leaves_ = std::bit_ceil(std::max<std::size_t>(intervals_.size(), 1));
        tree_.assign(2 * leaves_, kNone);
        for (std::size_t i = 0; i < intervals_.size(); ++i) tree_[leaves_ + i] = i;
        for (std::size_t n = leaves_ - 1; n >= 1; --n) {
            const std::size_t l = tree_[2 * n], r = tree_[2 * n + 1];
            tree_[n] = r == kNone || (l != kNone && !high_less(intervals_[l], intervals_[r])) ? l : r;
        }
        dirty_ = false;
    }

    template <class F>
    void descend(std::size_t node, std::size_t from, std::size_t to, std::size_t prefix, const K& point, F& f) const {
        if (from >= prefix) return;
        const std::size_t best = tree_[node];
        if (best == kNone) return;
        const Interval& top = intervals_[best];
        if (top.high && *top.high < point) return;  // every high end here is below the point
        if (to - from == 1) {
            f(top.item);
            return;
        }
        const std::size_t mid = from + (to - from) / 2;
        descend(2 * node, from, mid, prefix, point, f);
        descend(2 * node + 1, mid, to, prefix, point, f);
    }

    mutable std::vector<Interval> intervals_;
    mutable std::vector<std::size_t> tree_;  // per node: the interval with the greatest high end below it
    mutable std::size_t leaves_ = 0;
    mutable bool dirty_ = false;
};

}  // namespace query::detail
TOPGUN_END_NAMESPACE
