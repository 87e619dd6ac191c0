// GROUP BY and aggregations (PROTOCOL.md §8.3) in two phases, so that a query
// over many partitions aggregates each partition where it lives and merges
// the partial groups once (query_plan.hpp):
//
//   GroupTable::add(key, record) per partition: group by bucket id, accumulate
//   GroupTable::merge(partial)   at the gather stage: combine partial groups
//   GroupTable::rows()           the final rows
//
// Row value: {__key, __count, __sum_<f>, __min_<f>, __max_<f>, __avg_<f>,
// <groupBy field>…}. Aggregations without groupBy form one group over all
// rows (bucket id "", present even when nothing matched), as SQL does; the
// reference requires groupBy. count counts the group's records (a field is
// ignored); sum and avg take the numeric values of the field (sum stays an
// integer while exact, else a double that becomes an integer when whole; avg
// is a double, nil without numbers); min/max use the SortOrder value order
// over non-nil values (nil when none). Bucket ids follow the reference (per
// group field: N for nil/missing, B0/B1, I<int>;, F<f64 bits>;, S<len>:<string>)
// except that a whole double groups with the equal integer (as predicates
// compare them) and other values become V<len>:<hex of their MsgPack>.
//
// A group's groupBy values come from its record with the smallest key (42 and
// 42.0 share a group, so which one shows must not depend on how the data is
// partitioned or iterated). Partial groups point into the records and keys
// they saw, so the maps must not change until the final rows are built.
//
// Parts that cannot share pointers (a server's shards, each on its own
// thread) exchange partial rows instead: GroupTable::partial_row is a group's
// row plus what merging needs (`__first`, the key its groupBy values come
// from; `__partial`, each aggregation's accumulator), and merge_partial_rows
// turns one group's partial rows into the row one table over all the records
// gives.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/bit_cast.hpp>
#include <topgun/msgpack/writer.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/query/field_path.hpp>
#include <topgun/query/sort_order.hpp>
#include <topgun/value.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

namespace detail {

inline void append_bucket_part(std::string& id, const Value* v) {
    if (v == nullptr || v->is_nil()) {
        id += 'N';
        return;
    }
    switch (v->type()) {
        case Value::Type::Bool: id += v->as_bool() ? "B1" : "B0"; return;
        case Value::Type::Int: id += 'I' + std::to_string(v->as_int()) + ';'; return;
        case Value::Type::UInt: id += 'I' + std::to_string(v->as_uint()) + ';'; return;
        case Value::Type::Double: {
            const double d = v->as_double();
            // 42.0 groups with 42: predicates treat them as equal.
            if (std::isfinite(d) && d == std::floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
                id += 'I' + std::to_string(static_cast<std::int64_t>(d)) + ';';
            } else {
                id += 'F' + std::to_string(::topgun::detail::bit_cast<std::uint64_t>(d)) + ';';
            }
            return;
        }
        case Value::Type::String:
            id += 'S' + std::to_string(v->as_string().size()) + ':' + v->as_string();
            return;
        default: {
            msgpack::Writer w;
            w.value(*v);
            static constexpr char hex[] = "0123456789abcdef";
            id += 'V' + std::to_string(w.size() * 2) + ':';
            for (std::uint8_t b : w.bytes()) {
                id += hex[b >> 4];
                id += hex[b & 15];
            }
            return;
        }
    }
}

// Whole finite doubles in the int64 range become integers (as the reference emits sums).
inline Value whole_as_integer(double d) {
    if (std::isfinite(d) && d == std::floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        return Value(static_cast<std::int64_t>(d));
    }
    return Value(d);
}

struct Accumulator {
    std::int64_t int_sum = 0;
    bool exact = true;  // every value an integer and no overflow so far
    double sum = 0;
    std::size_t numbers = 0;
    const Value* min = nullptr;
    const Value* max = nullptr;

    void add(const Value* v) {
        if (v == nullptr || v->is_nil()) return;
        keep_extremes(v, v);
        if (!v->is_number()) return;
        ++numbers;
        sum += v->to_double();
        if (exact) {
            exact = v->type() == Value::Type::Int && !__builtin_add_overflow(int_sum, v->as_int(), &int_sum);
        }
    }

    void merge(const Accumulator& other) {
        keep_extremes(other.min, other.max);
        numbers += other.numbers;
        sum += other.sum;
        exact = exact && other.exact && !__builtin_add_overflow(int_sum, other.int_sum, &int_sum);
    }

    Value sum_value() const { return exact ? Value(int_sum) : whole_as_integer(sum); }

    // [intSum (nil once inexact), sum, numbers, min, max (nil: none)]; from_value
    // points min and max into `v`, which must outlive the accumulator.
    Value to_value() const {
        return Value(Value::Array{exact ? Value(int_sum) : Value(), Value(sum), Value(static_cast<std::uint64_t>(numbers)),
                                  min ? *min : Value(), max ? *max : Value()});
    }
    static Accumulator from_value(const Value& v) {
        Accumulator acc;
        if (!v.is_array() || v.as_array().size() != 5) return acc;
        const Value::Array& a = v.as_array();
        acc.exact = a[0].type() == Value::Type::Int;
        acc.int_sum = acc.exact ? a[0].as_int() : 0;
        acc.sum = a[1].is_number() ? a[1].to_double() : 0;
        if (a[2].type() == Value::Type::UInt) acc.numbers = static_cast<std::size_t>(a[2].as_uint());
        if (a[2].type() == Value::Type::Int && a[2].as_int() > 0) acc.numbers = static_cast<std::size_t>(a[2].as_int());
        acc.min = a[3].is_nil() ? nullptr : &a[3];
        acc.max = a[4].is_nil() ? nullptr : &a[4];
        return acc;
    }

private:
    void keep_extremes(const Value* low, const Value* high) {
        if (low != nullptr && (min == nullptr || SortOrder::compare_values(*low, *min) < 0)) min = low;
        if (high != nullptr && (max == nullptr || SortOrder::compare_values(*high, *max) > 0)) max = high;
    }
};

}  // namespace detail

// Checks a query's aggregations; the message names the first bad one.
inline std::optional<std::string> validate_aggregations(const protocol::Query& q) {
    if (!q.aggregations) return std::nullopt;
    for (std::size_t i = 0; i < q.aggregations->size(); ++i) {
        const auto& a = (*q.aggregations)[i];
        if (a.func != protocol::AggregateFunction::Count && (!a.field || a.field->empty())) {
            return "aggregations[" + std::to_string(i) + "]: " + std::string(protocol::enum_name(a.func)) +
                   " needs a field";
        }
    }
    return std::nullopt;
}

class GroupTable {
public:
    struct Group {
        std::string id;
        const Value* first = nullptr;  // supplies the groupBy field values
        std::string_view first_key;    // its record key (the smallest seen)
        std::size_t count = 0;
        std::vector<detail::Accumulator> acc;  // one per aggregation
    };

    // The query must pass validate_aggregations.
    explicit GroupTable(const protocol::Query& q) {
        if (q.aggregations) aggregations_ = *q.aggregations;
        if (q.group_by) group_by_ = *q.group_by;
        for (const auto& a : aggregations_) fields_.emplace_back(a.field.value_or(""));
        for (const std::string& f : group_by_) group_paths_.emplace_back(f);
        if (group_by_.empty()) group("");
    }

    void add(std::string_view key, const Value& record) {
        id_.clear();
        for (const FieldPath& p : group_paths_) detail::append_bucket_part(id_, p.resolve(record));
        Group& g = group(id_);
        keep_first(g, key, &record);
        ++g.count;
        for (std::size_t i = 0; i < aggregations_.size(); ++i) {
            if (aggregations_[i].func != protocol::AggregateFunction::Count) g.acc[i].add(fields_[i].resolve(record));
        }
    }

    void merge(const Group& partial) {
        Group& g = group(partial.id);
        if (partial.first != nullptr) keep_first(g, partial.first_key, partial.first);
        g.count += partial.count;
        for (std::size_t i = 0; i < g.acc.size(); ++i) g.acc[i].merge(partial.acc[i]);
    }

    // Groups in first-seen order; addresses are stable.
    const std::deque<Group>& groups() const noexcept { return groups_; }

    // The final row value of a group.
    Value row(const Group& g) const {
        Value v = Value::map();
        v.set("__key", Value(g.id));
        v.set("__count", Value(g.count));
        for (std::size_t i = 0; i < aggregations_.size(); ++i) {
            const detail::Accumulator& acc = g.acc[i];
            const protocol::Aggregation& a = aggregations_[i];
            switch (a.func) {
                case protocol::AggregateFunction::Count: break;
                case protocol::AggregateFunction::Sum: v.set("__sum_" + *a.field, acc.sum_value()); break;
                case protocol::AggregateFunction::Min: v.set("__min_" + *a.field, acc.min ? *acc.min : Value()); break;
                case protocol::AggregateFunction::Max: v.set("__max_" + *a.field, acc.max ? *acc.max : Value()); break;
                case protocol::AggregateFunction::Avg:
                    v.set("__avg_" + *a.field, acc.numbers ? Value(acc.sum / static_cast<double>(acc.numbers)) : Value());
                    break;
            }
        }
        for (std::size_t i = 0; i < group_paths_.size(); ++i) {
            const Value* gv = g.first ? group_paths_[i].resolve(*g.first) : nullptr;
            v.set(group_by_[i], gv ? *gv : Value());
        }
        return v;
    }

    // The group's row plus `__first` and `__partial` (see the top of the file).
    Value partial_row(const Group& g) const {
        Value v = row(g);
        v.set("__first", g.first ? Value(std::string(g.first_key)) : Value());
        Value::Array accumulators;
        for (const detail::Accumulator& acc : g.acc) accumulators.push_back(acc.to_value());
        v.set("__partial", Value(std::move(accumulators)));
        return v;
    }

    // One group's final row from its parts' partial rows (at least one, each
    // a partial_row of a table of this query for the same group).
    Value merge_partial_rows(std::span<const Value* const> parts) const {
        Group merged{std::string(), nullptr, {}, 0, std::vector<detail::Accumulator>(aggregations_.size())};
        const Value* first_part = nullptr;
        std::string_view first_key;
        for (const Value* part : parts) {
            if (const Value* id = part->find("__key"); id && id->is_string()) merged.id = id->as_string();
            if (const Value* count = part->find("__count"); count && count->is_integer()) {
                merged.count += count->type() == Value::Type::UInt ? count->as_uint() : static_cast<std::uint64_t>(count->as_int());
            }
            const Value* first = part->find("__first");
            if (first && first->is_string() && (first_part == nullptr || first->as_string() < first_key)) {
                first_part = part;
                first_key = first->as_string();
            }
            const Value* accumulators = part->find("__partial");
            if (accumulators == nullptr || !accumulators->is_array()) continue;
            for (std::size_t i = 0; i < merged.acc.size() && i < accumulators->as_array().size(); ++i) {
                merged.acc[i].merge(detail::Accumulator::from_value(accumulators->as_array()[i]));
            }
        }
        Value v = row(merged);
        for (const std::string& field : group_by_) {
            const Value* gv = first_part ? first_part->find(field) : nullptr;
            v.set(field, gv ? *gv : Value());
        }
        return v;
    }

private:
    static void keep_first(Group& g, std::string_view key, const Value* record) {
        if (g.first == nullptr || key < g.first_key) {
            g.first = record;
            g.first_key = key;
        }
    }

    Group& group(const std::string& id) {
        const auto [it, inserted] = index_.try_emplace(id, groups_.size());
        if (inserted) groups_.push_back(Group{id, nullptr, {}, 0, std::vector<detail::Accumulator>(aggregations_.size())});
        return groups_[it->second];
    }

    std::vector<protocol::Aggregation> aggregations_;
    std::vector<std::string> group_by_;
    std::vector<FieldPath> fields_;
    std::vector<FieldPath> group_paths_;
    std::deque<Group> groups_;
    std::unordered_map<std::string, std::size_t> index_;
    std::string id_;  // reused per record
};

}  // namespace query
TOPGUN_END_NAMESPACE
