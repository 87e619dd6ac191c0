// Secondary indexes through the admin API: created on every shard, listed,
// dropped; queries answer the same with and without them (live QUERY_SUB and
// POST /sync), on a node of four shards.
#include "in_process.hpp"

#include "service/index_catalog.hpp"
#include "session/admin_api.hpp"
#include "session/http_sync.hpp"

#include <topgun/protocol/http_sync.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <random>
#include <thread>

using namespace topgun;
using namespace topgun::protocol;
using namespace topgun::server;
using namespace topgun::server::testing;

namespace {

HttpAnswer admin(InProcessServer& server, std::string_view method, std::string_view path, std::string_view body = "") {
    std::optional<HttpAnswer> answer;
    serve_admin(server.node(), 0, AdminRequest{method, path, "", true, body}, [&](HttpAnswer a) { answer = std::move(a); });
    server.poll();
    REQUIRE(answer);
    return *answer;
}

Value item(std::mt19937& rng) {
    Value v = Value::map();
    v.set("color", Value(std::string(rng() % 2 ? "red" : "blue") + std::to_string(rng() % 3)));
    v.set("price", Value(static_cast<std::int64_t>(rng() % 50)));
    return v;
}

std::vector<QueryResultEntry> snapshot(TestClient& c, const std::string& id, const std::string& map, const Query& q) {
    QuerySub sub;
    sub.query_id = id;
    sub.map_name = map;
    sub.query = q;
    c.send(sub);
    return c.take_one<QueryResp>().results;
}

}  // namespace

TEST_CASE("Admin indexes: a drop racing an add reaches storage after it, as it took effect after it") {
    IndexCatalog catalog;
    const IndexDescriptor index{"items", "color", IndexDescriptor::Type::Hash};
    std::mutex stored_mutex;
    std::vector<std::string> submitted;  // "put" / "erase", in the order storage gets them
    auto submit = [&](std::vector<storage::Mutation> mutations) {
        std::lock_guard lock(stored_mutex);
        for (const storage::Mutation& m : mutations) submitted.push_back(std::holds_alternative<storage::MetaPut>(m) ? "put" : "erase");
    };
    std::thread dropper;
    catalog.add(index, [&](std::vector<storage::Mutation> mutations) {
        // Another admin request drops the index while this add is being submitted.
        dropper = std::thread([&] { catalog.remove(index.map_name, index.attribute, submit); });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        submit(std::move(mutations));
    });
    REQUIRE(dropper.joinable());  // the store called back
    dropper.join();
    CHECK(catalog.list().empty());
    CHECK(submitted == std::vector<std::string>{"put", "erase"});
}

TEST_CASE("Admin indexes: created on every shard, listed with their size, dropped; bad requests are 400") {
    InProcessServer server(test_config(4));
    auto writer = server.connect();
    std::mt19937 rng(3);
    std::vector<ClientOp> ops;
    for (int i = 0; i < 200; ++i) ops.push_back(put_op(std::to_string(i), "items", "k" + std::to_string(i), item(rng), stamp(now_millis(), static_cast<std::uint32_t>(i))));
    writer->send(OpBatch{ops, {}, {}});

    const auto created = admin(server, "POST", "/api/admin/indexes", R"({"mapName":"items","attribute":"color","indexType":"hash"})");
    CHECK(created.status == 201);
    CHECK(nlohmann::json::parse(created.body)["entryCount"] == 200);
    CHECK(admin(server, "POST", "/api/admin/indexes", R"({"mapName":"items","attribute":"color","indexType":"hash"})").status == 200);
    CHECK(admin(server, "POST", "/api/admin/indexes", R"({"mapName":"items","attribute":"price","indexType":"navigable"})").status == 201);
    for (std::size_t s = 0; s < server.node().shards().size(); ++s) {
        const query::IndexSet* set = server.node().state(s).indexes("items");
        REQUIRE(set != nullptr);
        CHECK(set->hash("color") != nullptr);
        CHECK(set->ordered("price") != nullptr);
    }

    const auto listed = nlohmann::json::parse(admin(server, "GET", "/api/admin/indexes").body);
    REQUIRE(listed["indexes"].size() == 2);
    CHECK(listed["indexes"][1]["indexType"] == "navigable");
    CHECK(listed["indexes"][1]["entryCount"] == 200);

    for (const std::string bad : {R"({"mapName":"items","attribute":"body","indexType":"vector"})",
                                  R"({"mapName":"items","attribute":"x","indexType":"btree"})",
                                  R"({"mapName":"items","attribute":"a..b","indexType":"hash"})",
                                  R"({"mapName":"__topgun_x","attribute":"a","indexType":"hash"})", R"({"attribute":"a"})", "nope"}) {
        INFO(bad);
        CHECK(admin(server, "POST", "/api/admin/indexes", bad).status == 400);
    }

    CHECK(admin(server, "DELETE", "/api/admin/indexes/items/color").status == 204);
    CHECK(admin(server, "DELETE", "/api/admin/indexes/items/color").status == 404);
    CHECK(server.node().state(0).indexes("items")->hash("color") == nullptr);
    CHECK(admin(server, "DELETE", "/api/admin/indexes/items/price").status == 204);
    CHECK(server.node().state(0).indexes("items") == nullptr);
}

TEST_CASE("Admin indexes: an inverted index is the map's search index, answered once built, listed and dropped") {
    InProcessServer server(test_config(4));
    auto writer = server.connect();
    std::vector<ClientOp> ops;
    for (int i = 0; i < 40; ++i) {
        Value doc = Value::map();
        doc.set("body", Value(i % 4 == 0 ? "a harbor at dawn" : "plain text " + std::to_string(i)));
        ops.push_back(put_op(std::to_string(i), "docs", "d" + std::to_string(i), std::move(doc), stamp(now_millis(), static_cast<std::uint32_t>(i))));
    }
    ops.push_back(remove_op("40", "docs", "d0", stamp(now_millis() + 1, 0)));
    writer->send(OpBatch{ops, {}, {}});
    server.poll();

    const auto created = admin(server, "POST", "/api/admin/indexes", R"({"mapName":"docs","attribute":"body","indexType":"inverted"})");
    CHECK(created.status == 201);
    const auto body = nlohmann::json::parse(created.body);
    CHECK(body["indexType"] == "inverted");
    CHECK(body["entryCount"] == 39);  // the live records: the search index's documents
    CHECK(admin(server, "POST", "/api/admin/indexes", R"({"mapName":"docs","attribute":"body","indexType":"inverted"})").status == 200);
    for (std::size_t s = 0; s < server.node().shards().size(); ++s) CHECK(server.node().state(s).indexes("docs") == nullptr);

    const auto listed = nlohmann::json::parse(admin(server, "GET", "/api/admin/indexes").body);
    REQUIRE(listed["indexes"].size() == 1);
    CHECK(listed["indexes"][0] == nlohmann::json{{"mapName", "docs"}, {"attribute", "body"}, {"indexType", "inverted"}, {"entryCount", 39}});

    auto reader = server.connect();
    reader->send(Search{"s", "docs", "harbor", SearchOptions{20, {}, {}}});
    const SearchResp found = reader->take_one<SearchResp>();
    CHECK(found.results.size() == 9);  // d4, d8, ... d36: d0 was removed

    const auto vector = admin(server, "POST", "/api/admin/indexes", R"({"mapName":"docs","attribute":"body","indexType":"vector"})");
    CHECK(vector.status == 400);
    CHECK(vector.body.find("not available") != std::string::npos);
    CHECK(admin(server, "DELETE", "/api/admin/indexes/docs/body").status == 204);
    CHECK(nlohmann::json::parse(admin(server, "GET", "/api/admin/indexes").body)["indexes"].empty());
}

// The same records in two maps, one indexed: every query must answer alike,
// at subscription and after further writes.
TEST_CASE("Admin indexes: live queries and POST /sync answer the same with and without an index") {
    for (std::uint32_t seed : {1u, 2u}) {
        INFO("seed " << seed);
        InProcessServer server(test_config(4));
        auto writer = server.connect();
        auto reader = server.connect();
        std::mt19937 rng(seed);
        auto write_both = [&](int n, int first) {
            std::vector<ClientOp> ops;
            for (int i = first; i < first + n; ++i) {
                const Value v = item(rng);
                const std::string key = "k" + std::to_string(rng() % 300);
                for (const char* map : {"plain", "indexed"}) ops.push_back(put_op(std::to_string(i) + map, map, key, v, stamp(now_millis(), static_cast<std::uint32_t>(i))));
            }
            writer->send(OpBatch{ops, {}, {}});
        };
        write_both(250, 0);
        REQUIRE(admin(server, "POST", "/api/admin/indexes", R"({"mapName":"indexed","attribute":"color","indexType":"hash"})").status == 201);
        REQUIRE(admin(server, "POST", "/api/admin/indexes", R"({"mapName":"indexed","attribute":"price","indexType":"navigable"})").status == 201);
        write_both(100, 1000);  // kept current after creation too

        std::vector<Query> queries;
        for (const char* color : {"red0", "blue2", "none"}) {
            Query q;
            q.where = StringMap<Value>{{"color", Value(color)}};
            queries.push_back(q);
        }
        Query range;
        PredicateNode between;
        between.op = "between";
        between.attribute = "price";
        between.value = Value(Value::Array{Value(10), Value(20)});
        range.predicate = between;
        range.sort = Sort{{{"price", SortDirection::Desc}}};
        range.limit = 15;
        queries.push_back(range);
        Query either;
        PredicateNode in;
        in.op = "in";
        in.attribute = "color";
        in.value = Value(Value::Array{Value("red1"), Value("blue0")});
        either.predicate = in;
        queries.push_back(either);

        int n = 0;
        for (const Query& q : queries) {
            ++n;
            const auto plain = snapshot(*reader, "p" + std::to_string(n), "plain", q);
            const auto indexed = snapshot(*reader, "i" + std::to_string(n), "indexed", q);
            CHECK(plain == indexed);
            if (q.where) {
                HttpSyncRequest request;
                request.client_id = "h";
                request.client_hlc = stamp(now_millis());
                const Value filter(Value::Map{{"color", q.where->front().second}});
                request.queries = std::vector{HttpQueryRequest{"a", "plain", filter, {}, {}, {}},
                                              HttpQueryRequest{"b", "indexed", filter, {}, {}, {}}};
                const Bytes body = encode_body(request);
                std::optional<HttpAnswer> answer;
                serve_http_sync(server.node(), 1, "", std::string_view(reinterpret_cast<const char*>(body.data()), body.size()),
                                [&](HttpAnswer a) { answer = std::move(a); });
                server.poll();
                REQUIRE(answer);
                HttpSyncResponse response;
                msgpack::Error error;
                REQUIRE(decode_body(std::span(reinterpret_cast<const std::uint8_t*>(answer->body.data()), answer->body.size()), response, error));
                REQUIRE(response.query_results->size() == 2);
                CHECK((*response.query_results)[0].results == (*response.query_results)[1].results);
            }
        }
        // Later writes reach both subscriptions alike.
        reader->take();
        write_both(60, 2000);
        std::map<std::string, std::vector<std::pair<std::string, ChangeType>>> updates;
        for (auto& u : reader->take_all<QueryUpdate>()) updates[u.query_id].emplace_back(u.key, u.change_type);
        std::size_t total = 0;
        for (int i = 1; i <= n; ++i) {
            CHECK(updates["p" + std::to_string(i)] == updates["i" + std::to_string(i)]);
            total += updates["p" + std::to_string(i)].size();
        }
        CHECK(total > 0);
    }
}
