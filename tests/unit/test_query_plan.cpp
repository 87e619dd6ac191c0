#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/partition.hpp>
#include <topgun/query/aggregation.hpp>
#include <topgun/query/index_set.hpp>
#include <topgun/query/live_query.hpp>
#include <topgun/query/query_engine.hpp>
#include <topgun/query/query_plan.hpp>

#include <catch2/catch.hpp>

#include "query_builders.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace topgun;
using protocol::PredicateNode;
using protocol::Query;
using protocol::SortDirection;
using query::QueryPart;
using topgun::testing::leaf;
using topgun::testing::obj;

namespace {

// The same records held whole and split into partitions by key.
struct Partitioned {
    HLC hlc{"n1"};
    LWWMap whole{hlc};
    std::vector<std::unique_ptr<LWWMap>> parts;

    explicit Partitioned(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) parts.push_back(std::make_unique<LWWMap>(hlc));
    }
    LWWMap& part_of(std::string_view key) { return *parts[partition_of(key) % parts.size()]; }
    void set(const std::string& key, const Value& v) {
        whole.set(key, v);
        part_of(key).set(key, v);
    }
    void remove(const std::string& key) {
        whole.remove(key);
        part_of(key).remove(key);
    }
};

void require_same(const query::QueryResult& a, const query::QueryResult& b) {
    REQUIRE(a.error == b.error);
    REQUIRE(a.rows == b.rows);
    REQUIRE(a.has_more == b.has_more);
    REQUIRE(a.next_cursor == b.next_cursor);
    REQUIRE(a.cursor_status == b.cursor_status);
}

}  // namespace

TEST_CASE("query plan: property: scatter/gather over partitions equals one map", "[query][dag]") {
    std::mt19937 rng(4242);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::vector<std::string> fields = {"a", "b", "n.x"};
    // Halves sum exactly in any order, so partial sums merge to the same totals.
    auto random_value = [&]() -> Value {
        switch (pick(8)) {
            case 0: return Value();
            case 1: return Value(static_cast<int>(pick(6)) - 1);
            case 2: return Value(static_cast<double>(pick(10)) / 2.0);
            case 3: return Value(std::string(1 + pick(2), static_cast<char>('p' + pick(3))));
            case 4: return Value(pick(2) == 0);
            case 5: return Value(Value::Array{Value(static_cast<int>(pick(3)))});
            default: return Value(static_cast<int>(pick(4)));
        }
    };
    auto random_record = [&]() -> Value {
        Value v = Value::map();
        for (const std::string& field : {std::string("a"), std::string("b")}) {
            if (pick(5) != 0) v.set(field, random_value());
        }
        if (pick(3) != 0) v.set("n", obj({{"x", random_value()}}));
        return v;
    };
    std::function<PredicateNode(int)> random_predicate = [&](int depth) -> PredicateNode {
        static const std::vector<std::string> leaves = {"eq", "in", "gt", "lte", "between", "neq", "isNull", "startsWith"};
        if (depth < 2 && pick(3) == 0) {
            static const std::vector<std::string> combinators = {"and", "or", "not"};
            PredicateNode n{.op = combinators[pick(3)]};
            std::vector<PredicateNode> children;
            for (std::size_t i = 0, count = n.op == "not" ? 1 : pick(4); i < count; ++i) {
                children.push_back(random_predicate(depth + 1));
            }
            n.children = std::move(children);
            return n;
        }
        PredicateNode n = leaf(leaves[pick(leaves.size())], fields[pick(fields.size())], random_value());
        if (n.op == "isNull") n.value = protocol::Nullable<Value>();
        if (n.op == "between") n.value = Value(Value::Array{random_value(), random_value()});
        if (n.op == "in") n.value = Value(Value::Array{random_value(), random_value()});
        if (n.op == "startsWith") n.value = Value(std::string(pick(2), static_cast<char>('p' + pick(3))));
        return n;
    };

    for (int iteration = 0; iteration < 100; ++iteration) {
        Partitioned data(1 + pick(5));
        for (std::size_t i = 0, n = pick(80); i < n; ++i) {
            const std::string key = "k" + std::to_string(pick(60));
            if (pick(8) == 0) {
                data.remove(key);
            } else {
                data.set(key, random_record());
            }
        }
        std::vector<std::unique_ptr<query::IndexSet>> indexes;
        std::vector<QueryPart> parts;
        const bool indexed = pick(2) == 0;
        for (auto& part : data.parts) {
            indexes.push_back(std::make_unique<query::IndexSet>(*part));
            if (indexed) {
                indexes.back()->add_hash("a");
                indexes.back()->add_ordered("b");
                indexes.back()->add_ordered("n.x");
            }
            parts.push_back(QueryPart{part.get(), indexes.back().get()});
        }

        for (int round = 0; round < 5; ++round) {
            Query q;
            if (pick(4) != 0) q.predicate = random_predicate(0);
            if (pick(4) != 0) {
                protocol::Sort s;
                for (std::size_t i = 0, n = 1 + pick(2); i < n; ++i) {
                    s.keys.push_back({pick(8) == 0 ? std::string("_key") : fields[pick(fields.size())],
                                      pick(2) ? SortDirection::Asc : SortDirection::Desc});
                }
                q.sort = s;
            }
            if (pick(3) != 0) q.limit = static_cast<std::uint32_t>(pick(10));
            if (pick(6) == 0) q.projection = std::vector<std::string>{"a"};
            if (pick(4) == 0) {
                using F = protocol::AggregateFunction;
                if (pick(3) != 0) q.group_by = std::vector<std::string>{fields[pick(fields.size())]};
                q.aggregations = std::vector<protocol::Aggregation>{
                    {F::Count, std::nullopt}, {F::Sum, "b"}, {F::Min, "a"}, {F::Max, "n.x"}, {F::Avg, "b"}};
                if (pick(2) == 0 && q.sort) q.sort->keys[0].field = "__count";
            }
            const query::QueryOptions options{.max_records = pick(6) == 0 ? 1 + pick(5) : 10000};
            for (int page = 0; page < 20; ++page) {
                INFO("iteration " << iteration << " round " << round << " page " << page);
                const auto expected = query::execute(data.whole, q, options);
                const auto actual = query::execute(parts, q, options);
                require_same(actual, expected);
                if (!expected.next_cursor) break;
                q.cursor = expected.next_cursor;
            }
        }
    }
}

TEST_CASE("query plan: stepping with a small budget gives the run's result", "[query][dag]") {
    HLC hlc("n1");
    LWWMap map(hlc);
    for (int i = 0; i < 3000; ++i) map.set("k" + std::to_string(i), obj({{"v", Value(i % 97)}, {"g", Value(i % 5)}}));
    Query q;
    q.predicate = leaf("gt", "v", Value(10));
    q.sort = protocol::Sort{{protocol::SortField{"v", SortDirection::Desc}}};
    q.limit = 25;
    const QueryPart part{&map, nullptr};

    query::QueryRun stepped(std::span<const QueryPart>(&part, 1), q);
    std::size_t steps = 0;
    dag::Status status = dag::Status::Running;
    while (status == dag::Status::Running) {
        status = stepped.step(1);
        ++steps;
    }
    CHECK(status == dag::Status::Done);
    CHECK(steps > 10);  // the work really was spread over many steps
    const auto result = stepped.result();
    REQUIRE(result.rows.size() == 25);
    CHECK(result.rows == query::execute(map, q).rows);
    CHECK(stepped.explain() == "scan");
}

TEST_CASE("query plan: cancellation and invalid queries report errors", "[query][dag]") {
    HLC hlc("n1");
    LWWMap map(hlc);
    for (int i = 0; i < 5000; ++i) map.set("k" + std::to_string(i), obj({{"v", Value(i)}}));
    const QueryPart part{&map, nullptr};

    query::QueryRun run(std::span<const QueryPart>(&part, 1), Query{});
    CHECK(run.step(1) == dag::Status::Running);
    run.cancel();
    CHECK(run.step(1) == dag::Status::Cancelled);
    const auto cancelled = run.result();
    REQUIRE(cancelled.error);
    CHECK(cancelled.error->find("cancelled") != std::string::npos);
    CHECK(cancelled.rows.empty());

    Query bad;
    bad.predicate = leaf("gtx", "v", Value(1));
    query::QueryRun invalid(std::span<const QueryPart>(&part, 1), bad);
    CHECK(invalid.run() == dag::Status::Failed);
    REQUIRE(invalid.result().error);
    CHECK(invalid.result().error->find("gtx") != std::string::npos);

    CHECK(query::execute(std::span<const QueryPart>(), Query{}).error);
}

TEST_CASE("query plan: an indexed sort + limit walks only the page", "[query][dag]") {
    HLC hlc("n1");
    LWWMap map(hlc);
    for (int i = 0; i < 20000; ++i) map.set("k" + std::to_string(i), obj({{"price", Value(i)}}));
    query::IndexSet indexes(map);
    indexes.add_ordered("price");
    Query q;
    q.predicate = leaf("gte", "price", Value(5000));
    q.sort = protocol::Sort{{protocol::SortField{"price", SortDirection::Asc}}};
    q.limit = 10;
    const QueryPart part{&map, &indexes};
    query::QueryRun run(std::span<const QueryPart>(&part, 1), q);
    CHECK(run.explain() == "walk(price asc, range)");
    CHECK(run.run() == dag::Status::Done);
    const auto r = run.result();
    REQUIRE(r.rows.size() == 10);
    CHECK(r.rows.front().key == "k5000");
    CHECK(r.has_more);
    REQUIRE(r.next_cursor);

    // The next page resumes at the cursor through the index.
    q.cursor = r.next_cursor;
    const auto next = query::execute(map, q, {.indexes = &indexes});
    REQUIRE(next.rows.size() == 10);
    CHECK(next.rows.front().key == "k5010");
}

TEST_CASE("query plan: for_each_match reads the candidates or scans, and visits what the filter keeps",
          "[query][dag]") {
    HLC hlc("n1");
    LWWMap map(hlc);
    for (int i = 0; i < 3000; ++i) map.set("k" + std::to_string(i), obj({{"g", Value(i % 30)}, {"v", Value(i)}}));
    map.remove("k30");  // a tombstone in group 0: read by neither plan
    query::IndexSet indexes(map);
    indexes.add_hash("g");
    const auto predicate = query::Predicate::from_query([] {
        Query q;
        q.predicate = leaf("eq", "g", Value(0));
        return q;
    }());
    REQUIRE(predicate);
    // The filter keeps half of the group (v a multiple of 60), so what is visited is what it kept, not what was read.
    const auto keeps_half = [](const Value& value) { return value.as_map()[1].second.as_int() % 60 == 0; };

    for (const query::IndexSet* with : std::initializer_list<const query::IndexSet*>{&indexes, nullptr}) {
        CAPTURE(with != nullptr);
        std::size_t read = 0;
        std::map<std::string, std::int64_t> visited;
        const auto status = query::for_each_match(
            QueryPart{&map, with}, *predicate,
            [&](std::string_view, const Value& value) {
                ++read;
                return predicate->evaluate(value) && keeps_half(value);
            },
            [&](std::string_view key, const Value& value) {
                visited.emplace(std::string(key), value.as_map()[1].second.as_int());
            });
        CHECK(status == dag::Status::Done);
        // Group 0 holds k0, k30 (removed), k60 ... k2970: 99 live records, of which 50 are kept.
        CHECK(visited.size() == 50);
        CHECK_FALSE(visited.contains("k2970"));
        CHECK(visited.at("k2940") == 2940);
        // With the hash index only the group's records are read; without it, every live record.
        CHECK(read == (with != nullptr ? 99U : 2999U));
    }

    // Indexes of another map are not used.
    LWWMap other(hlc);
    query::IndexSet other_indexes(other);
    other_indexes.add_hash("g");
    std::size_t read = 0;
    query::for_each_match(
        QueryPart{&map, &other_indexes}, *predicate, [&](std::string_view, const Value&) { return ++read, false; },
        [](std::string_view, const Value&) { FAIL("nothing was kept"); });
    CHECK(read == 2999);
}

TEST_CASE("aggregation: property: the partial rows of any split merge into the rows of one table", "[query][aggregation]") {
    using F = protocol::AggregateFunction;
    std::mt19937 rng(977);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    // Ints, halves (exact in any order of addition), their whole doubles (42.0
    // groups with 42), strings, nil: every case a group or an accumulator
    // tells apart.
    auto random_value = [&]() -> Value {
        switch (pick(6)) {
            case 0: return Value();
            case 1: return Value(static_cast<double>(pick(8)) / 2.0);
            case 2: return Value(static_cast<double>(pick(3)));
            case 3: return Value(std::string(1, static_cast<char>('p' + pick(3))));
            default: return Value(static_cast<int>(pick(3)));
        }
    };
    for (int iteration = 0; iteration < 200; ++iteration) {
        Partitioned data(1 + pick(4));
        for (std::size_t i = 0, n = pick(40); i < n; ++i) {
            Value record = Value::map();
            if (pick(6) != 0) record.set("g", random_value());
            if (pick(6) != 0) record.set("x", random_value());
            data.set("k" + std::to_string(pick(50)), record);
        }
        Query q;
        if (pick(3) != 0) q.group_by = std::vector<std::string>{"g"};
        q.aggregations = std::vector<protocol::Aggregation>{{F::Count, std::nullopt}, {F::Sum, "x"}, {F::Min, "x"},
                                                            {F::Max, "x"}, {F::Avg, "x"}};
        query::GroupTable whole(q);
        data.whole.for_each([&](std::string_view key, const Value& v) { whole.add(key, v); });
        std::vector<std::unique_ptr<query::GroupTable>> tables;
        std::map<std::string, std::vector<Value>> partials;  // group id -> each part's partial row
        for (auto& part : data.parts) {
            tables.push_back(std::make_unique<query::GroupTable>(q));
            part->for_each([&](std::string_view key, const Value& v) { tables.back()->add(key, v); });
            for (const auto& g : tables.back()->groups()) partials[g.id].push_back(tables.back()->partial_row(g));
        }
        INFO("iteration " << iteration);
        REQUIRE(partials.size() == whole.groups().size());
        const query::GroupTable merger(q);
        for (const auto& g : whole.groups()) {
            std::vector<const Value*> parts;
            for (const Value& p : partials.at(g.id)) parts.push_back(&p);
            std::shuffle(parts.begin(), parts.end(), rng);  // arrival order does not matter
            REQUIRE(query::detail::same_on_wire(merger.merge_partial_rows(parts), whole.row(g)));  // 1 and 1.0 tie as min alike
        }
    }
}
