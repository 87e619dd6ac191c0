// One-shot query execution over an LWW map (PROTOCOL.md §8.3): the rows of a
// QUERY_RESP. Pipeline, as the reference's initial snapshot:
//
//   read (planner.hpp: scan, index candidates, or an ordered-index walk that
//   stops after the page) → filter (Predicate::from_query) → [group +
//   aggregate] → rows after the cursor → sort (SortOrder; key ascending without
//   sort) → limit (limit+1 rows decide has_more) → clamp to max_records →
//   `fields` projection.
//
// Grouping: groupBy and/or aggregations turn the filtered records into one row
// per group, keyed by its bucket id, with value
//   {__key, __count, __sum_<f>, __min_<f>, __max_<f>, __avg_<f>, <groupBy field>…}
// Those rows then go through the same sort, cursor, limit and projection
// steps, so "sort by __count desc" pages like any other query. Aggregations
// without groupBy form one group over all filtered rows (bucket id "", present
// even when no record matches), as SQL does; the reference requires groupBy.
// count counts the group's records (a field is ignored); sum and avg take the
// numeric values of the field (sum stays an integer while exact, else a double
// that becomes an integer when whole; avg is a double, nil without numbers);
// min/max use the SortOrder value order over non-nil values (nil when none).
// Bucket ids follow the reference (per group field: N for nil/missing, B0/B1,
// I<int>;, F<f64 bits>;, S<len>:<string>) except that a whole double groups
// with the equal integer (as predicates compare them) and other values become
// V<len>:<hex of their MsgPack>.
//
// An invalid or foreign cursor is reported ("invalid") and ignored: the page
// starts at the beginning. Errors (a predicate that does not compile, full-text
// ops without a search index, sum/min/max/avg without a field) give no rows.
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/msgpack/writer.hpp>
#include <topgun/protocol/query.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/query/cursor.hpp>
#include <topgun/query/field_path.hpp>
#include <topgun/query/index_set.hpp>
#include <topgun/query/planner.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/query/sort_order.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

struct QueryOptions {
    std::size_t max_records = 10000;  // the reference's max_query_records
    const Value* auth = nullptr;      // principal for "auth.<path>" valueRefs
    // Secondary indexes of the queried map (ignored when they belong to another).
    const IndexSet* indexes = nullptr;
};

struct QueryResult {
    std::vector<protocol::QueryResultEntry> rows;
    bool has_more = false;
    // Only when has_more and the query has a limit and a sort, as the reference.
    std::optional<std::string> next_cursor;
    protocol::CursorStatus cursor_status = protocol::CursorStatus::None;
    std::optional<std::string> error;
};

namespace detail {

struct SourceRow {
    std::string_view key;
    const Value* value;
};

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
                id += 'F' + std::to_string(std::bit_cast<std::uint64_t>(d)) + ';';
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

struct Accumulator {
    std::int64_t int_sum = 0;
    bool exact = true;  // every value an integer and no overflow so far
    double sum = 0;
    std::size_t numbers = 0;
    const Value* min = nullptr;
    const Value* max = nullptr;

    void add(const Value* v) {
        if (v == nullptr || v->is_nil()) return;
        if (min == nullptr || SortOrder::compare_values(*v, *min) < 0) min = v;
        if (max == nullptr || SortOrder::compare_values(*v, *max) > 0) max = v;
        if (!v->is_number()) return;
        ++numbers;
        sum += v->to_double();
        if (exact) {
            if (v->type() == Value::Type::Int) {
                exact = !__builtin_add_overflow(int_sum, v->as_int(), &int_sum);
            } else {
                exact = false;
            }
        }
    }

    Value sum_value() const {
        if (exact) return Value(int_sum);
        // Whole sums are integers on the wire, as the reference emits them.
        if (std::isfinite(sum) && sum == std::floor(sum) && sum >= -9223372036854775808.0 &&
            sum < 9223372036854775808.0) {
            return Value(static_cast<std::int64_t>(sum));
        }
        return Value(sum);
    }
};

struct Group {
    std::string id;
    const SourceRow* first = nullptr;  // supplies the groupBy field values
    std::size_t count = 0;
    std::vector<Accumulator> acc;  // one per aggregation
};

// Groups `rows` into owned keys and values (see the header comment).
inline bool aggregate(const std::vector<SourceRow>& rows, const protocol::Query& q, std::vector<std::string>& keys,
                      std::vector<Value>& values, std::string& error) {
    static const std::vector<protocol::Aggregation> no_aggregations;
    static const std::vector<std::string> no_group_by;
    const auto& aggs = q.aggregations ? *q.aggregations : no_aggregations;
    const auto& group_by = q.group_by ? *q.group_by : no_group_by;

    std::vector<FieldPath> agg_paths;
    for (std::size_t i = 0; i < aggs.size(); ++i) {
        const auto& a = aggs[i];
        if (a.func != protocol::AggregateFunction::Count && (!a.field || a.field->empty())) {
            error = "aggregations[" + std::to_string(i) + "]: " + std::string(protocol::enum_name(a.func)) +
                    " needs a field";
            return false;
        }
        agg_paths.emplace_back(a.field.value_or(""));
    }
    std::vector<FieldPath> group_paths;
    for (const std::string& f : group_by) group_paths.emplace_back(f);

    std::vector<Group> groups;
    std::unordered_map<std::string, std::size_t> index;
    if (group_by.empty()) {
        groups.push_back(Group{"", nullptr, 0, std::vector<Accumulator>(aggs.size())});
        index.emplace("", 0);
    }
    std::string id;
    for (const SourceRow& row : rows) {
        id.clear();
        for (const FieldPath& p : group_paths) append_bucket_part(id, p.resolve(*row.value));
        auto [it, inserted] = index.try_emplace(id, groups.size());
        if (inserted) groups.push_back(Group{id, &row, 0, std::vector<Accumulator>(aggs.size())});
        Group& g = groups[it->second];
        ++g.count;
        for (std::size_t i = 0; i < aggs.size(); ++i) {
            if (aggs[i].func != protocol::AggregateFunction::Count) g.acc[i].add(agg_paths[i].resolve(*row.value));
        }
    }

    keys.reserve(groups.size());
    values.reserve(groups.size());
    for (const Group& g : groups) {
        Value v = Value::map();
        v.set("__key", Value(g.id));
        v.set("__count", Value(g.count));
        for (std::size_t i = 0; i < aggs.size(); ++i) {
            const Accumulator& acc = g.acc[i];
            switch (aggs[i].func) {
                case protocol::AggregateFunction::Count: break;
                case protocol::AggregateFunction::Sum: v.set("__sum_" + *aggs[i].field, acc.sum_value()); break;
                case protocol::AggregateFunction::Min:
                    v.set("__min_" + *aggs[i].field, acc.min ? *acc.min : Value());
                    break;
                case protocol::AggregateFunction::Max:
                    v.set("__max_" + *aggs[i].field, acc.max ? *acc.max : Value());
                    break;
                case protocol::AggregateFunction::Avg:
                    v.set("__avg_" + *aggs[i].field,
                          acc.numbers ? Value(acc.sum / static_cast<double>(acc.numbers)) : Value());
                    break;
            }
        }
        for (std::size_t i = 0; i < group_paths.size(); ++i) {
            const Value* gv = g.first ? group_paths[i].resolve(*g.first->value) : nullptr;
            v.set(group_by[i], gv ? *gv : Value());
        }
        keys.push_back(g.id);
        values.push_back(std::move(v));
    }
    return true;
}

inline Value project(const Value& v, const std::vector<std::string>& fields) {
    if (!v.is_map()) return v;
    Value::Map out;
    for (const auto& member : v.as_map()) {
        if (std::find(fields.begin(), fields.end(), member.first) != fields.end()) out.push_back(member);
    }
    return Value(std::move(out));
}

}  // namespace detail

inline QueryResult execute(const LWWMap& map, const protocol::Query& q, const QueryOptions& options = {}) {
    QueryResult result;
    std::string error;
    const std::optional<Predicate> predicate = Predicate::from_query(q, &error);
    if (!predicate) {
        result.error = std::move(error);
        return result;
    }
    if (predicate->needs_search_index()) {
        result.error = "predicate: full-text ops need a search index";
        return result;
    }

    const SortOrder order = q.sort ? SortOrder(*q.sort) : SortOrder();
    const std::size_t n = order.size();

    std::optional<Cursor> cursor;
    std::vector<const Value*> cursor_slots;
    if (q.cursor) {
        cursor = Cursor::decode(*q.cursor);
        if (cursor && (cursor->shape != query_shape_hash(q) || cursor->slots.size() != n)) cursor.reset();
        result.cursor_status = cursor ? protocol::CursorStatus::Valid : protocol::CursorStatus::Invalid;
        if (cursor) cursor_slots = cursor->slot_pointers();
    }

    const std::size_t limit = q.limit ? *q.limit : std::numeric_limits<std::size_t>::max();
    const std::size_t page = std::min(limit, options.max_records);

    // The one place that decides whether a record belongs to the result.
    const auto matches = [&](std::string_view key, const Value& value) {
        static_cast<void>(key);
        return predicate->evaluate(value, options.auth);
    };

    // Source rows, read as the planner decides (planner.hpp).
    std::vector<detail::SourceRow> sources;
    const IndexSet* indexes = options.indexes && &options.indexes->map() == &map ? options.indexes : nullptr;
    const Plan plan = plan_query(*predicate, q, indexes, page, map.size());
    const std::uint64_t now = map.clock().wall_clock();
    const auto consider = [&](std::string_view key) {
        const Value* value = map.get(key, now);
        if (value != nullptr && matches(key, *value)) sources.push_back(detail::SourceRow{key, value});
    };
    switch (plan.source) {
        case Plan::Source::Scan:
            map.for_each([&](std::string_view key, const Value& value) {
                if (matches(key, value)) sources.push_back(detail::SourceRow{key, &value});
            });
            break;
        case Plan::Source::Keys:
            for (const std::string_view key : plan.keys) consider(key);
            break;
        case Plan::Source::Walk: {
            // Rows arrive in final order: one beyond the page decides has_more.
            std::optional<OrderedIndex::Position> after;
            if (cursor) after = OrderedIndex::Position{cursor_slots[0], cursor->key};
            plan.index->walk(plan.descending, after, plan.range, [&](std::string_view key) {
                consider(key);
                return sources.size() <= page;
            });
            break;
        }
    }

    // Group rows own their keys and values; both vectors are complete before
    // rows point into them.
    std::vector<std::string> group_keys;
    std::vector<Value> group_values;
    if (q.group_by || q.aggregations) {
        if (!detail::aggregate(sources, q, group_keys, group_values, error)) {
            result.error = std::move(error);
            return result;
        }
        sources.clear();
        for (std::size_t i = 0; i < group_keys.size(); ++i) {
            sources.push_back(detail::SourceRow{group_keys[i], &group_values[i]});
        }
    }


    // Candidate rows with their slots resolved once: row r's at [r*n, r*n+n).
    std::vector<std::size_t> rows;
    std::vector<const Value*> slots;
    rows.reserve(sources.size());
    slots.reserve(sources.size() * n);
    for (std::size_t s = 0; s < sources.size(); ++s) {
        const std::size_t at = slots.size();
        for (std::size_t i = 0; i < n; ++i) slots.push_back(order.resolve(i, *sources[s].value));
        if (cursor && order.compare(std::span(slots).subspan(at, n), sources[s].key, cursor_slots, cursor->key) <= 0) {
            slots.resize(at);
            continue;
        }
        rows.push_back(s);
    }

    std::vector<std::size_t> idx(rows.size());
    for (std::size_t r = 0; r < idx.size(); ++r) idx[r] = r;
    const std::span<const Value* const> all_slots(slots);
    auto slots_of = [&](std::size_t r) { return all_slots.subspan(r * n, n); };
    auto less = [&](std::size_t a, std::size_t b) {
        return order.compare(slots_of(a), sources[rows[a]].key, slots_of(b), sources[rows[b]].key) < 0;
    };

    // One row beyond the page tells whether there is more.
    const std::size_t take = page < idx.size() ? page + 1 : idx.size();
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(take), idx.end(), less);
    result.has_more = idx.size() > page;
    const std::size_t count = std::min(idx.size(), page);

    result.rows.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const detail::SourceRow& src = sources[rows[idx[i]]];
        result.rows.push_back(protocol::QueryResultEntry{
            std::string(src.key), q.projection ? detail::project(*src.value, *q.projection) : *src.value});
    }

    if (result.has_more && q.limit && q.sort && count > 0) {
        Cursor next;
        next.shape = query_shape_hash(q);
        next.key = result.rows.back().key;
        for (const Value* v : slots_of(idx[count - 1])) next.slots.push_back(v ? *v : Value());
        result.next_cursor = next.encode();
    }
    return result;
}

}  // namespace query
TOPGUN_END_NAMESPACE
