// The query object of QUERY_SUB and the predicate tree shared by queries and
// searches (PROTOCOL.md §8.1, §8.2).
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/fields.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

enum class SortDirection : std::uint8_t { Asc, Desc };
template <>
struct EnumNames<SortDirection> {
    static constexpr std::array<std::string_view, 2> names = {"asc", "desc"};
};

struct SortField {
    std::string field;
    SortDirection direction = SortDirection::Asc;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("field", s.field);
        v("direction", s.direction);
    }
    friend bool operator==(const SortField&, const SortField&) = default;
};

// Sort keys in either wire form: the array [{field, direction}] the TS client
// and the Rust server use, or the record {field: direction} of the Zod schema
// (and older SDKs). Re-encodes in the form it was decoded from.
struct Sort {
    enum class Form : std::uint8_t { Array, Record };
    std::vector<SortField> keys;
    Form form = Form::Array;

    void encode(msgpack::Writer& w) const {
        if (form == Form::Record) {
            w.map_header(keys.size());
            for (const SortField& k : keys) {
                w.string(k.field);
                w.string(enum_name(k.direction));
            }
        } else {
            encode_field(w, keys);
        }
    }
    bool decode(msgpack::Reader& r) {
        keys.clear();
        if (r.peek() != msgpack::Kind::Map) {
            form = Form::Array;
            return decode_field(r, keys);
        }
        form = Form::Record;
        StringMap<SortDirection> record;
        if (!decode_field(r, record)) return false;
        keys.reserve(record.size());
        for (auto& [field, direction] : record) keys.push_back(SortField{std::move(field), direction});
        return true;
    }
    friend bool operator==(const Sort&, const Sort&) = default;
};

enum class AggregateFunction : std::uint8_t { Count, Sum, Min, Max, Avg };
template <>
struct EnumNames<AggregateFunction> {
    static constexpr std::array<std::string_view, 5> names = {"count", "sum", "min", "max", "avg"};
};

struct Aggregation {
    AggregateFunction func = AggregateFunction::Count;
    std::optional<std::string> field;  // COUNT is per group and needs none

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("func", s.func);
        v("field", s.field);
    }
    friend bool operator==(const Aggregation&, const Aggregation&) = default;
};

// One node of a predicate tree. `op` stays a string: the op sets of the TS
// client and the Rust server differ, so the query engine decides what it
// supports. The full-text fields (`query` ... `maxExpansions`) are the TS
// client's; `valueRef` is the Rust server's.
struct PredicateNode {
    std::string op;
    std::optional<std::string> attribute;
    Nullable<Value> value;
    std::optional<std::vector<PredicateNode>> children;
    std::optional<std::string> value_ref;
    std::optional<std::string> query;
    Nullable<Value> match_options;
    std::optional<std::uint32_t> slop;
    std::optional<std::string> prefix;
    std::optional<std::uint32_t> max_expansions;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("op", s.op);
        v("attribute", s.attribute);
        v("value", s.value);
        v("children", s.children);
        v("valueRef", s.value_ref);
        v("query", s.query);
        v("matchOptions", s.match_options);
        v("slop", s.slop);
        v("prefix", s.prefix);
        v("maxExpansions", s.max_expansions);
    }
    friend bool operator==(const PredicateNode&, const PredicateNode&) = default;
};

struct Query {
    std::optional<StringMap<Value>> where;
    std::optional<PredicateNode> predicate;
    std::optional<Sort> sort;
    std::optional<std::uint32_t> limit;
    std::optional<std::string> cursor;
    std::optional<std::vector<std::string>> group_by;
    std::optional<std::vector<Aggregation>> aggregations;
    // Wire name "fields": the TS client sends its whole filter as the query,
    // projection included.
    std::optional<std::vector<std::string>> projection;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("where", s.where);
        v("predicate", s.predicate);
        v("sort", s.sort);
        v("limit", s.limit);
        v("cursor", s.cursor);
        v("groupBy", s.group_by);
        v("aggregations", s.aggregations);
        v("fields", s.projection);
    }
    friend bool operator==(const Query&, const Query&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
