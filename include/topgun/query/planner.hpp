// Chooses how a query reads its rows: a full scan, the candidate keys that
// indexes give for the predicate, or a walk of an ordered index in sort order
// that stops after the page.
//
// Indexes only ever narrow the rows looked at; every row still passes the
// whole predicate, so a plan cannot change a result (the property test runs
// every query with and without indexes).
//
// Candidates per predicate node (with a hash index H or ordered index O on
// the node's attribute; literal values only, valueRefs are not served):
//   eq v      H: v's bucket (arrays/maps: the non-scalar set) · O: v's range
//   in [..]   the union over the elements as eq · in scalar: H's non-scalar set
//   gt/gte/lt/lte/between   O: the range (numbers widened, see ordered_index.hpp)
//   startsWith  O: the prefix range
//   and       the smallest child that can be served (an empty one wins at once)
//   or        the union, when every child can be served
// Everything else (neq, not, like, regex, contains..., isNull, full text)
// cannot be served; a node with an explicit nil value matches nothing.
//
// Choosing: a walk needs a single sort key with an ordered index, a limit, and
// no grouping; it costs about page × N / matches rows, candidates cost their
// count, a scan costs N. When a walk is possible, leaves on the sort field are
// left to it (it reads their range in order and stops after the page), and
// candidate collection from other fields gives up once it exceeds what a walk
// would cost, so a broad range never materialises a million keys.
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/query/index_set.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/query/sort_order.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

struct Plan {
    enum class Source { Scan, Keys, Walk };
    Source source = Source::Scan;
    RecordRefs keys;  // Keys: distinct candidate records
    const OrderedIndex* index = nullptr;  // Walk: the sort field's index
    bool descending = false;
    std::optional<OrderedIndex::Range> range;  // Walk: bounds from the predicate on the sort field

    // "scan", "keys(<n>)" or "walk(<path> asc|desc[, range])": for tests and logs.
    std::string explain() const {
        switch (source) {
            case Source::Scan: return "scan";
            case Source::Keys: return "keys(" + std::to_string(keys.size()) + ")";
            case Source::Walk:
                return "walk(" + index->path().text() + (descending ? " desc" : " asc") + (range ? ", range)" : ")");
        }
        return "scan";
    }
};

namespace detail {

using Node = Predicate::Node;
using Op = Predicate::Op;
using Keys = RecordRefs;

// Collects candidate keys up to `cap`; past it the node counts as unserved.
class CandidateFinder {
public:
    // Leaves on `walked_path` are left to the index walk, which reads their
    // range in order anyway.
    CandidateFinder(const IndexSet& indexes, std::size_t cap, std::string_view walked_path = {})
        : indexes_(indexes), cap_(cap), walked_path_(walked_path) {}

    // nullopt: cannot be served (or more than the cap).
    std::optional<Keys> find(const Node& n) const {
        switch (n.op) {
            case Op::And: return find_and(n);
            case Op::Or: return find_or(n);
            case Op::Eq:
            case Op::In:
            case Op::Gt:
            case Op::Gte:
            case Op::Lt:
            case Op::Lte:
            case Op::Between:
            case Op::StartsWith:
                if (n.ref != Predicate::RefSource::None) return std::nullopt;
                if (!n.has_value) return Keys{};  // explicit nil: the leaf is false
                return find_leaf(n);
            default: return std::nullopt;
        }
    }

private:
    std::optional<Keys> find_and(const Node& n) const {
        if (n.children.empty()) return std::nullopt;  // matches every record
        std::optional<Keys> best;
        for (const Node& child : n.children) {
            const std::size_t cap = best ? best->size() : cap_;
            auto keys = CandidateFinder(indexes_, cap, walked_path_).find(child);
            if (!keys) continue;
            if (keys->empty()) return keys;
            if (!best || keys->size() < best->size()) best = std::move(keys);
        }
        return best;
    }

    std::optional<Keys> find_or(const Node& n) const {
        Keys all;
        for (const Node& child : n.children) {
            auto keys = find(child);
            if (!keys) return std::nullopt;
            all.insert(all.end(), keys->begin(), keys->end());
            if (all.size() > cap_) return std::nullopt;
        }
        return distinct(std::move(all));
    }

    std::optional<Keys> find_leaf(const Node& n) const {
        const std::string& path = n.attribute.text();
        if (!walked_path_.empty() && path == walked_path_) return std::nullopt;
        const HashIndex* hash = indexes_.hash(path);
        const OrderedIndex* ordered = indexes_.ordered(path);
        if (hash == nullptr && ordered == nullptr) return std::nullopt;
        const Value& v = n.value;
        Keys out;
        switch (n.op) {
            case Op::Eq:
                if (!equal(hash, ordered, v, out)) return std::nullopt;
                break;
            case Op::In:
                if (!v.is_array()) {
                    // A scalar is "in" a record whose field is an array holding it.
                    if (hash == nullptr) return std::nullopt;
                    if (!add(hash->non_scalar(), out)) return std::nullopt;
                    break;
                }
                for (const Value& element : v.as_array()) {
                    if (!equal(hash, ordered, element, out)) return std::nullopt;
                }
                return distinct(std::move(out));
            case Op::Gt:
            case Op::Gte:
                if (ordered == nullptr) return std::nullopt;
                if (!scan(*ordered, OrderedIndex::Range{OrderedIndex::widen(v, false), std::nullopt}, out)) return std::nullopt;
                break;
            case Op::Lt:
            case Op::Lte:
                if (ordered == nullptr) return std::nullopt;
                if (!scan(*ordered, OrderedIndex::Range{std::nullopt, OrderedIndex::widen(v, true)}, out)) return std::nullopt;
                break;
            case Op::Between:
                if (ordered == nullptr) return std::nullopt;
                // Compiled predicates guarantee [low, high].
                if (!scan(*ordered,
                          OrderedIndex::Range{OrderedIndex::widen(v.as_array()[0], false),
                                              OrderedIndex::widen(v.as_array()[1], true)},
                          out)) {
                    return std::nullopt;
                }
                break;
            case Op::StartsWith:
                if (ordered == nullptr) return std::nullopt;
                if (!collect([&](auto&& f) { ordered->scan_prefix(v.as_string(), f); }, out)) return std::nullopt;
                break;
            default: return std::nullopt;
        }
        return out;
    }

    // Candidates for "field loosely equals v"; false when unserved or over the cap.
    bool equal(const HashIndex* hash, const OrderedIndex* ordered, const Value& v, Keys& out) const {
        if (v.is_nil()) return true;  // nil equals nothing
        if (v.is_number() && std::isnan(v.to_double())) return true;
        if (hash != nullptr) {
            if (!v.is_number() && !v.is_string() && !v.is_bool()) return add(hash->non_scalar(), out);
            const RecordRefs* bucket = hash->equal(v);
            return bucket == nullptr || add(*bucket, out);
        }
        if (!v.is_number() && !v.is_string()) return false;
        return scan(*ordered, OrderedIndex::Range{OrderedIndex::widen(v, false), OrderedIndex::widen(v, true)}, out);
    }

    bool add(const RecordRefs& keys, Keys& out) const {
        if (out.size() + keys.size() > cap_) return false;
        out.insert(out.end(), keys.begin(), keys.end());
        return true;
    }

    bool scan(const OrderedIndex& index, const OrderedIndex::Range& range, Keys& out) const {
        return collect([&](auto&& f) { index.scan(range, f); }, out);
    }

    template <class Visit>
    bool collect(Visit&& visit, Keys& out) const {
        bool within = true;
        visit([&](RecordRef record) {
            if (out.size() >= cap_) return within = false;
            out.push_back(record);
            return true;
        });
        return within;
    }

    static Keys distinct(Keys keys) {
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        return keys;
    }

    const IndexSet& indexes_;
    std::size_t cap_;
    std::string_view walked_path_;
};

// Bounds on the sort field from the top-level conjuncts (the first range,
// equality or between leaf on that field); nullopt when there is none.
inline std::optional<OrderedIndex::Range> walk_range(const Predicate& predicate, const std::string& path) {
    const Node& root = predicate.root();
    const auto from_leaf = [&](const Node& n) -> std::optional<OrderedIndex::Range> {
        if (n.ref != Predicate::RefSource::None || !n.has_value || n.attribute.text() != path) return std::nullopt;
        const Value& v = n.value;
        if (!v.is_number() && !v.is_string() && n.op != Op::Between) return std::nullopt;
        switch (n.op) {
            case Op::Eq: return OrderedIndex::Range{OrderedIndex::widen(v, false), OrderedIndex::widen(v, true)};
            case Op::Gt:
            case Op::Gte: return OrderedIndex::Range{OrderedIndex::widen(v, false), std::nullopt};
            case Op::Lt:
            case Op::Lte: return OrderedIndex::Range{std::nullopt, OrderedIndex::widen(v, true)};
            case Op::Between:
                return OrderedIndex::Range{OrderedIndex::widen(v.as_array()[0], false),
                                           OrderedIndex::widen(v.as_array()[1], true)};
            default: return std::nullopt;
        }
    };
    if (root.op != Op::And) return from_leaf(root);
    for (const Node& child : root.children) {
        if (auto range = from_leaf(child)) return range;
    }
    return std::nullopt;
}

}  // namespace detail

// `page` is the number of rows the query returns at most (limit clamped to
// max_records); `records` the map's record count.
inline Plan plan_query(const Predicate& predicate, const protocol::Query& q, const IndexSet* indexes, std::size_t page,
                       std::size_t records) {
    Plan plan;
    if (indexes == nullptr || indexes->empty()) return plan;

    const OrderedIndex* sort_index = nullptr;
    bool descending = false;
    if (q.limit && q.sort && q.sort->keys.size() == 1 && !q.group_by && !q.aggregations &&
        q.sort->keys[0].field != "_key") {
        sort_index = indexes->ordered(q.sort->keys[0].field);
        descending = q.sort->keys[0].direction == protocol::SortDirection::Desc;
    }

    // Walking reads about page × N / matches rows: with k candidates that is
    // below k once k exceeds sqrt(page × N).
    const double rows_per_page = static_cast<double>(page) + 1;
    const std::size_t cap =
        sort_index ? static_cast<std::size_t>(2 * std::sqrt(rows_per_page * static_cast<double>(records))) + 64
                   : std::numeric_limits<std::size_t>::max();
    std::optional<detail::Keys> keys =
        detail::CandidateFinder(*indexes, cap, sort_index ? std::string_view(sort_index->path().text()) : "")
            .find(predicate.root());

    const bool walk = sort_index && (!keys || rows_per_page * static_cast<double>(records) /
                                                      std::max<double>(1, static_cast<double>(keys->size())) <
                                                  static_cast<double>(keys->size()));
    if (walk) {
        plan.source = Plan::Source::Walk;
        plan.index = sort_index;
        plan.descending = descending;
        plan.range = detail::walk_range(predicate, sort_index->path().text());
    } else if (keys) {
        plan.source = Plan::Source::Keys;
        plan.keys = std::move(*keys);
    }
    return plan;
}

}  // namespace query
TOPGUN_END_NAMESPACE
