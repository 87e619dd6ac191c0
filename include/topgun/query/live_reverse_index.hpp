// The reverse index of standing queries: given a written record, which
// queries could it newly belong to? Without it every write evaluates every
// query's predicate.
//
// A predicate is filed under keys such that any record it matches resolves a
// key's path to a value the key covers:
//   * point keys (path, value): eq with a number, string or boolean; in with
//     an array of them (one key per element). Equality as the predicates
//     compare: 42 and 42.0 are one key;
//   * range keys (path, [low, high]): gt, gte, lt, lte and between with
//     numbers (or with strings), which only numbers (strings) can satisfy;
//     ends are kept inclusive, a superset is fine (see below);
//   * an auth valueRef is resolved once against the query's principal (fixed
//     per query), so `owner == auth.id` is filed like a literal;
//   * and: the child with the cheapest keys (any one clause must hold; a point
//     key counts as 1, a range key as 8, as equalities tend to be narrower);
//   * or: the union of its children's keys, when every child has keys;
//   * a leaf that can never be true (explicit nil value, missing principal,
//     NaN, a bound of the wrong type) and an empty `or` have no keys at all:
//     the query matches nothing and is filed nowhere.
// Anything else (neq, not, like, regex, contains…, data valueRefs, in with a
// scalar that matches arrays containing it, eq on arrays or maps) makes the
// predicate unindexable: it goes on the "check always" list, evaluated on
// every write. Keys only pick candidates: the registry evaluates the full
// predicate of each one, so keys may cover more than the predicate does.
//
// A write looks up each filed path's value in the NEW record only (points in
// a hash map, ranges in a stabbing index); the registry finds the queries the
// record already belongs to through its own key membership, which is exact
// and also covers records whose old value the map no longer reports (expired
// before being overwritten).
#pragma once

#include <topgun/config.hpp>
#include <topgun/query/field_path.hpp>
#include <topgun/query/hash_index.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/query/stabbing_index.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query::detail {

struct PointKey {
    const FieldPath* path;  // points into the predicate
    Value value;
};

// Numbers (as f64, as predicates order them) or strings; nil ends are unbounded.
struct RangeKey {
    const FieldPath* path;
    bool numeric;
    Value low, high;
};

struct IndexKeys {
    std::vector<PointKey> points;
    std::vector<RangeKey> ranges;

    std::size_t cost() const noexcept { return points.size() + 8 * ranges.size(); }
    void append(IndexKeys&& other) {
        for (PointKey& k : other.points) points.push_back(std::move(k));
        for (RangeKey& k : other.ranges) ranges.push_back(std::move(k));
    }
};

// The keys of `node` (see the header comment); nullopt when it cannot be
// filed, no keys when it can never be true.
inline std::optional<IndexKeys> index_keys(const Predicate::Node& node, const Value* auth) {
    using Op = Predicate::Op;
    switch (node.op) {
        case Op::And: {
            std::optional<IndexKeys> best;
            for (const Predicate::Node& child : node.children) {
                auto keys = index_keys(child, auth);
                if (keys && (!best || keys->cost() < best->cost())) best = std::move(keys);
            }
            return best;
        }
        case Op::Or: {
            IndexKeys all;
            for (const Predicate::Node& child : node.children) {
                auto keys = index_keys(child, auth);
                if (!keys) return std::nullopt;
                all.append(std::move(*keys));
            }
            return all;
        }
        case Op::Eq:
        case Op::In:
        case Op::Gt:
        case Op::Gte:
        case Op::Lt:
        case Op::Lte:
        case Op::Between:
            break;
        default:
            return std::nullopt;
    }

    const Value* expected = nullptr;
    if (node.ref == Predicate::RefSource::Data) return std::nullopt;
    if (node.ref == Predicate::RefSource::Auth) {
        expected = auth ? node.ref_path.resolve(*auth) : nullptr;
    } else if (node.has_value) {
        expected = &node.value;
    }
    const IndexKeys never;
    if (expected == nullptr || expected->is_nil()) return never;  // the leaf is always false
    const auto is_nan = [](const Value& v) { return v.is_number() && std::isnan(v.to_double()); };

    const auto point = [&](const Value& v) -> std::optional<IndexKeys> {
        if (is_nan(v)) return never;  // equals nothing
        if (!is_bucketable(v)) return std::nullopt;
        IndexKeys keys;
        keys.points.push_back(PointKey{&node.attribute, v});
        return keys;
    };
    // A record value orders against a bound only when both are numbers or both strings.
    const auto range = [&](const Value& low, const Value& high) -> std::optional<IndexKeys> {
        const Value& bound = low.is_nil() ? high : low;
        const bool numeric = bound.is_number();
        if (!numeric && !bound.is_string()) return never;
        for (const Value* b : {&low, &high}) {
            if (b->is_nil()) continue;
            if (numeric ? !b->is_number() || is_nan(*b) : !b->is_string()) return never;
        }
        IndexKeys keys;
        keys.ranges.push_back(RangeKey{&node.attribute, numeric, low, high});
        return keys;
    };

    switch (node.op) {
        case Op::Eq:
            return point(*expected);
        case Op::In: {
            // `in` with a scalar matches records whose field is an array holding it.
            if (!expected->is_array()) return std::nullopt;
            IndexKeys all;
            for (const Value& element : expected->as_array()) {
                auto keys = point(element);
                if (!keys) return std::nullopt;
                all.append(std::move(*keys));
            }
            return all;
        }
        case Op::Gt:
        case Op::Gte:
            return range(*expected, Value());
        case Op::Lt:
        case Op::Lte:
            return range(Value(), *expected);
        default: {  // between
            if (!expected->is_array() || expected->size() != 2) return never;
            const Value& low = expected->as_array()[0];
            const Value& high = expected->as_array()[1];
            if (low.is_nil() || high.is_nil()) return never;
            return range(low, high);
        }
    }
}

// Items (queries) filed by their predicates' keys.
template <class T>
class ReverseIndex {
public:
    // Files `item` under the keys of `predicate` (auth: the item's principal).
    void add(T* item, const Predicate& predicate, const Value* auth) {
        auto keys = index_keys(predicate.root(), auth);
        Filing& filing = filings_[item];
        if (!keys) {
            filing.always = true;
            always_.push_back(item);
            return;
        }
        for (PointKey& key : keys->points) {
            PathEntry& entry = path_entry(*key.path);
            auto& items = entry.points[key.value];
            if (std::find(items.begin(), items.end(), item) != items.end()) continue;  // 1 and 1.0
            items.push_back(item);
            filing.points.emplace_back(&entry, std::move(key.value));
        }
        for (const RangeKey& key : keys->ranges) {
            PathEntry& entry = path_entry(*key.path);
            if (key.numeric) {
                entry.numbers.add({bound<double>(key.low), bound<double>(key.high), item});
            } else {
                entry.strings.add({bound<std::string>(key.low), bound<std::string>(key.high), item});
            }
            if (std::find(filing.ranges.begin(), filing.ranges.end(), &entry) == filing.ranges.end()) {
                filing.ranges.push_back(&entry);
            }
        }
    }

    void remove(T* item) {
        const auto it = filings_.find(item);
        if (it == filings_.end()) return;
        if (it->second.always) always_.erase(std::find(always_.begin(), always_.end(), item));
        for (auto& [entry, value] : it->second.points) {
            const auto bucket = entry->points.find(value);
            auto& items = bucket->second;
            items.erase(std::find(items.begin(), items.end(), item));
            if (items.empty()) entry->points.erase(bucket);
        }
        for (PathEntry* entry : it->second.ranges) {
            entry->numbers.remove(item);
            entry->strings.remove(item);
        }
        filings_.erase(it);
        std::erase_if(paths_,
                      [](const auto& e) { return e->points.empty() && e->numbers.empty() && e->strings.empty(); });
    }

    // Calls f(T*) for every item `record` may match: those filed under one of
    // its values, and those checked always. An item may come more than once.
    template <class F>
    void for_each_candidate(const Value& record, F&& f) const {
        for (const auto& entry : paths_) {
            const Value* v = entry->path.resolve(record);
            if (v == nullptr) continue;
            if (is_bucketable(*v) && !entry->points.empty()) {
                const auto bucket = entry->points.find(*v);
                if (bucket != entry->points.end()) {
                    for (T* item : bucket->second) f(item);
                }
            }
            if (v->is_number()) {
                const double d = v->to_double();
                if (!std::isnan(d)) entry->numbers.stab(d, f);
            } else if (v->is_string()) {
                entry->strings.stab(v->as_string(), f);
            }
        }
        for (T* item : always_) f(item);
    }

    std::size_t checked_always() const noexcept { return always_.size(); }

private:
    struct PathEntry {
        FieldPath path;
        std::unordered_map<Value, std::vector<T*>, LooseValueHash, LooseValueEqual> points;
        StabbingIndex<double, T> numbers;
        StabbingIndex<std::string, T> strings;
    };
    struct Filing {
        bool always = false;
        std::vector<std::pair<PathEntry*, Value>> points;
        std::vector<PathEntry*> ranges;
    };

    template <class K>
    static std::optional<K> bound(const Value& v) {
        if (v.is_nil()) return std::nullopt;
        if constexpr (std::is_same_v<K, double>) {
            return v.to_double();
        } else {
            return v.as_string();
        }
    }

    PathEntry& path_entry(const FieldPath& path) {
        for (const auto& e : paths_) {
            if (e->path.text() == path.text()) return *e;
        }
        paths_.push_back(std::make_unique<PathEntry>());
        paths_.back()->path = path;
        return *paths_.back();
    }

    std::vector<std::unique_ptr<PathEntry>> paths_;
    std::vector<T*> always_;
    std::unordered_map<T*, Filing> filings_;
};

}  // namespace query::detail
TOPGUN_END_NAMESPACE
