#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/query/cursor.hpp>
#include <topgun/query/query_engine.hpp>
#include <topgun/query/sort_order.hpp>

#include <catch2/catch.hpp>

#include "query_builders.hpp"

#include <algorithm>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace topgun;
using protocol::CursorStatus;
using protocol::PredicateNode;
using protocol::Query;
using protocol::SortDirection;
using query::QueryResult;

using topgun::testing::leaf;
using topgun::testing::obj;
using topgun::testing::sort_by;

namespace {

std::vector<std::string> keys_of(const QueryResult& r) {
    std::vector<std::string> out;
    for (const auto& row : r.rows) out.push_back(row.key);
    return out;
}

using Keys = std::vector<std::string>;

struct Fixture {
    HLC hlc{"n1"};
    LWWMap map{hlc};
};

}  // namespace

TEST_CASE("sort order: nil last in both directions, type classes, key tie-break", "[query]") {
    Fixture f;
    f.map.set("a", obj({{"v", Value(2)}}));
    f.map.set("b", obj({{"v", Value("x")}}));
    f.map.set("c", obj({{"v", Value(true)}}));
    f.map.set("d", obj({{"v", Value(1.5)}}));
    f.map.set("e", obj({{"w", Value(0)}}));  // missing v
    f.map.set("f", obj({{"v", Value()}}));   // explicit nil
    f.map.set("g", obj({{"v", Value(Value::Array{Value(1)})}}));
    f.map.set("h", obj({{"v", Value(2.0)}}));  // equal to a: key tie-break
    f.map.set("i", Value(7));                  // scalar record: v is missing

    Query q;
    q.sort = sort_by({{"v", SortDirection::Asc}});
    CHECK(keys_of(query::execute(f.map, q)) == Keys{"d", "a", "h", "b", "c", "g", "e", "f", "i"});
    q.sort = sort_by({{"v", SortDirection::Desc}});
    // Desc reverses values but not the key tie-break, and nil stays last.
    CHECK(keys_of(query::execute(f.map, q)) == Keys{"g", "c", "b", "a", "h", "d", "e", "f", "i"});
}

TEST_CASE("sort order: multi-key, _key, record form and no sort", "[query]") {
    Fixture f;
    f.map.set("k1", obj({{"city", Value("Oslo")}, {"age", Value(30)}}));
    f.map.set("k2", obj({{"city", Value("Bergen")}, {"age", Value(40)}}));
    f.map.set("k3", obj({{"city", Value("Oslo")}, {"age", Value(50)}}));
    f.map.set("k0", obj({{"city", Value("Bergen")}, {"age", Value(20)}}));

    Query q;
    CHECK(keys_of(query::execute(f.map, q)) == Keys{"k0", "k1", "k2", "k3"});

    q.sort = sort_by({{"city", SortDirection::Asc}, {"age", SortDirection::Desc}});
    CHECK(keys_of(query::execute(f.map, q)) == Keys{"k2", "k0", "k3", "k1"});

    q.sort->form = protocol::Sort::Form::Record;  // same keys, other wire form
    CHECK(keys_of(query::execute(f.map, q)) == Keys{"k2", "k0", "k3", "k1"});

    q.sort = sort_by({{"_key", SortDirection::Desc}});
    CHECK(keys_of(query::execute(f.map, q)) == Keys{"k3", "k2", "k1", "k0"});

    query::SortOrder order(sort_by({{"age", SortDirection::Asc}}));
    CHECK(order.compare_records("x", obj({{"age", Value(1)}}), "y", obj({{"age", Value(1.0)}})) < 0);
    CHECK(order.compare_records("y", obj({{"age", Value(1)}}), "x", obj({{"age", Value(1.0)}})) > 0);
    CHECK(order.compare_records("x", obj({}), "y", obj({{"age", Value("s")}})) > 0);
}

TEST_CASE("query engine: filtering with where, predicate, errors", "[query]") {
    Fixture f;
    f.map.set("a", obj({{"status", Value("open")}, {"n", Value(1)}}));
    f.map.set("b", obj({{"status", Value("closed")}, {"n", Value(2)}}));
    f.map.set("c", obj({{"status", Value("open")}, {"n", Value(3)}}));
    f.map.remove("c");
    f.map.set("d", obj({{"status", Value("open")}, {"n", Value(4)}}));

    Query q;
    q.where = protocol::StringMap<Value>{{"status", Value("open")}};
    CHECK(keys_of(query::execute(f.map, q)) == Keys{"a", "d"});

    q.predicate = leaf("gte", "n", Value(2));  // wins over where
    CHECK(keys_of(query::execute(f.map, q)) == Keys{"b", "d"});

    q.predicate = leaf("gtx", "n", Value(2));
    const auto bad = query::execute(f.map, q);
    CHECK(bad.rows.empty());
    REQUIRE(bad.error);
    CHECK(bad.error->find("gtx") != std::string::npos);

    PredicateNode m;
    m.op = "match";
    m.attribute = "status";
    m.query = "open";
    q.predicate = m;
    CHECK(query::execute(f.map, q).error);

    // valueRef against the principal.
    PredicateNode ref;
    ref.op = "eq";
    ref.attribute = "n";
    ref.value_ref = "auth.n";
    q.predicate = ref;
    const Value auth = obj({{"n", Value(4)}});
    CHECK(keys_of(query::execute(f.map, q, {.max_records = 10000, .auth = &auth})) == Keys{"d"});
    CHECK(query::execute(f.map, q).rows.empty());
}

TEST_CASE("query engine: limit, has_more, next_cursor only with sort and limit", "[query]") {
    Fixture f;
    for (int i = 0; i < 5; ++i) f.map.set("k" + std::to_string(i), obj({{"n", Value(i)}}));

    Query q;
    q.limit = 5;
    auto r = query::execute(f.map, q);
    CHECK(r.rows.size() == 5);
    CHECK_FALSE(r.has_more);
    CHECK(r.cursor_status == CursorStatus::None);

    q.limit = 2;
    r = query::execute(f.map, q);
    CHECK(keys_of(r) == Keys{"k0", "k1"});
    CHECK(r.has_more);
    CHECK_FALSE(r.next_cursor);  // no sort

    q.sort = sort_by({{"n", SortDirection::Desc}});
    r = query::execute(f.map, q);
    CHECK(keys_of(r) == Keys{"k4", "k3"});
    CHECK(r.next_cursor);

    q.limit = 0;
    r = query::execute(f.map, q);
    CHECK(r.rows.empty());
    CHECK(r.has_more);
}

TEST_CASE("query engine: max_records clamp", "[query]") {
    Fixture f;
    for (int i = 0; i < 30; ++i) f.map.set("k" + std::to_string(100 + i), obj({{"n", Value(i)}}));
    Query q;
    auto r = query::execute(f.map, q, {.max_records = 10, .auth = nullptr});
    CHECK(r.rows.size() == 10);
    CHECK(r.rows.front().key == "k100");
    CHECK(r.has_more);
    q.limit = 20;
    q.sort = sort_by({{"n", SortDirection::Asc}});
    r = query::execute(f.map, q, {.max_records = 10, .auth = nullptr});
    CHECK(r.rows.size() == 10);
    CHECK(r.has_more);
    CHECK(r.next_cursor);
    q.limit = 5;
    r = query::execute(f.map, q, {.max_records = 10, .auth = nullptr});
    CHECK(r.rows.size() == 5);
}

TEST_CASE("query engine: cursor pagination returns every row once, in order, across writes", "[query]") {
    Fixture f;
    std::mt19937 rng(7);
    for (int i = 0; i < 40; ++i) {
        Value v = obj({{"score", Value(static_cast<int>(rng() % 10))}});
        if (i % 7 == 0) v = obj({});  // missing score: sorts last
        f.map.set("r" + std::to_string(i), v);
    }

    Query q;
    q.sort = sort_by({{"score", SortDirection::Desc}});
    q.limit = 6;
    const query::SortOrder order(*q.sort);

    std::vector<std::pair<std::string, Value>> seen;
    std::set<std::string> written_after;
    int page = 0;
    for (;;) {
        const auto r = query::execute(f.map, q);
        CHECK(r.cursor_status == (q.cursor ? CursorStatus::Valid : CursorStatus::None));
        for (const auto& row : r.rows) seen.emplace_back(row.key, row.value);
        if (!r.has_more) {
            CHECK_FALSE(r.next_cursor);
            break;
        }
        REQUIRE(r.next_cursor);
        q.cursor = r.next_cursor;
        // Between pages: one row that sorts after the cursor (score -1 is the
        // lowest non-nil) and one before it (score 100).
        if (page < 3) {
            const std::string late = "late" + std::to_string(page);
            const std::string early = "early" + std::to_string(page);
            f.map.set(late, obj({{"score", Value(-1)}}));
            f.map.set(early, obj({{"score", Value(100)}}));
            written_after.insert(late);
        }
        ++page;
        REQUIRE(page < 100);
    }

    std::set<std::string> keys;
    for (const auto& [k, v] : seen) CHECK(keys.insert(k).second);  // exactly once
    for (std::size_t i = 1; i < seen.size(); ++i) {
        CHECK(order.compare_records(seen[i - 1].first, seen[i - 1].second, seen[i].first, seen[i].second) < 0);
    }
    for (int i = 0; i < 40; ++i) CHECK(keys.count("r" + std::to_string(i)) == 1);
    for (const auto& k : written_after) CHECK(keys.count(k) == 1);
    for (int i = 0; i < 3; ++i) CHECK(keys.count("early" + std::to_string(i)) == 0);
}

TEST_CASE("query engine: invalid, tampered and foreign cursors", "[query]") {
    Fixture f;
    for (int i = 0; i < 10; ++i) f.map.set("k" + std::to_string(i), obj({{"n", Value(i)}}));
    Query q;
    q.sort = sort_by({{"n", SortDirection::Asc}});
    q.limit = 3;
    const auto first = query::execute(f.map, q);
    REQUIRE(first.next_cursor);
    const std::string good = *first.next_cursor;

    q.cursor = good;
    auto r = query::execute(f.map, q);
    CHECK(r.cursor_status == CursorStatus::Valid);
    CHECK(keys_of(r) == Keys{"k3", "k4", "k5"});

    auto expect_invalid = [&](const std::string& cursor) {
        Query qq = q;
        qq.cursor = cursor;
        const auto res = query::execute(f.map, qq);
        CHECK(res.cursor_status == CursorStatus::Invalid);
        CHECK(keys_of(res) == Keys{"k0", "k1", "k2"});  // ignored: starts over
    };
    expect_invalid("");
    expect_invalid("not a cursor!");
    expect_invalid("AAAA");
    expect_invalid(good.substr(0, good.size() - 1));
    expect_invalid(good + "A");
    for (std::size_t i = 0; i < good.size(); ++i) {
        std::string t = good;
        t[i] = t[i] == 'A' ? 'B' : 'A';
        expect_invalid(t);
    }

    // Same cursor on another query shape.
    Query other = q;
    other.sort = sort_by({{"n", SortDirection::Desc}});
    other.cursor = good;
    CHECK(query::execute(f.map, other).cursor_status == CursorStatus::Invalid);
    other = q;
    other.where = protocol::StringMap<Value>{{"n", Value(1)}};
    CHECK(query::execute(f.map, other).cursor_status == CursorStatus::Invalid);
    // Limit and projection are not part of the shape.
    other = q;
    other.limit = 50;
    other.projection = std::vector<std::string>{"n"};
    CHECK(query::execute(f.map, other).cursor_status == CursorStatus::Valid);

    // A cursor round-trips its slots.
    query::Cursor c;
    c.shape = 0xFEDCBA9876543210ULL;
    c.key = "key\x01";
    c.slots = {Value(), Value(1.5), Value("s"), Value(std::numeric_limits<std::uint64_t>::max()),
               obj({{"a", Value(Value::Array{Value(true)})}})};
    const auto back = query::Cursor::decode(c.encode());
    REQUIRE(back);
    CHECK(back->shape == c.shape);
    CHECK(back->key == c.key);
    CHECK(back->slots == c.slots);
}

TEST_CASE("query engine: projection", "[query]") {
    Fixture f;
    f.map.set("a", obj({{"name", Value("A")}, {"age", Value(1)}, {"secret", Value("x")}}));
    f.map.set("b", Value("scalar"));
    Query q;
    q.projection = std::vector<std::string>{"age", "name", "absent"};
    const auto r = query::execute(f.map, q);
    REQUIRE(r.rows.size() == 2);
    CHECK(r.rows[0].value == obj({{"name", Value("A")}, {"age", Value(1)}}));
    CHECK(r.rows[0].value.find("secret") == nullptr);
    CHECK(r.rows[1].value == Value("scalar"));
}

TEST_CASE("query engine: a page refers to the map's records and owns projected and group rows", "[query]") {
    Fixture f;
    for (int i = 0; i < 20; ++i) f.map.set("k" + std::to_string(i), obj({{"n", Value(i % 7)}, {"g", Value(i % 3)}}));

    // Plain rows are the map's own values, in the result's order.
    Query sorted;
    sorted.sort = sort_by({{"n", SortDirection::Desc}});
    sorted.limit = 5;
    const auto copied = query::execute(f.map, sorted);
    const auto page = query::execute_page(f.map, sorted);
    REQUIRE(page.rows.size() == 5);
    CHECK(page.has_more == copied.has_more);
    CHECK(page.next_cursor == copied.next_cursor);
    for (std::size_t i = 0; i < page.rows.size(); ++i) {
        CHECK(page.rows[i].key == copied.rows[i].key);
        CHECK(page.rows[i].value == f.map.get(page.rows[i].key));
    }

    // Projected and group rows outlive the run that made them, and a moved
    // page keeps them where its rows point.
    Query projected = sorted;
    projected.projection = std::vector<std::string>{"g"};
    Query grouped;
    grouped.group_by = std::vector<std::string>{"g"};
    grouped.aggregations = std::vector<protocol::Aggregation>{{protocol::AggregateFunction::Count, std::nullopt}};
    for (const Query& q : {projected, grouped}) {
        const auto expected = query::execute(f.map, q);
        query::QueryPage moved = query::execute_page(f.map, q);
        const query::QueryPage kept = std::move(moved);
        REQUIRE(kept.rows.size() == expected.rows.size());
        for (std::size_t i = 0; i < kept.rows.size(); ++i) {
            CHECK(kept.rows[i].key == expected.rows[i].key);
            CHECK(*kept.rows[i].value == expected.rows[i].value);
            CHECK(kept.rows[i].value != f.map.get(kept.rows[i].key));
        }
    }
}

TEST_CASE("query engine: group by with aggregates", "[query]") {
    Fixture f;
    f.map.set("1", obj({{"dept", Value("eng")}, {"salary", Value(100)}, {"rating", Value(4.5)}}));
    f.map.set("2", obj({{"dept", Value("eng")}, {"salary", Value(200)}, {"rating", Value(3.5)}}));
    f.map.set("3", obj({{"dept", Value("ops")}, {"salary", Value(50)}}));
    f.map.set("4", obj({{"salary", Value(10)}, {"rating", Value("n/a")}}));  // no dept
    f.map.set("5", obj({{"dept", Value("eng")}, {"salary", Value(1.5)}}));
    f.map.set("6", obj({{"dept", Value("ops")}, {"salary", Value(50.0)}}));

    using F = protocol::AggregateFunction;
    Query q;
    q.group_by = std::vector<std::string>{"dept"};
    q.aggregations = std::vector<protocol::Aggregation>{
        {F::Count, std::nullopt}, {F::Sum, "salary"}, {F::Min, "salary"}, {F::Max, "salary"},
        {F::Avg, "salary"},       {F::Avg, "rating"}, {F::Max, "rating"}};
    auto r = query::execute(f.map, q);
    REQUIRE(r.rows.size() == 3);
    // Bucket ids, ascending: "N" < "S3:eng" < "S3:ops".
    CHECK(keys_of(r) == Keys{"N", "S3:eng", "S3:ops"});

    const Value& none = r.rows[0].value;
    CHECK(none.find("__key")->as_string() == "N");
    CHECK(none.find("__count")->as_int() == 1);
    CHECK(none.find("dept")->is_nil());
    CHECK(none.find("__sum_salary")->type() == Value::Type::Int);
    CHECK(none.find("__sum_salary")->as_int() == 10);
    CHECK(none.find("__avg_rating")->is_nil());
    CHECK(*none.find("__max_rating") == Value("n/a"));

    const Value& eng = r.rows[1].value;
    CHECK(eng.find("__count")->as_int() == 3);
    CHECK(eng.find("dept")->as_string() == "eng");
    CHECK(eng.find("__sum_salary")->type() == Value::Type::Double);
    CHECK(eng.find("__sum_salary")->as_double() == 301.5);
    CHECK(*eng.find("__min_salary") == Value(1.5));
    CHECK(*eng.find("__max_salary") == Value(200));
    CHECK(eng.find("__avg_salary")->as_double() == Approx(100.5));
    CHECK(eng.find("__avg_rating")->as_double() == 4.0);
    CHECK(*eng.find("__max_rating") == Value(4.5));

    const Value& ops = r.rows[2].value;
    CHECK(ops.find("__count")->as_int() == 2);
    CHECK(ops.find("__sum_salary")->type() == Value::Type::Int);  // 50 + 50.0 is whole
    CHECK(ops.find("__sum_salary")->as_int() == 100);
    CHECK(ops.find("__min_rating") == nullptr);  // not requested
    CHECK(ops.find("__max_rating")->is_nil());

    // Group rows sort and page like records.
    q.sort = sort_by({{"__count", SortDirection::Desc}});
    q.limit = 1;
    r = query::execute(f.map, q);
    CHECK(keys_of(r) == Keys{"S3:eng"});
    CHECK(r.has_more);
    REQUIRE(r.next_cursor);
    q.cursor = r.next_cursor;
    q.limit = 5;
    r = query::execute(f.map, q);
    CHECK(r.cursor_status == CursorStatus::Valid);
    CHECK(keys_of(r) == Keys{"S3:ops", "N"});

    // Aggregations without groupBy: one group over all filtered rows.
    Query all;
    all.aggregations = std::vector<protocol::Aggregation>{{F::Sum, "salary"}};
    all.where = protocol::StringMap<Value>{{"dept", Value("ops")}};
    r = query::execute(f.map, all);
    REQUIRE(r.rows.size() == 1);
    CHECK(r.rows[0].key.empty());
    CHECK(r.rows[0].value.find("__count")->as_int() == 2);
    CHECK(r.rows[0].value.find("__sum_salary")->as_int() == 100);
    all.where = protocol::StringMap<Value>{{"dept", Value("none")}};
    r = query::execute(f.map, all);
    REQUIRE(r.rows.size() == 1);
    CHECK(r.rows[0].value.find("__count")->as_int() == 0);

    // Integers and whole doubles group together.
    Query by_salary;
    by_salary.group_by = std::vector<std::string>{"salary"};
    by_salary.where = protocol::StringMap<Value>{{"dept", Value("ops")}};
    CHECK(keys_of(query::execute(f.map, by_salary)) == Keys{"I50;"});

    Query bad;
    bad.aggregations = std::vector<protocol::Aggregation>{{F::Sum, std::nullopt}};
    CHECK(query::execute(f.map, bad).error);
}

TEST_CASE("query engine: property: equals brute-force filter + sort + limit", "[query]") {
    std::mt19937 rng(12345);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::vector<std::string> fields = {"a", "b", "c"};
    auto random_value = [&]() -> Value {
        switch (pick(7)) {
            case 0: return Value();
            case 1: return Value(static_cast<int>(pick(5)));
            case 2: return Value(static_cast<double>(pick(10)) / 2.0);
            case 3: return Value(std::string(1, static_cast<char>('p' + pick(4))));
            case 4: return Value(pick(2) == 0);
            case 5: return Value(Value::Array{Value(static_cast<int>(pick(3)))});
            default: return Value(static_cast<int>(pick(3)));
        }
    };

    for (int iteration = 0; iteration < 150; ++iteration) {
        Fixture f;
        const std::size_t records = pick(40);
        for (std::size_t i = 0; i < records; ++i) {
            Value v = Value::map();
            for (const auto& field : fields) {
                if (pick(4) != 0) v.set(field, random_value());
            }
            f.map.set("k" + std::to_string(pick(60)), pick(10) == 0 ? random_value() : v);
            if (pick(8) == 0) f.map.remove("k" + std::to_string(pick(60)));
        }

        Query q;
        static const std::vector<std::string> ops = {"eq", "neq", "gt", "lt", "gte", "isNull", "isNotNull"};
        if (pick(3) != 0) {
            PredicateNode p = leaf(ops[pick(ops.size())], fields[pick(fields.size())], random_value());
            if (p.op == "isNull" || p.op == "isNotNull") p.value = protocol::Nullable<Value>();
            if (p.value.is_nil() && p.op != "isNull" && p.op != "isNotNull") p.value = Value(1);
            q.predicate = p;
        }
        if (pick(4) != 0) {
            protocol::Sort s;
            const std::size_t n = 1 + pick(3);
            for (std::size_t i = 0; i < n; ++i) {
                s.keys.push_back({pick(6) == 0 ? std::string("_key") : fields[pick(fields.size())],
                                  pick(2) ? SortDirection::Asc : SortDirection::Desc});
            }
            q.sort = s;
        }
        if (pick(3) != 0) q.limit = static_cast<std::uint32_t>(pick(12));
        const std::size_t max_records = pick(5) == 0 ? 1 + pick(8) : 10000;

        // Brute force.
        std::string error;
        const auto pred = query::Predicate::from_query(q, &error);
        REQUIRE(pred);
        std::vector<std::pair<std::string, Value>> all;
        f.map.for_each([&](std::string_view k, const Value& v) {
            if (pred->evaluate(v)) all.emplace_back(std::string(k), v);
        });
        const query::SortOrder order = q.sort ? query::SortOrder(*q.sort) : query::SortOrder();
        std::sort(all.begin(), all.end(), [&](const auto& x, const auto& y) {
            return order.compare_records(x.first, x.second, y.first, y.second) < 0;
        });
        const std::size_t page = std::min<std::size_t>(q.limit ? *q.limit : SIZE_MAX, max_records);
        const bool more = all.size() > page;
        if (more) all.resize(page);

        const auto r = query::execute(f.map, q, {.max_records = max_records, .auth = nullptr});
        REQUIRE_FALSE(r.error);
        REQUIRE(r.rows.size() == all.size());
        for (std::size_t i = 0; i < all.size(); ++i) {
            CHECK(r.rows[i].key == all[i].first);
            CHECK(r.rows[i].value == all[i].second);
        }
        CHECK(r.has_more == more);

        // Paging with cursors through the same data yields the same total order.
        if (q.sort && q.limit && *q.limit > 0) {
            Query pq = q;
            std::vector<std::string> paged;
            for (int guard = 0; guard < 200; ++guard) {
                const auto pr = query::execute(f.map, pq);
                for (const auto& row : pr.rows) paged.push_back(row.key);
                if (!pr.has_more) break;
                REQUIRE(pr.next_cursor);
                pq.cursor = pr.next_cursor;
            }
            Query unlimited = q;
            unlimited.limit.reset();
            CHECK(paged == keys_of(query::execute(f.map, unlimited)));
        }
    }
}
