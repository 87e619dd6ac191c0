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
// Entries are RecordRefs into the map (stable until the record is dropped,
// and the map reports a drop before it happens). Lookups give
// candidates, never a final answer: the planner re-checks every predicate.
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/lww_map.hpp>
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
#include <vector>

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

// Index entries: records by reference, read without a key lookup.
using RecordRefs = std::vector<RecordRef>;

class HashIndex {
public:
    explicit HashIndex(std::string_view path) : path_(path) {}

    const FieldPath& path() const noexcept { return path_; }

    // Files `record` under the field's value in `value` (nullptr: the record
    // has no live value), replacing what it was filed under before.
    void update(RecordRef record, const Value* value) {
        erase(record.key());
        const Value* field = value ? path_.resolve(*value) : nullptr;
        if (field == nullptr || field->is_nil()) return;
        if (!detail::is_bucketable(*field) && field->is_number()) return;  // NaN equals nothing
        Filed& filed = filed_.emplace(record.key(), Filed{*field, 0}).first->second;
        RecordRefs& bucket = bucket_of(filed.value);
        filed.slot = bucket.size();
        bucket.push_back(record);
    }

    void erase(std::string_view key) {
        const auto it = filed_.find(key);
        if (it == filed_.end()) return;
        const bool bucketed = detail::is_bucketable(it->second.value);
        const auto bucket = bucketed ? buckets_.find(it->second.value) : buckets_.end();
        RecordRefs& refs = bucketed ? bucket->second : non_scalar_;
        // Swap-remove: the record moved into the hole learns its new slot.
        const std::size_t slot = it->second.slot;
        if (slot + 1 != refs.size()) {
            refs[slot] = refs.back();
            filed_.find(refs[slot].key())->second.slot = slot;
        }
        refs.pop_back();
        if (bucketed && refs.empty()) buckets_.erase(bucket);
        filed_.erase(it);
    }

    void clear() {
        buckets_.clear();
        non_scalar_.clear();
        filed_.clear();
    }

    // Records whose field loosely equals the scalar `v` (nullptr: none).
    const RecordRefs* equal(const Value& v) const {
        if (!detail::is_bucketable(v)) return nullptr;
        const auto it = buckets_.find(v);
        return it == buckets_.end() ? nullptr : &it->second;
    }

    // Records whose field is an array, map or binary.
    const RecordRefs& non_scalar() const noexcept { return non_scalar_; }

    std::size_t size() const noexcept { return filed_.size(); }
    std::size_t distinct_values() const noexcept { return buckets_.size(); }

private:
    // What a key is filed under (the map may already have changed the record,
    // or let it expire, when it reports the change) and its slot in the bucket.
    struct Filed {
        Value value;
        std::size_t slot;
    };

    RecordRefs& bucket_of(const Value& v) { return detail::is_bucketable(v) ? buckets_[v] : non_scalar_; }

    FieldPath path_;
    // Flat buckets: a lookup reads its candidates from one array instead of
    // walking set nodes (a cache miss each).
    std::unordered_map<Value, RecordRefs, detail::LooseValueHash, detail::LooseValueEqual> buckets_;
    RecordRefs non_scalar_;
    std::unordered_map<std::string_view, Filed> filed_;
};

}  // namespace query
TOPGUN_END_NAMESPACE
