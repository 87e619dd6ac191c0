// A hash index on one field path: record keys by the field's value, for `eq`
// and `in` (PROTOCOL.md §8.2).
//
// Buckets use the predicates' loose equality, so 42 and 42.0 share a bucket
// (numbers are hashed as f64, as `eq` compares them). Only numbers, strings and
// booleans are bucketed; records whose field holds an array, map or binary sit
// in one `non_scalar` set, because `in` with a scalar value matches arrays that
// contain it and structural equality is rare enough not to earn buckets. NaN
// equals nothing and is not bucketed. Records without the field (or with nil)
// are not indexed: no equality matches them.
//
// Keys are views of the map's own record keys (stable until the record is
// dropped, and the map reports a drop before it happens). Lookups give
// candidates, never a final answer: the planner re-checks every predicate.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/bit_cast.hpp>
#include <topgun/query/field_path.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/value.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

TOPGUN_BEGIN_NAMESPACE
namespace query {

namespace detail {

// Hash and equality that agree with Predicate::loose_equal on bucketed values.
struct LooseValueHash {
    std::size_t operator()(const Value& v) const noexcept {
        if (v.is_number()) {
            const double d = v.to_double();
            return std::hash<std::uint64_t>{}(::topgun::detail::bit_cast<std::uint64_t>(d == 0 ? 0.0 : d));
        }
        if (v.is_string()) return std::hash<std::string_view>{}(v.as_string());
        return v.is_bool() && v.as_bool() ? 1 : 2;
    }
};

struct LooseValueEqual {
    bool operator()(const Value& a, const Value& b) const noexcept { return Predicate::loose_equal(a, b); }
};

inline bool is_bucketable(const Value& v) noexcept {
    return (v.is_number() && !std::isnan(v.to_double())) || v.is_string() || v.is_bool();
}

}  // namespace detail

using KeySet = std::unordered_set<std::string_view>;

class HashIndex {
public:
    explicit HashIndex(std::string_view path) : path_(path) {}

    const FieldPath& path() const noexcept { return path_; }

    // Files `key` under the field's value in `record` (nullptr: the record has
    // no live value), replacing what it was filed under before.
    void update(std::string_view key, const Value* record) {
        erase(key);
        const Value* field = record ? path_.resolve(*record) : nullptr;
        if (field == nullptr || field->is_nil()) return;
        const Value& stored = filed_.emplace(key, *field).first->second;
        if (detail::is_bucketable(stored)) {
            buckets_[stored].insert(key);
        } else if (!stored.is_number()) {
            non_scalar_.insert(key);
        }
    }

    void erase(std::string_view key) {
        const auto it = filed_.find(key);
        if (it == filed_.end()) return;
        if (detail::is_bucketable(it->second)) {
            const auto bucket = buckets_.find(it->second);
            bucket->second.erase(key);
            if (bucket->second.empty()) buckets_.erase(bucket);
        } else {
            non_scalar_.erase(key);
        }
        filed_.erase(it);
    }

    void clear() {
        buckets_.clear();
        non_scalar_.clear();
        filed_.clear();
    }

    // Records whose field loosely equals the scalar `v` (nullptr: none).
    const KeySet* equal(const Value& v) const {
        if (!detail::is_bucketable(v)) return nullptr;
        const auto it = buckets_.find(v);
        return it == buckets_.end() ? nullptr : &it->second;
    }

    // Records whose field is an array, map or binary.
    const KeySet& non_scalar() const noexcept { return non_scalar_; }

    std::size_t size() const noexcept { return filed_.size(); }
    std::size_t distinct_values() const noexcept { return buckets_.size(); }

private:
    FieldPath path_;
    std::unordered_map<Value, KeySet, detail::LooseValueHash, detail::LooseValueEqual> buckets_;
    KeySet non_scalar_;
    // What each key is filed under: the map may already have changed the
    // record (or let it expire) when it reports the change.
    std::unordered_map<std::string_view, Value> filed_;
};

}  // namespace query
TOPGUN_END_NAMESPACE
