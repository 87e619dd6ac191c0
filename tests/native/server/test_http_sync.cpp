// POST /sync (PROTOCOL.md §13) on an in-process node of four shards: the body
// goes straight to serve_http_sync; the sockets' part (413, 405, routing) is
// in test_process.cpp.
#include "in_process.hpp"

#include "session/admin_api.hpp"
#include "session/http_sync.hpp"

#include <topgun/protocol/http_sync.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <random>

using namespace topgun;
using namespace topgun::protocol;
using namespace topgun::server;
using namespace topgun::server::testing;

namespace {

std::optional<HttpAnswer> post_raw(InProcessServer& server, std::string_view body, std::string_view authorization = "") {
    std::optional<HttpAnswer> answer;
    serve_http_sync(server.node(), 1, authorization, body, [&](HttpAnswer a) { answer = std::move(a); });
    server.poll();
    return answer;
}

HttpSyncResponse post(InProcessServer& server, const HttpSyncRequest& request, std::string_view authorization = "") {
    const Bytes bytes = encode_body(request);
    const auto answer = post_raw(server, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), authorization);
    REQUIRE(answer);
    INFO(answer->body);
    REQUIRE(answer->status == 200);
    CHECK(answer->content_type == "application/msgpack");
    HttpSyncResponse response;
    msgpack::Error error;
    REQUIRE(decode_body(std::span(reinterpret_cast<const std::uint8_t*>(answer->body.data()), answer->body.size()), response, error));
    return response;
}

HttpSyncRequest request_with(std::vector<ClientOp> ops = {}) {
    HttpSyncRequest r;
    r.client_id = "http-client";
    r.client_hlc = stamp(now_millis(), 0, "http-client");
    if (!ops.empty()) r.operations = std::move(ops);
    return r;
}

Value item(std::int64_t n, const std::string& color) {
    Value v = Value::map();
    v.set("n", Value(n));
    v.set("color", Value(color));
    return v;
}

HttpQueryRequest http_query(std::string id, std::optional<Value> filter, std::optional<std::uint32_t> limit = {},
                       std::optional<std::uint32_t> offset = {}, std::optional<std::string> cursor = {}) {
    HttpQueryRequest q;
    q.query_id = std::move(id);
    q.map_name = "items";
    if (filter) q.filter = *filter;
    q.limit = limit;
    q.offset = offset;
    q.cursor = std::move(cursor);
    return q;
}

std::vector<std::string> keys_of(const HttpQueryResult& r) {
    std::vector<std::string> out;
    for (const Value& row : r.results) out.push_back(row.find("key")->as_string());
    return out;
}

}  // namespace

TEST_CASE("HTTP sync: an empty body answers with the server's clock") {
    InProcessServer server(test_config(4));
    const auto answer = post_raw(server, "");
    REQUIRE(answer);
    CHECK(answer->status == 200);
    HttpSyncResponse r;
    msgpack::Error error;
    REQUIRE(decode_body(std::span(reinterpret_cast<const std::uint8_t*>(answer->body.data()), answer->body.size()), r, error));
    CHECK(r.server_hlc.millis >= now_millis() - 1000);
    CHECK_FALSE(r.ack);
    CHECK_FALSE(r.errors);
}

TEST_CASE("HTTP sync: operations are applied like WebSocket writes: acked, journaled, sent to holders, readable") {
    InProcessServer server(test_config(4));
    auto holder = server.connect();
    holder->send(SyncInit{"items", {}});
    holder->take();

    std::vector<ClientOp> ops;
    for (int i = 0; i < 20; ++i) {
        ops.push_back(put_op("op-" + std::to_string(i), "items", "k" + std::to_string(i), item(i, i % 2 ? "red" : "blue"),
                             stamp(now_millis(), static_cast<std::uint32_t>(i))));
    }
    auto request = request_with(ops);
    // The same request's queries see its own writes.
    request.queries = std::vector{http_query("red", Value(Value::Map{{"color", Value("red")}}))};
    const auto r = post(server, request);
    REQUIRE(r.ack);
    CHECK(r.ack->last_id == "op-19");
    CHECK_FALSE(r.errors);
    REQUIRE(r.query_results);
    CHECK(r.query_results->front().results.size() == 10);

    CHECK(holder->take_server_events().size() == 20);
    holder->send(JournalRead{"j", "0", 100, {}});
    CHECK(holder->take_one<JournalReadResponse>().events.size() == 20);
}

TEST_CASE("HTTP sync: rejected ops are listed in errors next to the ack of the rest") {
    InProcessServer server;
    auto request = request_with({put_op("good", "items", "a", Value(1), stamp(now_millis())),
                                 put_op("bad", "_topgun_internal", "b", Value(2), stamp(now_millis()))});
    const auto r = post(server, request);
    REQUIRE(r.ack);
    CHECK(r.ack->last_id == "bad");
    REQUIRE(r.errors);
    REQUIRE(r.errors->size() == 1);
    CHECK(r.errors->front().code == 403);
    CHECK(r.errors->front().context == std::optional<std::string>("bad"));
}

TEST_CASE("HTTP sync: a client clock beyond the drift bound does not move the server's") {
    InProcessServer server;
    auto request = request_with();
    request.client_hlc = stamp(now_millis() + 10ull * 24 * 3600 * 1000, 0, "far");
    const auto r = post(server, request);
    CHECK(r.server_hlc.millis < now_millis() + 60'000);
}

TEST_CASE("HTTP sync: malformed, too deep and trailing-garbage bodies are 400 with a JSON reason") {
    InProcessServer server;
    std::string deep;
    for (int i = 0; i < 300; ++i) deep += '\x91';  // arrays nested 300 deep
    deep += '\xc0';
    Bytes ok = encode_body(request_with());
    std::string trailing(ok.begin(), ok.end());
    trailing += "\x01";
    for (const std::string& body : {std::string("\xff\xff"), deep, trailing, std::string("\x81\xa8" "clientId" "\x05")}) {
        const auto answer = post_raw(server, body);
        REQUIRE(answer);
        CHECK(answer->status == 400);
        CHECK(answer->content_type == "application/json");
        const auto json = nlohmann::json::parse(answer->body);
        CHECK(json["code"] == 400);
        CHECK(json["message"].get<std::string>().starts_with("invalid MsgPack body"));
    }
}

TEST_CASE("HTTP sync: with auth on, a bearer JWT is required") {
    ServerConfig config = test_config();
    config.no_auth = false;
    config.jwt_secret = "http-secret";
    auto created = auth::JwtVerifier::create(auth::JwtConfig{"http-secret", {}, {}});
    InProcessServer server(config, nullptr, std::make_unique<auth::JwtVerifier>(std::get<auth::JwtVerifier>(std::move(created))));
    const Bytes bytes = encode_body(request_with());
    const std::string body(bytes.begin(), bytes.end());
    CHECK(post_raw(server, body)->status == 401);
    CHECK(nlohmann::json::parse(post_raw(server, body)->body)["message"] == "authentication required");
    CHECK(post_raw(server, body, "Bearer ")->status == 401);
    const auto forged = post_raw(server, body, "Bearer " + auth::sign_hs256(nlohmann::json{{"sub", "x"}}, "other-secret"));
    CHECK(forged->status == 401);
    CHECK(nlohmann::json::parse(forged->body)["message"] == "Authentication failed");
    const auto now = static_cast<std::int64_t>(now_millis() / 1000);
    const std::string token = auth::sign_hs256(nlohmann::json{{"sub", "u1"}, {"exp", now + 60}}, "http-secret");
    CHECK(post_raw(server, body, "Bearer " + token)->status == 200);
}

TEST_CASE("HTTP sync: queries filter by equality, sort by key, page by offset or cursor") {
    InProcessServer server(test_config(4));
    // Each worker plans its part: a scan, or with a hash index on the filter's
    // field the index's candidates; both must give the same pages.
    const bool indexed = GENERATE(false, true);
    INFO((indexed ? "hash index on color" : "no index"));
    if (indexed) {
        std::optional<HttpAnswer> created;
        serve_admin(server.node(), 0,
                    AdminRequest{"POST", "/api/admin/indexes", "", true, R"({"mapName":"items","attribute":"color","indexType":"hash"})"},
                    [&](HttpAnswer a) { created = std::move(a); });
        server.poll();
        REQUIRE(created);
        REQUIRE(created->status == 201);
    }
    std::vector<ClientOp> ops;
    std::vector<std::string> red_keys;
    std::mt19937 rng(7);
    for (int i = 0; i < 120; ++i) {
        const std::string key = "key-" + std::to_string(rng() % 100000);
        const bool red = rng() % 3 == 0;
        ops.push_back(put_op(std::to_string(i), "items", key, item(i, red ? "red" : "blue"), stamp(now_millis(), static_cast<std::uint32_t>(i))));
    }
    post(server, request_with(ops));
    // The expected answer: the last write of each key wins (one batch: in op order).
    std::map<std::string, bool> red_by_key;
    for (const ClientOp& op : ops) red_by_key[op.key] = op.record.value.value.find("color")->as_string() == "red";
    for (const auto& [key, red] : red_by_key) {
        if (red) red_keys.push_back(key);
    }
    const Value red_filter(Value::Map{{"color", Value("red")}});

    auto all = post(server, [&] {
        auto r = request_with();
        r.queries = std::vector{http_query("all", red_filter)};
        return r;
    }());
    CHECK(keys_of(all.query_results->front()) == red_keys);
    CHECK_FALSE(all.query_results->front().has_more);  // no limit: not said

    // Offset pages.
    auto r = request_with();
    r.queries = std::vector{http_query("p2", red_filter, 5, 5)};
    const auto page = post(server, r).query_results->front();
    CHECK(keys_of(page) == std::vector<std::string>(red_keys.begin() + 5, red_keys.begin() + 10));
    CHECK(page.has_more == std::optional<bool>(true));

    // Cursor pages walk every row once, in key order.
    std::vector<std::string> walked;
    std::optional<std::string> cursor;
    for (int pages = 0; pages < 100; ++pages) {
        auto step = request_with();
        step.queries = std::vector{http_query("walk", red_filter, 7, {}, cursor)};
        const auto result = post(server, step).query_results->front();
        const auto keys = keys_of(result);
        walked.insert(walked.end(), keys.begin(), keys.end());
        if (!result.next_cursor) {
            CHECK(result.has_more == std::optional<bool>(false));
            break;
        }
        cursor = result.next_cursor;
    }
    CHECK(walked == red_keys);

    // Rows are {key, value}.
    const Value& row = all.query_results->front().results.front();
    CHECK(row.find("value")->find("color")->as_string() == "red");

    auto bad = request_with();
    bad.queries = std::vector{http_query("q-bad", red_filter, 5, {}, std::string("not-a-cursor"))};
    const auto answer = post(server, bad);
    REQUIRE(answer.errors);
    CHECK(answer.errors->front().code == 400);
    CHECK(answer.errors->front().context == std::optional<std::string>("q-bad"));
    CHECK_FALSE(answer.query_results);
}

TEST_CASE("HTTP sync: syncMaps returns what changed since the client's timestamp, removals included") {
    InProcessServer server(test_config(4));
    const std::uint64_t t = now_millis();
    std::vector<ClientOp> first;
    for (int i = 0; i < 10; ++i) first.push_back(put_op(std::to_string(i), "items", "k" + std::to_string(i), Value(i), stamp(t, static_cast<std::uint32_t>(i))));
    post(server, request_with(first));

    auto poll = [&](const Timestamp& since) {
        auto r = request_with();
        r.sync_maps = std::vector{HttpSyncMap{"items", since}};
        auto answer = post(server, r);
        REQUIRE(answer.deltas);
        REQUIRE(answer.deltas->size() == 1);
        return answer.deltas->front();
    };
    const auto everything = poll(Timestamp{0, 0, ""});
    CHECK(everything.records.size() == 10);
    CHECK(std::is_sorted(everything.records.begin(), everything.records.end(),
                         [](const HttpDeltaRecord& a, const HttpDeltaRecord& b) { return a.record.timestamp < b.record.timestamp; }));

    post(server, request_with({remove_op("r", "items", "k3", stamp(t + 5, 0)), put_op("p", "items", "k4", Value(44), stamp(t + 5, 1))}));

    const auto changed = poll(stamp(t, 9));
    REQUIRE(changed.records.size() == 2);
    CHECK(changed.records[0].key == "k3");
    CHECK(changed.records[0].event_type == DeltaEventType::Remove);
    CHECK(changed.records[1].key == "k4");
    CHECK(changed.records[1].record.value == Value(44));
    CHECK(poll(changed.server_sync_timestamp).records.empty());
}

TEST_CASE("HTTP sync: searches answer ranked hits with keys and values") {
    InProcessServer server(test_config(4));
    Value a = Value::map();
    a.set("title", Value("offline first sync"));
    Value b = Value::map();
    b.set("title", Value("sync engines"));
    post(server, request_with({put_op("1", "docs", "a", a, stamp(now_millis(), 1)), put_op("2", "docs", "b", b, stamp(now_millis(), 2))}));
    auto r = request_with();
    HttpSearchRequest s;
    s.search_id = "s1";
    s.map_name = "docs";
    s.query = "offline sync";
    s.options = Value(Value::Map{{"limit", Value(5)}});
    r.searches = std::vector{s};
    const auto answer = post(server, r);
    REQUIRE(answer.search_results);
    const auto& hits = answer.search_results->front();
    CHECK(hits.search_id == "s1");
    REQUIRE(hits.results.size() == 2);
    CHECK(hits.results[0].find("key")->as_string() == "a");
    CHECK(hits.results[0].find("value")->find("title")->as_string() == "offline first sync");
    CHECK(hits.results[0].find("score")->as_double() > hits.results[1].find("score")->as_double());
}
