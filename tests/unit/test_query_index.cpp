#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/query/hash_index.hpp>
#include <topgun/query/index_set.hpp>
#include <topgun/query/ordered_index.hpp>
#include <topgun/query/planner.hpp>
#include <topgun/query/query_engine.hpp>

#include <catch2/catch.hpp>

#include "fake_clock.hpp"
#include "query_builders.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace topgun;
using protocol::PredicateNode;
using protocol::Query;
using protocol::SortDirection;
using query::IndexSet;
using query::OrderedIndex;
using topgun::testing::leaf;
using topgun::testing::obj;

namespace {

std::set<std::string> keys_of(const query::RecordRefs* refs) {
    std::set<std::string> out;
    if (refs) {
        for (const RecordRef r : *refs) out.emplace(r.key());
    }
    return out;
}

std::vector<std::string> walk(const OrderedIndex& index, bool descending,
                              std::optional<OrderedIndex::Position> after = std::nullopt,
                              std::optional<OrderedIndex::Range> range = std::nullopt) {
    std::vector<std::string> out;
    index.walk(descending, after, range, [&](RecordRef r, const Value*) {
        out.emplace_back(r.key());
        return true;
    });
    return out;
}

Query sorted_query(std::string field, SortDirection dir, std::uint32_t limit) {
    Query q;
    q.sort = protocol::Sort{{protocol::SortField{std::move(field), dir}}};
    q.limit = limit;
    return q;
}

struct Fixture {
    topgun::testing::FakeClock clock;
    HLC hlc{"n1", {.clock = clock.source()}};
    LWWMap map{hlc};
};

}  // namespace

TEST_CASE("hash index follows set, remove, merge, expiry and clear", "[query][index]") {
    Fixture f;
    f.map.set("a", obj({{"n", Value(42)}}));
    IndexSet indexes(f.map);
    const auto& index = indexes.add_hash("n");
    f.map.set("b", obj({{"n", Value(42.0)}}));
    f.map.set("c", obj({{"n", Value("42")}}));
    f.map.set("d", obj({{"n", Value(Value::Array{Value(42)})}}));
    f.map.set("e", obj({{"m", Value(42)}}));

    // 42 and 42.0 share a bucket, as `eq` compares them.
    CHECK(keys_of(index.equal(Value(42))) == std::set<std::string>{"a", "b"});
    CHECK(keys_of(index.equal(Value(42.0))) == std::set<std::string>{"a", "b"});
    CHECK(keys_of(index.equal(Value("42"))) == std::set<std::string>{"c"});
    CHECK(keys_of(&index.non_scalar()) == std::set<std::string>{"d"});
    CHECK(index.size() == 4);

    f.map.set("a", obj({{"n", Value(7)}}));
    CHECK(keys_of(index.equal(Value(42))) == std::set<std::string>{"b"});
    f.map.remove("b");
    CHECK(index.equal(Value(42)) == nullptr);

    LWWRecord remote{obj({{"n", Value(7)}}), Timestamp{f.clock.now + 10, 0, "n2"}, std::nullopt};
    REQUIRE(f.map.merge("c", remote) == LWWMap::MergeResult::Applied);
    CHECK(keys_of(index.equal(Value(7))) == std::set<std::string>{"a", "c"});

    // A record that expires stays filed until the map drops it, and a write
    // over the expired record re-files it correctly.
    f.map.set("t", obj({{"n", Value(9)}}), 100);
    f.clock.now += 1000;
    CHECK(keys_of(index.equal(Value(9))) == std::set<std::string>{"t"});
    f.map.set("t", obj({{"n", Value(10)}}));
    CHECK(index.equal(Value(9)) == nullptr);
    f.map.set("u", obj({{"n", Value(9)}}), 100);
    f.clock.now += 1000;
    f.map.remove_expired();
    CHECK(index.equal(Value(9)) == nullptr);

    f.map.clear();
    CHECK(index.size() == 0);
    CHECK(index.distinct_values() == 0);
}

TEST_CASE("ordered index walks in the query sort order from any cursor position", "[query][index]") {
    Fixture f;
    IndexSet indexes(f.map);
    const auto& index = indexes.add_ordered("v");
    std::mt19937 rng(7);
    const std::vector<Value> values = {Value(1),      Value(1.0),  Value(2.5), Value(-3),        Value("b"),
                                       Value("ab"),   Value(""),   Value(true), Value(false),    Value(),
                                       Value(Value::Array{Value(1)}), Value(9007199254740993LL)};
    for (int i = 0; i < 60; ++i) {
        Value record = Value::map();
        if (rng() % 6 != 0) record.set("v", values[rng() % values.size()]);
        f.map.set("k" + std::to_string(rng() % 40), record);
    }

    for (const bool descending : {false, true}) {
        Query q = sorted_query("v", descending ? SortDirection::Desc : SortDirection::Asc, 1000);
        std::vector<std::string> expected;
        for (const auto& row : query::execute(f.map, q).rows) expected.push_back(row.key);
        CHECK(walk(index, descending) == expected);

        // After each row, the walk continues exactly with the rest.
        const query::SortOrder order(*q.sort);
        for (std::size_t i = 0; i < expected.size(); ++i) {
            const Value* record = f.map.get(expected[i]);
            const OrderedIndex::Position after{order.resolve(0, *record), expected[i]};
            CHECK(walk(index, descending, after) ==
                  std::vector<std::string>(expected.begin() + static_cast<std::ptrdiff_t>(i) + 1, expected.end()));
        }
    }

    // Ranges keep to their type class and bounds, inclusive.
    const auto in_range = walk(index, false, std::nullopt, OrderedIndex::Range{Value(1), Value(2.5)});
    for (const auto& key : in_range) {
        const Value* v = f.map.get(key)->find("v");
        REQUIRE(v != nullptr);
        CHECK(v->is_number());
        CHECK(v->to_double() >= 1);
        CHECK(v->to_double() <= 2.5);
    }
    CHECK(walk(index, false, std::nullopt, OrderedIndex::Range{Value(3), Value(1)}).empty());
    CHECK(walk(index, false, std::nullopt, OrderedIndex::Range{Value(1), Value("b")}).empty());
    CHECK(walk(index, false, std::nullopt, OrderedIndex::Range{Value(true), std::nullopt}).empty());
}

TEST_CASE("planner: scan, candidate keys or an index walk", "[query][index]") {
    Fixture f;
    for (int i = 0; i < 2000; ++i) {
        f.map.set("k" + std::to_string(i),
                  obj({{"owner", Value("u" + std::to_string(i % 100))}, {"price", Value(i)}, {"tag", Value(i % 2 == 0)}}));
    }
    IndexSet indexes(f.map);
    indexes.add_hash("owner");
    indexes.add_ordered("price");

    auto plan_of = [&](const Query& q) {
        const auto predicate = query::Predicate::from_query(q);
        REQUIRE(predicate);
        const std::size_t page = q.limit ? *q.limit : 10000;
        return query::plan_query(*predicate, q, &indexes, page, f.map.size()).explain();
    };

    Query eq;
    eq.where = protocol::StringMap<Value>{{"owner", Value("u7")}};
    CHECK(plan_of(eq) == "keys(20)");

    Query either;
    either.predicate = PredicateNode{.op = "or",
                                     .children = std::vector<PredicateNode>{leaf("eq", "owner", Value("u1")),
                                                                             leaf("eq", "owner", Value("u2"))}};
    CHECK(plan_of(either) == "keys(40)");

    Query negated;
    negated.predicate = PredicateNode{.op = "not", .children = std::vector<PredicateNode>{leaf("eq", "owner", Value("u1"))}};
    CHECK(plan_of(negated) == "scan");

    Query unindexed;
    unindexed.where = protocol::StringMap<Value>{{"tag", Value(true)}};
    CHECK(plan_of(unindexed) == "scan");

    Query range = sorted_query("price", SortDirection::Desc, 10);
    range.predicate = leaf("between", "price", Value(Value::Array{Value(100), Value(1900)}));
    CHECK(plan_of(range) == "walk(price desc, range)");

    Query narrow = sorted_query("price", SortDirection::Asc, 10);
    narrow.where = protocol::StringMap<Value>{{"owner", Value("u3")}};
    CHECK(plan_of(narrow) == "keys(20)");

    Query small_range;
    small_range.predicate = leaf("lte", "price", Value(4));
    CHECK(plan_of(small_range) == "keys(5)");

    Query nothing;
    nothing.predicate = leaf("gt", "price", Value(true));
    CHECK(plan_of(nothing) == "keys(0)");

    // A walk returns the same page as the scan, with the same cursor.
    const auto with = query::execute(f.map, range, {.indexes = &indexes});
    const auto without = query::execute(f.map, range);
    REQUIRE(with.rows.size() == 10);
    CHECK(with.rows == without.rows);
    CHECK(with.next_cursor == without.next_cursor);

    // Indexes of another map are ignored.
    Fixture other;
    other.map.set("x", obj({{"owner", Value("u7")}}));
    CHECK(query::execute(other.map, eq, {.indexes = &indexes}).rows.size() == 1);
}

TEST_CASE("query engine: property: identical results with and without indexes", "[query][index]") {
    const std::uint32_t seed = 20261122;
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::vector<std::string> fields = {"a", "b", "n.x"};
    auto random_value = [&]() -> Value {
        switch (pick(10)) {
            case 0: return Value();
            case 1: return Value(static_cast<int>(pick(6)) - 1);
            case 2: return Value(static_cast<double>(pick(10)) / 2.0);
            case 3: return Value(std::string(1 + pick(2), static_cast<char>('p' + pick(3))));
            case 4: return Value(pick(2) == 0);
            case 5: return Value(Value::Array{Value(static_cast<int>(pick(3)))});
            case 6: return Value(9007199254740992LL + static_cast<std::int64_t>(pick(3)));
            case 7: return Value(9007199254740992.0);
            default: return Value(static_cast<int>(pick(4)));
        }
    };
    auto random_record = [&]() -> Value {
        if (pick(15) == 0) return random_value();  // scalar records have no fields
        Value v = Value::map();
        for (const std::string& field : {std::string("a"), std::string("b")}) {
            if (pick(5) != 0) v.set(field, random_value());
        }
        if (pick(3) != 0) v.set("n", pick(5) == 0 ? random_value() : obj({{"x", random_value()}}));
        return v;
    };
    std::function<PredicateNode(int)> random_predicate = [&](int depth) -> PredicateNode {
        static const std::vector<std::string> leaves = {"eq",      "in",  "gt",     "gte",    "lt",       "lte",
                                                        "between", "neq", "isNull", "startsWith", "eq", "between"};
        if (depth < 2 && pick(3) == 0) {
            static const std::vector<std::string> combinators = {"and", "or", "not"};
            PredicateNode n{.op = combinators[pick(3)]};
            std::vector<PredicateNode> children;
            const std::size_t count = n.op == "not" ? 1 : pick(4);
            for (std::size_t i = 0; i < count; ++i) children.push_back(random_predicate(depth + 1));
            n.children = std::move(children);
            return n;
        }
        PredicateNode n = leaf(leaves[pick(leaves.size())], fields[pick(fields.size())], random_value());
        if (n.op == "isNull") n.value = protocol::Nullable<Value>();
        if (n.op == "between") n.value = Value(Value::Array{random_value(), random_value()});
        if (n.op == "in" && pick(3) != 0) n.value = Value(Value::Array{random_value(), random_value(), random_value()});
        if (n.op == "startsWith") n.value = Value(std::string(pick(2), static_cast<char>('p' + pick(3))));
        return n;
    };

    std::map<std::string, int> plans;
    for (int iteration = 0; iteration < 120; ++iteration) {
        Fixture f;
        auto indexes = std::make_unique<IndexSet>(f.map);
        auto mutate = [&] {
            const std::string key = "k" + std::to_string(pick(50));
            switch (pick(10)) {
                case 0: f.map.remove(key); break;
                case 1: f.map.set(key, random_record(), 1 + pick(50)); break;
                case 2:
                    f.map.merge(key, LWWRecord{random_record(), Timestamp{f.clock.now + pick(20), 0, "n2"}, std::nullopt});
                    break;
                case 3: f.clock.now += pick(30); break;
                case 4:
                    if (pick(5) == 0) f.map.remove_expired();
                    break;
                default: f.map.set(key, random_record()); break;
            }
        };
        for (std::size_t i = 0, n = pick(60); i < n; ++i) mutate();
        for (const std::string& field : fields) {
            if (pick(2)) indexes->add_hash(field);
            if (pick(2)) indexes->add_ordered(field);
        }
        if (pick(20) == 0) f.map.clear();

        for (int round = 0; round < 6; ++round) {
            for (std::size_t i = 0, n = pick(15); i < n; ++i) mutate();
            Query q;
            if (pick(5) == 0) {
                q.where = protocol::StringMap<Value>{{fields[pick(fields.size())], random_value()}};
            } else if (pick(6) != 0) {
                q.predicate = random_predicate(0);
            }
            if (pick(5) != 0) {
                protocol::Sort s;
                for (std::size_t i = 0, n = pick(4) == 0 ? 2 : 1; i < n; ++i) {
                    s.keys.push_back({pick(8) == 0 ? std::string("_key") : fields[pick(fields.size())],
                                      pick(2) ? SortDirection::Asc : SortDirection::Desc});
                }
                q.sort = s;
            }
            if (pick(4) != 0) q.limit = static_cast<std::uint32_t>(pick(8));
            if (pick(10) == 0) q.group_by = std::vector<std::string>{fields[pick(fields.size())]};

            const query::QueryOptions plain{.max_records = pick(6) == 0 ? 1 + pick(5) : 10000};
            query::QueryOptions indexed = plain;
            indexed.indexes = indexes.get();
            const auto predicate = query::Predicate::from_query(q);
            REQUIRE(predicate);
            ++plans[query::plan_query(*predicate, q, indexes.get(), 10, f.map.size()).explain().substr(0, 4)];

            // Page through with cursors: every page must agree.
            for (int page = 0; page < 30; ++page) {
                INFO("iteration " << iteration << " round " << round << " page " << page);
                const auto expected = query::execute(f.map, q, plain);
                const auto actual = query::execute(f.map, q, indexed);
                REQUIRE(actual.error == expected.error);
                REQUIRE(actual.rows == expected.rows);
                REQUIRE(actual.has_more == expected.has_more);
                REQUIRE(actual.next_cursor == expected.next_cursor);
                REQUIRE(actual.cursor_status == expected.cursor_status);
                if (!expected.next_cursor) break;
                q.cursor = expected.next_cursor;
                if (pick(3) == 0) mutate();
            }
        }
    }
    // The test exercised every kind of plan.
    CHECK(plans["scan"] > 0);
    CHECK(plans["keys"] > 0);
    CHECK(plans["walk"] > 0);
}
