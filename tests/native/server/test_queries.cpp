// Live queries over the wire (PROTOCOL.md §8): QUERY_SUB's snapshot and the
// QUERY_UPDATEs that follow, on a node whose maps are spread over four shards.
// The oracle is the core's one-shot query::execute over one map holding the
// same records: whatever the shards, the client must see what it gives.
#include "in_process.hpp"

#include "auth/jwt.hpp"

#include <topgun/query/query_engine.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <random>

using namespace topgun;
using namespace topgun::protocol;
using namespace topgun::server;
using namespace topgun::server::testing;

namespace {

Value item(std::int64_t score, std::string owner, std::int64_t group) {
    Value v = Value::map();
    v.set("score", Value(score));
    v.set("owner", Value(std::move(owner)));
    v.set("group", Value(group));
    return v;
}

PredicateNode leaf(std::string op, std::string attribute, Value value) {
    PredicateNode n;
    n.op = std::move(op);
    n.attribute = std::move(attribute);
    n.value = std::move(value);
    return n;
}

Query by_score(std::optional<std::uint32_t> limit, SortDirection direction = SortDirection::Desc) {
    Query q;
    q.predicate = leaf("gte", "score", Value(10));
    q.sort = Sort{{SortField{"score", direction}}, Sort::Form::Array};
    q.limit = limit;
    return q;
}

// A client's copy of a live query: the snapshot, then every update applied.
struct ClientView {
    std::map<std::string, Value> rows;

    void apply(const QueryResp& resp) {
        rows.clear();
        for (const auto& r : resp.results) rows[r.key] = r.value;
    }
    void apply(const QueryUpdate& u) {
        if (u.change_type == ChangeType::Leave) {
            CHECK(rows.erase(u.key) == 1);
        } else {
            if (u.change_type == ChangeType::Enter) CHECK(rows.count(u.key) == 0);
            if (u.change_type == ChangeType::Update) CHECK(rows.count(u.key) == 1);
            rows[u.key] = u.value;
        }
    }
};

std::map<std::string, Value> as_map(const std::vector<QueryResultEntry>& rows) {
    std::map<std::string, Value> out;
    for (const auto& r : rows) out[r.key] = r.value;
    return out;
}

// Every record written through the server, kept in one map for the oracle.
class Oracle {
public:
    Oracle() : map_(clock_) {}
    void set(const std::string& key, Value v) { map_.set(key, std::move(v)); }
    void remove(const std::string& key) { map_.remove(key); }
    query::QueryResult run(const Query& q) const { return query::execute(map_, q); }

private:
    HLC clock_{"oracle"};
    LWWMap map_;
};

class Writer {
public:
    Writer(TestClient& client, Oracle& oracle, std::string node = "writer")
        : client_(client), oracle_(oracle), node_(std::move(node)) {}

    void put(const std::string& map, const std::string& key, Value value) {
        oracle_.set(key, value);
        client_.send(OpBatch{{put_op(next_id(), map, key, std::move(value), next_stamp())}, {}, {}});
    }
    void remove(const std::string& map, const std::string& key) {
        oracle_.remove(key);
        ClientOp op;
        op.id = next_id();
        op.map_name = map;
        op.key = key;
        op.op_type = OpType::Remove;
        op.record = LWWRecordData{Value(), next_stamp(), {}};
        client_.send(OpBatch{{op}, {}, {}});
    }

private:
    std::string next_id() { return std::to_string(++ids_); }
    // Strictly increasing over every writer, so each write wins over the last.
    Timestamp next_stamp() {
        static std::uint32_t counter = 0;
        return stamp(now_millis(), ++counter, node_);
    }
    TestClient& client_;
    Oracle& oracle_;
    std::string node_;
    std::uint64_t ids_ = 0;
};

ServerConfig four_shards() { return test_config(4); }

// A node with four shards, a writing client, a reading client and the oracle.
struct FourShards {
    InProcessServer server{four_shards()};
    std::unique_ptr<TestClient> writer_client = server.connect();
    std::unique_ptr<TestClient> reader = server.connect();
    Oracle oracle;
    Writer writer{*writer_client, oracle};
};

// A subscriber that writes too (its own writes are not echoed) and another writer.
struct SubscriberAndOther {
    InProcessServer server{four_shards()};
    std::unique_ptr<TestClient> subscriber = server.connect();
    std::unique_ptr<TestClient> other = server.connect();
    Oracle oracle;
    Writer own{*subscriber, oracle, "own"};
    Writer theirs{*other, oracle, "theirs"};
};

}  // namespace

TEST_CASE_METHOD(FourShards, "QUERY_SUB: the snapshot merges every shard's rows, sorted, limited and projected; the cursor pages on",
          "[server][queries]") {
    for (int i = 0; i < 60; ++i) writer.put("items", "k" + std::to_string(i), item((i * 37) % 50, "u", i % 3));
    writer_client->take();

    Query q = by_score(7);
    q.projection = std::vector<std::string>{"score"};
    reader->send(QuerySub{"q1", "items", q, {}});
    const QueryResp first = reader->take_one<QueryResp>();
    const query::QueryResult expected = oracle.run(q);
    CHECK(first.query_id == "q1");
    CHECK(first.results == expected.rows);
    REQUIRE(first.results.size() == 7);
    CHECK(first.results[0].value == [] {
        Value v = Value::map();
        v.set("score", Value(49));
        return v;
    }());
    CHECK(first.has_more == std::optional<bool>(true));
    CHECK(first.cursor_status == CursorStatus::None);
    REQUIRE(first.next_cursor.has_value());

    // Page after page, the cursor walks the same rows the oracle's pages hold.
    std::optional<std::string> cursor = first.next_cursor;
    std::size_t seen = first.results.size();
    std::size_t pages = 1;
    while (cursor) {
        Query next = q;
        next.cursor = cursor;
        reader->send(QuerySub{"q" + std::to_string(++pages), "items", next, {}});
        const QueryResp page = reader->take_one<QueryResp>();
        CHECK(page.cursor_status == CursorStatus::Valid);
        CHECK(page.results == oracle.run(next).rows);
        seen += page.results.size();
        cursor = page.next_cursor;
    }
    std::size_t matching = 0;
    for (int i = 0; i < 60; ++i) matching += (i * 37) % 50 >= 10 ? 1 : 0;
    CHECK(seen == matching);

    // Without a limit: every match; groupBy rows merged over the shards.
    reader->send(QuerySub{"all", "items", by_score(std::nullopt), {}});
    CHECK(reader->take_one<QueryResp>().results == oracle.run(by_score(std::nullopt)).rows);
    Query grouped;
    grouped.group_by = std::vector<std::string>{"group"};
    grouped.aggregations = std::vector<Aggregation>{{AggregateFunction::Count, {}}, {AggregateFunction::Sum, "score"},
                                                    {AggregateFunction::Max, "score"}};
    grouped.sort = Sort{{SortField{"group", SortDirection::Asc}}, Sort::Form::Array};
    reader->send(QuerySub{"groups", "items", grouped, {}});
    const QueryResp groups = reader->take_one<QueryResp>();
    CHECK(groups.results.size() == 3);
    CHECK(groups.results == oracle.run(grouped).rows);
}

TEST_CASE_METHOD(FourShards, "QUERY_SUB: hasMore and nextCursor hold when every match lives on one shard", "[server][queries]") {
    // limit + 1 matches, all owned by shard 2: that shard alone decides hasMore.
    int written = 0;
    for (int i = 0; written < 4; ++i) {
        const std::string key = "s" + std::to_string(i);
        if (server.node().shards().owner_of(key) != 2) continue;
        writer.put("items", key, item(20 + written++, "u", 0));
    }
    writer_client->take();
    reader->send(QuerySub{"q", "items", by_score(3), {}});
    const QueryResp resp = reader->take_one<QueryResp>();
    CHECK(resp.results == oracle.run(by_score(3)).rows);
    CHECK(resp.has_more == std::optional<bool>(true));
    CHECK(resp.next_cursor.has_value());
}

TEST_CASE("Live queries: after every random write each client's copy equals the query run from scratch",
          "[server][queries][property]") {
    const auto seed = static_cast<std::uint32_t>(GENERATE(take(3, random(1, 1000000))));
    CAPTURE(seed);
    std::mt19937 rng(seed);
    InProcessServer server(four_shards());
    auto writer_client = server.connect();
    auto reader = server.connect();
    Oracle oracle;
    Writer writer(*writer_client, oracle);
    // Some scores halves (sums stop being exact integers, yet add up alike in
    // any order) and some groups doubles (42.0 groups with 42; the record
    // with the smallest key decides which one shows).
    auto random_item = [&rng] {
        Value v = item(static_cast<std::int64_t>(rng() % 40), "u", rng() % 3);
        if (rng() % 5 == 0) v.set("score", Value(static_cast<double>(rng() % 40) + 0.5));
        if (rng() % 7 == 0) v.set("group", Value(static_cast<double>(v.find("group")->as_int())));
        return v;
    };
    for (int i = 0; i < 30; ++i) writer.put("items", "k" + std::to_string(i), random_item());

    std::map<std::string, Query> queries;
    queries["top"] = by_score(5);
    queries["bottom"] = by_score(3, SortDirection::Asc);
    queries["all"] = by_score(std::nullopt);
    Query projected = by_score(4);
    projected.projection = std::vector<std::string>{"group"};
    queries["projected"] = projected;
    Query grouped;
    grouped.group_by = std::vector<std::string>{"group"};
    grouped.aggregations = std::vector<Aggregation>{{AggregateFunction::Count, {}}, {AggregateFunction::Sum, "score"}};
    queries["groups"] = grouped;
    Query stats = by_score(2);  // filtered on the shards; the two biggest groups over the merged rows
    stats.group_by = std::vector<std::string>{"group"};
    stats.aggregations = std::vector<Aggregation>{{AggregateFunction::Count, {}}, {AggregateFunction::Sum, "score"},
                                                  {AggregateFunction::Min, "score"}, {AggregateFunction::Max, "score"},
                                                  {AggregateFunction::Avg, "score"}};
    stats.sort = Sort{{SortField{"__count", SortDirection::Desc}}, Sort::Form::Array};
    queries["stats"] = stats;
    Query totals;  // no groupBy: one group over everything, present when nothing matches
    totals.predicate = leaf("gte", "score", Value(35));
    totals.aggregations = std::vector<Aggregation>{{AggregateFunction::Count, {}}, {AggregateFunction::Avg, "score"}};
    queries["totals"] = totals;

    std::map<std::string, ClientView> views;
    for (const auto& [id, q] : queries) reader->send(QuerySub{id, "items", q, {}});
    for (const QueryResp& resp : reader->take_all<QueryResp>()) views[resp.query_id].apply(resp);
    REQUIRE(views.size() == queries.size());

    for (int step = 0; step < 150; ++step) {
        const std::string key = "k" + std::to_string(rng() % 40);
        if (rng() % 4 == 0) {
            writer.remove("items", key);
        } else {
            writer.put("items", key, random_item());
        }
        for (const QueryUpdate& u : reader->take_all<QueryUpdate>()) views[u.query_id].apply(u);
        for (const auto& [id, q] : queries) {
            INFO("step " << step << ", query " << id);
            REQUIRE(views[id].rows == as_map(oracle.run(q).rows));
        }
    }
    CHECK(writer_client->take_all<QueryUpdate>().empty());
}

TEST_CASE_METHOD(SubscriberAndOther, "Live queries: the writer gets no echo of its own keys, but rows it displaces still leave",
                 "[server][queries]") {
    own.put("items", "a", item(30, "u", 0));
    own.put("items", "b", item(20, "u", 0));
    subscriber->send(QuerySub{"top2", "items", by_score(2), {}});
    CHECK(subscriber->take_one<QueryResp>().results.size() == 2);

    // Its own write of "c" tops the window: no ENTER for c, but b is pushed out.
    own.put("items", "c", item(40, "u", 0));
    auto updates = subscriber->take_all<QueryUpdate>();
    REQUIRE(updates.size() == 1);
    CHECK(updates[0].key == "b");
    CHECK(updates[0].change_type == ChangeType::Leave);

    // Another client's write is reported.
    theirs.put("items", "a", item(50, "u", 0));
    updates = subscriber->take_all<QueryUpdate>();
    REQUIRE(updates.size() == 1);
    CHECK(updates[0].key == "a");
    CHECK(updates[0].change_type == ChangeType::Update);
}

TEST_CASE_METHOD(SubscriberAndOther, "Live queries: full-text leaves over records on every shard", "[server][queries]") {
    const auto doc = [](std::string body, std::int64_t score) {
        Value v = Value::map();
        v.set("body", Value(std::move(body)));
        v.set("score", Value(score));
        return v;
    };
    for (int i = 0; i < 12; ++i) own.put("docs", "d" + std::to_string(i), doc(i % 3 == 0 ? "red apple" : "green pear", i));

    PredicateNode apple;
    apple.op = "match";
    apple.attribute = "body";
    apple.query = "APPLE";  // analysed (lower-cased) like the indexed text
    Query q;
    q.predicate = apple;
    q.sort = Sort{{SortField{"score", SortDirection::Desc}}, Sort::Form::Array};
    subscriber->send(QuerySub{"text", "docs", q, {}});
    const QueryResp snapshot = subscriber->take_one<QueryResp>();
    CAPTURE(snapshot.error.value_or(""));
    REQUIRE_FALSE(snapshot.error);
    std::vector<std::string> keys;
    for (const auto& row : snapshot.results) keys.push_back(row.key);
    CHECK(keys == std::vector<std::string>{"d9", "d6", "d3", "d0"});

    theirs.put("docs", "d1", doc("apple pie", 1));
    auto updates = subscriber->take_all<QueryUpdate>();
    REQUIRE(updates.size() == 1);
    CHECK(updates[0].key == "d1");
    CHECK(updates[0].change_type == ChangeType::Enter);
    theirs.put("docs", "d3", doc("plain", 3));
    updates = subscriber->take_all<QueryUpdate>();
    REQUIRE(updates.size() == 1);
    CHECK(updates[0].key == "d3");
    CHECK(updates[0].change_type == ChangeType::Leave);

    // Answers that depend on the whole map's statistics are refused, saying why.
    PredicateNode scored = apple;
    scored.match_options = Value(Value::Map{{"minScore", Value(1.5)}});
    Query refused;
    refused.predicate = scored;
    subscriber->send(QuerySub{"scored", "docs", refused, {}});
    const QueryResp resp = subscriber->take_one<QueryResp>();
    CHECK(resp.code == std::optional<std::string>("INVALID_QUERY"));
    REQUIRE(resp.error);
    CHECK(resp.error->find("SEARCH_SUB") != std::string::npos);
}

TEST_CASE_METHOD(FourShards, "QUERY_UNSUB and disconnect detach the query from every shard; a repeated queryId replaces it", "[server][queries]") {
    writer.put("items", "a", item(15, "u", 0));
    auto attached = [&] {
        std::size_t n = 0;
        for (std::size_t s = 0; s < server.node().shards().size(); ++s) n += server.node().state(s).queries().size();
        return n;
    };

    reader->send(QuerySub{"q", "items", by_score(std::nullopt), {}});
    CHECK(reader->take_one<QueryResp>().results.size() == 1);
    CHECK(attached() == 4);
    reader->send(QuerySub{"q", "items", by_score(std::nullopt), {}});  // replaces, not adds
    CHECK(reader->take_one<QueryResp>().results.size() == 1);
    CHECK(attached() == 4);

    reader->send(QueryUnsub{"q"});
    CHECK(attached() == 0);
    writer.put("items", "b", item(25, "u", 0));
    CHECK(reader->take_all<QueryUpdate>().empty());

    reader->send(QuerySub{"q", "items", by_score(std::nullopt), {}});
    CHECK(reader->take_one<QueryResp>().results.size() == 2);
    reader->send(QuerySub{"other", "items", by_score(1), {}});
    reader->take();
    CHECK(attached() == 8);
    reader->disconnect();
    server.poll();
    CHECK(attached() == 0);
    writer.put("items", "c", item(35, "u", 0));  // no one to tell, nothing breaks
}

TEST_CASE("A query that cannot run gets QUERY_RESP with an error and INVALID_QUERY, and nothing is attached",
          "[server][queries][errors]") {
    InProcessServer server(four_shards());
    auto reader = server.connect();
    Query unknown_op;
    unknown_op.predicate = leaf("frobnicate", "score", Value(1));
    Query full_text;
    full_text.predicate = leaf("match", "title", Value("hello"));
    Query sum_without_field;
    sum_without_field.group_by = std::vector<std::string>{"group"};
    sum_without_field.aggregations = std::vector<Aggregation>{{AggregateFunction::Sum, {}}};
    for (const Query& q : {unknown_op, full_text, sum_without_field}) {
        reader->send(QuerySub{"bad", "items", q, {}});
        const QueryResp resp = reader->take_one<QueryResp>();
        CHECK(resp.query_id == "bad");
        CHECK(resp.results.empty());
        CHECK(resp.code == std::optional<std::string>("INVALID_QUERY"));
        REQUIRE(resp.error.has_value());
        CHECK(!resp.error->empty());
    }
    reader->send(QuerySub{"reserved", "_topgun_internal", by_score(1), {}});
    CHECK(reader->take_one<QueryResp>().code == std::optional<std::string>("INVALID_QUERY"));
    std::size_t attached = 0;
    for (std::size_t s = 0; s < server.node().shards().size(); ++s) attached += server.node().state(s).queries().size();
    CHECK(attached == 0);
}

TEST_CASE("valueRef auth.id filters by the authenticated subject", "[server][queries][auth]") {
    constexpr const char* secret = "query-secret";
    ServerConfig config = four_shards();
    config.no_auth = false;
    config.jwt_secret = secret;
    auto created = auth::JwtVerifier::create(auth::JwtConfig{secret, {}, {}});
    InProcessServer server(config, nullptr, std::make_unique<auth::JwtVerifier>(std::get<auth::JwtVerifier>(std::move(created))));
    auto login = [&](const std::string& subject) {
        auto c = server.connect();
        const auto now = static_cast<std::int64_t>(now_millis() / 1000);
        c->send(Auth{auth::sign_hs256(nlohmann::json{{"sub", subject}, {"exp", now + 600}}, secret), {}, {}});
        c->take();
        return c;
    };
    auto alice = login("alice");
    auto bob = login("bob");
    Oracle oracle;
    Writer writer(*bob, oracle);
    writer.put("items", "a1", item(11, "alice", 0));
    writer.put("items", "b1", item(12, "bob", 0));

    Query mine;
    PredicateNode owner;
    owner.op = "eq";
    owner.attribute = "owner";
    owner.value_ref = "auth.id";
    mine.predicate = owner;
    alice->send(QuerySub{"mine", "items", mine, {}});
    const QueryResp resp = alice->take_one<QueryResp>();
    REQUIRE(resp.results.size() == 1);
    CHECK(resp.results[0].key == "a1");
    writer.put("items", "a2", item(13, "alice", 0));
    writer.put("items", "b2", item(14, "bob", 0));
    const auto updates = alice->take_all<QueryUpdate>();
    REQUIRE(updates.size() == 1);
    CHECK(updates[0].key == "a2");
}

TEST_CASE_METHOD(FourShards, "Live queries stay exact while the merge drops the tombstones of rows that left",
                 "[server][queries]") {
    for (int i = 0; i < 150; ++i) writer.put("items", "k" + std::to_string(i), item(10 + i, "u", 0));
    reader->send(QuerySub{"all", "items", by_score(std::nullopt), {}});
    ClientView view;
    view.apply(reader->take_one<QueryResp>());
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < 150; ++i) writer.remove("items", "k" + std::to_string(i));  // 150 tombstones: pruned on the way
        for (int i = 0; i < 150; i += 2) writer.put("items", "k" + std::to_string(i), item(20 + i + round, "u", 0));
        for (const QueryUpdate& u : reader->take_all<QueryUpdate>()) view.apply(u);
        CHECK(view.rows == as_map(oracle.run(by_score(std::nullopt)).rows));
        CHECK(view.rows.size() == 75);
    }
}
