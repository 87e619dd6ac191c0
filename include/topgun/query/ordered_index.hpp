// An ordered index on one field path: (field value, record key) in the one
// total SortOrder (sort_order.hpp), for range predicates, `startsWith`,
// equality, and for reading rows already sorted.
//
// Entries are ordered exactly as SortOrder orders a single ascending key:
// SortOrder::compare_values on the field, then record key. Records whose field
// is missing or nil sit apart in key order, because they sort last in both
// directions. Walking the index therefore yields query rows in final order, so
// `sort + limit` stops after the page instead of sorting every match.
//
// Range predicates compare numbers as f64 while the index orders them exactly;
// numeric bounds are widened to the neighbouring doubles so that a range scan
// is always a superset of the matches (the planner re-checks every predicate).
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/query/field_path.hpp>
#include <topgun/query/sort_order.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

TOPGUN_BEGIN_NAMESPACE
namespace query {

class OrderedIndex {
public:
    struct Entry {
        Value value;
        RecordRef record;
        std::string_view key() const noexcept { return record.key(); }
    };

    // Inclusive bounds on the field value; nullopt is open. A range only spans
    // the type class (numbers or strings) of its bounds: range predicates never
    // match across classes.
    struct Range {
        std::optional<Value> low;
        std::optional<Value> high;
    };

    explicit OrderedIndex(std::string_view path) : path_(path) {}

    const FieldPath& path() const noexcept { return path_; }

    // Files `record` by the field in `value` (nullptr: the record has no live
    // value), replacing its previous entry.
    void update(RecordRef record, const Value* value) {
        const std::string_view key = record.key();
        erase(key);
        if (value == nullptr) return;
        const Value* field = path_.resolve(*value);
        if (field == nullptr || field->is_nil()) {
            filed_.emplace(key, Value());
            missing_.emplace(key, record);
            return;
        }
        const Value& stored = filed_.emplace(key, *field).first->second;
        entries_.insert(Entry{stored, record});
    }

    void erase(std::string_view key) {
        const auto it = filed_.find(key);
        if (it == filed_.end()) return;
        if (it->second.is_nil()) {
            missing_.erase(key);
        } else {
            entries_.erase(entries_.find(Probe{&it->second, key}));
        }
        filed_.erase(it);
    }

    void clear() {
        entries_.clear();
        missing_.clear();
        filed_.clear();
    }

    std::size_t size() const noexcept { return filed_.size(); }

    // Visits the records of entries within `range` in ascending order until
    // `f` returns false.
    template <class F>
    void scan(const Range& range, F&& f) const {
        walk(false, std::nullopt, range, [&](RecordRef record, const Value*) { return f(record); });
    }

    // Records whose field starts with the string `prefix`, ascending, until `f` returns false.
    template <class F>
    void scan_prefix(std::string_view prefix, F&& f) const {
        const Value low{std::string(prefix)};
        for (auto it = entries_.lower_bound(Probe{&low}); it != entries_.end(); ++it) {
            if (!it->value.is_string() || !it->value.as_string().starts_with(prefix)) return;
            if (!f(it->record)) return;
        }
    }

    // A position in the walk order: a row's sort slot (nullptr: nil/missing)
    // and key, as a cursor stores them.
    struct Position {
        const Value* value;
        std::string_view key;
    };

    // Visits indexed records in the SortOrder order of this field in the given
    // direction (missing/nil last), strictly after `after` when given, until
    // f(record, field) returns false; `field` (nullptr in the missing group) is
    // the indexed value, valid until the index changes, so {field, key} is a
    // Position to resume from. With a `range` only entries within it are visited
    // (missing fields never are); a range needs at least one bound, of one
    // class (numbers or strings), or nothing matches.
    template <class F>
    void walk(bool descending, const std::optional<Position>& after, const std::optional<Range>& range, F&& f) const {
        std::optional<Span> span;
        if (range) {
            span = span_of(*range);
            if (!span) return;
        }
        const bool after_missing = after && after->value == nullptr;
        if (!after_missing) {
            const bool finished = descending ? walk_down(after, span, f) : walk_up(after, span, f);
            if (!finished) return;
        }
        if (range) return;
        for (auto it = after_missing ? missing_.upper_bound(after->key) : missing_.begin(); it != missing_.end(); ++it) {
            if (!f(it->second, static_cast<const Value*>(nullptr))) return;
        }
    }

    // Widens a numeric bound to the next double outwards (see header).
    static Value widen(const Value& bound, bool upward) {
        if (!bound.is_number()) return bound;
        const double d = bound.to_double();
        if (std::isnan(d)) return bound;
        return Value(std::nextafter(d, upward ? std::numeric_limits<double>::infinity()
                                              : -std::numeric_limits<double>::infinity()));
    }

private:
    // Looks entries up by a value held elsewhere, so probes do not copy. A
    // probe with `past_group` sorts after every entry with its value.
    struct Probe {
        const Value* value;
        std::string_view key{};
        bool past_group = false;
    };
    struct Less {
        using is_transparent = void;
        static int order(const Value& a, std::string_view ak, const Probe& b) noexcept {
            const int c = SortOrder::compare_values(a, *b.value);
            if (c != 0) return c;
            if (b.past_group) return -1;
            return ak.compare(b.key);
        }
        bool operator()(const Entry& a, const Entry& b) const noexcept {
            return order(a.value, a.key(), Probe{&b.value, b.key()}) < 0;
        }
        bool operator()(const Entry& a, const Probe& b) const noexcept { return order(a.value, a.key(), b) < 0; }
        bool operator()(const Probe& a, const Entry& b) const noexcept { return order(b.value, b.key(), a) > 0; }
    };
    using Entries = std::set<Entry, Less>;
    using Iterator = Entries::const_iterator;

    // A range resolved to iterators: [begin, end) holds exactly its entries.
    struct Span {
        Iterator begin;
        Iterator end;
    };

    std::optional<Span> span_of(const Range& range) const {
        const Value* sample = range.low ? &*range.low : (range.high ? &*range.high : nullptr);
        if (sample == nullptr || !(sample->is_number() || sample->is_string())) return std::nullopt;
        const bool numbers = sample->is_number();
        for (const auto* bound : {&range.low, &range.high}) {
            if (*bound && (*bound)->is_number() != numbers) return std::nullopt;
            if (*bound && !numbers && !(*bound)->is_string()) return std::nullopt;
        }
        // Numbers sort first, then strings, then booleans (false first).
        static const Value lowest_number(-std::numeric_limits<double>::infinity());
        static const Value first_string{std::string()};
        static const Value first_bool(false);
        Span span;
        span.begin = entries_.lower_bound(Probe{range.low ? &*range.low : (numbers ? &lowest_number : &first_string)});
        span.end = range.high ? entries_.lower_bound(Probe{&*range.high, {}, true})
                              : entries_.lower_bound(Probe{numbers ? &first_string : &first_bool});
        // An empty range (low above high) must not run backwards.
        if (before(span.end, span.begin)) span.end = span.begin;
        return span;
    }

    // Whether `a` comes strictly before `b` (end() is after everything).
    bool before(Iterator a, Iterator b) const {
        return a != entries_.end() && (b == entries_.end() || Less{}(*a, *b));
    }
    Iterator later(Iterator a, Iterator b) const { return before(a, b) ? b : a; }
    Iterator earlier(Iterator a, Iterator b) const { return before(a, b) ? a : b; }

    // Ascending over the non-nil entries; false when `f` asked to stop.
    template <class F>
    bool walk_up(const std::optional<Position>& after, const std::optional<Span>& span, F& f) const {
        auto it = after ? entries_.upper_bound(Probe{after->value, after->key}) : entries_.begin();
        auto end = entries_.end();
        if (span) {
            it = later(it, span->begin);
            end = span->end;
        }
        for (; before(it, end); ++it) {
            if (!f(it->record, &it->value)) return false;
        }
        return true;
    }

    // Descending: value groups from the largest down, each group's keys
    // ascending (ties break by key ascending in both directions).
    template <class F>
    bool walk_down(const std::optional<Position>& after, const std::optional<Span>& span, F& f) const {
        const auto first = span ? span->begin : entries_.begin();
        auto end = span ? span->end : entries_.end();
        if (after) {
            // First the rest of the cursor's group, then the groups below it.
            const auto group_end = earlier(entries_.lower_bound(Probe{after->value, {}, true}), end);
            for (auto it = later(entries_.upper_bound(Probe{after->value, after->key}), first); before(it, group_end); ++it) {
                if (!f(it->record, &it->value)) return false;
            }
            end = earlier(end, entries_.lower_bound(Probe{after->value}));
        }
        while (before(first, end)) {
            const auto begin = later(entries_.lower_bound(Probe{&std::prev(end)->value}), first);
            for (auto it = begin; it != end; ++it) {
                if (!f(it->record, &it->value)) return false;
            }
            end = begin;
        }
        return true;
    }

    FieldPath path_;
    Entries entries_;
    std::map<std::string_view, RecordRef> missing_;  // records whose field is missing or nil, by key
    std::unordered_map<std::string_view, Value> filed_;  // key → indexed value (nil: missing)
};

}  // namespace query
TOPGUN_END_NAMESPACE
