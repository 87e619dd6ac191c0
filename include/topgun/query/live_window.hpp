// The exact top-N window of one standing query (PROTOCOL.md §8.4, improved):
// EVERY row that belongs to the query is kept in one ordered set (SortOrder,
// the same total order query::execute pages with), and the window is the
// first `capacity` rows of that set. The reference keeps only rows its window
// has seen, so after a delete it may promote the wrong row or none; keeping
// all rows makes the window always equal a fresh execute.
//
// The window is tracked by its size and an iterator to its last row, so
// membership is one comparison and each insert or erase moves the boundary by
// at most one row (the row displaced by an insert, or promoted after an
// erase). Rows are erased and inserted in O(log n).
//
// A change to the query (one record write; two group rows for a grouped
// query) is a batch of mutations between begin_change() and finish(). Every
// row whose window membership may have changed is "touched": the mutated rows
// and the boundary rows they push out or pull in. A row's membership only
// changes when it is touched, so its state at its first touch is its state
// before the change; finish() adds the state after, and the caller turns the
// differences into ENTER / UPDATE / LEAVE events.
#pragma once

#include <topgun/config.hpp>
#include <topgun/query/sort_order.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <iterator>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query::detail {

// Sort slots of a row, one per sort key: the field's value, nil for nil,
// missing and "_key" keys (as Cursor stores them).
using Slots = std::vector<Value>;

inline Slots resolve_slots(const SortOrder& order, const Value& value) {
    Slots slots(order.size());
    for (std::size_t i = 0; i < slots.size(); ++i) {
        if (const Value* v = order.resolve(i, value)) slots[i] = *v;
    }
    return slots;
}

// Calls f(std::span<const Value* const>) with the slots as SortOrder::compare
// takes them, without allocating for up to 4 sort keys.
template <class F>
decltype(auto) with_slot_pointers(const Slots& slots, F&& f) {
    constexpr std::size_t kInline = 4;
    const auto fill = [&](const Value** out) {
        for (std::size_t i = 0; i < slots.size(); ++i) out[i] = slots[i].is_nil() ? nullptr : &slots[i];
    };
    if (slots.size() <= kInline) {
        std::array<const Value*, kInline> inline_ptrs{};
        fill(inline_ptrs.data());
        return f(std::span<const Value* const>(inline_ptrs.data(), slots.size()));
    }
    std::vector<const Value*> ptrs(slots.size());
    fill(ptrs.data());
    return f(std::span<const Value* const>(ptrs));
}

inline int compare_rows(const SortOrder& order, const Slots& a, std::string_view a_key, const Slots& b,
                        std::string_view b_key) {
    return with_slot_pointers(a, [&](std::span<const Value* const> pa) {
        return with_slot_pointers(
            b, [&](std::span<const Value* const> pb) { return order.compare(pa, a_key, pb, b_key); });
    });
}

struct WindowRow {
    std::string_view key;  // owned by the caller (the map's record key, or a group's bucket id)
    // Mutable: LiveWindow::update rewrites them in place when the row keeps
    // its position, which leaves the set's order intact.
    mutable Slots slots;
};

// Sorts `rows`, merging instead when they are a few sorted runs: a server's
// merge stage fills its rows shard after shard, each shard's already in order,
// so its first window costs one comparison per row per merge pass instead of a
// full sort. Any other input is sorted after at most a few comparisons more.
template <class Row, class Less>
void sort_runs(std::vector<Row>& rows, Less less) {
    if constexpr (TOPGUN_BROWSER_BUILD) {
        std::sort(rows.begin(), rows.end(), less);  // no merged windows there
    } else {
        constexpr std::size_t kMaxRuns = 16;
        std::array<std::size_t, kMaxRuns + 1> starts{};  // run i is [starts[i], starts[i + 1])
        std::size_t runs = 1;
        for (std::size_t i = 1; i < rows.size(); ++i) {
            if (!less(rows[i], rows[i - 1])) continue;
            if (runs == kMaxRuns) {
                std::sort(rows.begin(), rows.end(), less);
                return;
            }
            starts[runs++] = i;
        }
        starts[runs] = rows.size();
        const auto run_start = [&](std::size_t run) {
            return rows.begin() + static_cast<std::ptrdiff_t>(starts[std::min(run, runs)]);
        };
        // Merge neighbouring runs pairwise until one is left.
        for (std::size_t width = 1; width < runs; width *= 2) {
            for (std::size_t i = 0; i + width < runs; i += 2 * width) {
                std::inplace_merge(run_start(i), run_start(i + width), run_start(i + 2 * width), less);
            }
        }
    }
}

class LiveWindow {
    struct Less {
        const SortOrder* order;
        bool operator()(const WindowRow& a, const WindowRow& b) const {
            return compare_rows(*order, a.slots, a.key, b.slots, b.key) < 0;
        }
    };
    using Rows = std::set<WindowRow, Less>;

public:
    using Iter = Rows::const_iterator;

    // A row whose window membership may have changed in the current change.
    struct Touch {
        std::string key;  // a copy: a group row's key may die within the change
        bool before = false;
        bool after = false;
        bool modified = false;  // inserted, erased or updated (not just a boundary move)
        bool moved = false;     // its position among the other rows changed
        std::optional<Iter> row;
    };

    LiveWindow(SortOrder order, std::size_t capacity)
        : order_(std::move(order)), capacity_(capacity), rows_(Less{&order_}), last_(rows_.end()) {}
    LiveWindow(const LiveWindow&) = delete;  // the set's comparator points at order_
    LiveWindow& operator=(const LiveWindow&) = delete;

    const SortOrder& order() const noexcept { return order_; }
    std::size_t capacity() const noexcept { return capacity_; }
    // Rows of the query (in and beyond the window).
    std::size_t size() const noexcept { return rows_.size(); }
    // Rows in the window: min(size(), capacity()).
    std::size_t window_size() const noexcept { return count_; }
    bool has_more() const noexcept { return rows_.size() > capacity_; }
    Iter begin() const noexcept { return rows_.begin(); }
    // The window's last row (end() when the window is empty).
    Iter last() const noexcept { return last_; }
    Iter end() const noexcept { return rows_.end(); }

    bool in_window(Iter it) const {
        return count_ > 0 && compare_rows(order_, it->slots, it->key, last_->slots, last_->key) <= 0;
    }

    // Fills an empty window with rows of distinct keys, without touches.
    void assign(std::vector<WindowRow> rows) {
        sort_runs(rows, Less{&order_});
        rows_.clear();
        for (WindowRow& r : rows) rows_.emplace_hint(rows_.end(), std::move(r));
        count_ = std::min(rows_.size(), capacity_);
        last_ = count_ == 0 ? rows_.end() : std::next(rows_.begin(), static_cast<std::ptrdiff_t>(count_ - 1));
    }

    void begin_change() { touches_.clear(); }

    // A new row (its key must not be in the window's set).
    Iter insert(std::string_view key, Slots slots) {
        const Iter it = rows_.emplace(WindowRow{key, std::move(slots)}).first;
        Touch& t = touch(key, false);
        t.modified = true;
        t.row = it;
        if (capacity_ == 0) return it;
        if (count_ == 0) {
            last_ = it;
            count_ = 1;
        } else if (before_last(it)) {
            if (count_ == capacity_) {
                touch(last_->key, true);  // displaced
                last_ = std::prev(last_);
            } else {
                ++count_;  // a window that is not full holds every row; last_ stays the greatest
            }
        } else if (count_ < capacity_) {
            last_ = it;
            ++count_;
        }
        return it;
    }

    void erase(Iter it) {
        const bool was_in = in_window(it);
        Touch& t = touch(it->key, was_in);
        t.modified = true;
        t.row.reset();
        if (was_in) {
            const Iter next = std::next(last_);
            if (next != rows_.end()) {
                touch(next->key, false).row = next;  // promoted
                last_ = next;
            } else {
                --count_;
                if (it == last_) last_ = count_ == 0 ? rows_.end() : std::prev(it);
            }
        }
        rows_.erase(it);
    }

    // New slots for a row. When the row still sorts between its neighbours
    // they are rewritten in place (same iterator, same position); otherwise
    // the row is erased and inserted again and counts as moved.
    Iter update(Iter it, Slots slots) {
        const bool was_in = in_window(it);
        if (fits_at(it, slots)) {
            Touch& t = touch(it->key, was_in);
            t.modified = true;
            t.row = it;
            it->slots = std::move(slots);
            return it;
        }
        const std::string_view key = it->key;
        touch(key, was_in).moved = true;
        erase(it);
        return insert(key, std::move(slots));
    }

    // Completes the touches with their state after the change.
    const std::vector<Touch>& finish() {
        for (Touch& t : touches_) t.after = t.row && in_window(*t.row);
        return touches_;
    }

private:
    bool before_last(Iter it) const { return compare_rows(order_, it->slots, it->key, last_->slots, last_->key) < 0; }

    bool fits_at(Iter it, const Slots& slots) const {
        if (it != rows_.begin()) {
            const Iter prev = std::prev(it);
            if (compare_rows(order_, prev->slots, prev->key, slots, it->key) >= 0) return false;
        }
        const Iter next = std::next(it);
        return next == rows_.end() || compare_rows(order_, slots, it->key, next->slots, next->key) < 0;
    }

    Touch& touch(std::string_view key, bool before) {
        for (Touch& t : touches_) {
            if (t.key == key) return t;
        }
        Touch& t = touches_.emplace_back();
        t.key = key;
        t.before = before;
        return t;
    }

    SortOrder order_;
    std::size_t capacity_;
    Rows rows_;
    Iter last_;
    std::size_t count_ = 0;
    std::vector<Touch> touches_;
};

}  // namespace query::detail
TOPGUN_END_NAMESPACE
