// Access policies (RBAC): the condition language, the decision rules, their
// enforcement on writes, reads, the journal and POST /sync, and the admin API
// that manages them. In-process node of four shards.
#include "in_process.hpp"

#include "service/access_policy.hpp"
#include "service/policy_expression.hpp"
#include "session/admin_api.hpp"
#include "session/http_sync.hpp"

#include <topgun/protocol/http_sync.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <thread>

using namespace topgun;
using namespace topgun::protocol;
using namespace topgun::server;
using namespace topgun::server::testing;

namespace {

constexpr const char* kSecret = "access-secret";

AccessPolicy policy(const std::string& id, const std::string& pattern, const std::string& action, const std::string& effect,
                    const std::string& condition = "") {
    nlohmann::json j{{"id", id}, {"mapPattern", pattern}, {"action", action}, {"effect", effect}};
    if (!condition.empty()) j["conditionExpr"] = condition;
    auto parsed = AccessPolicy::from_json(j);
    INFO((std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : ""));
    REQUIRE(std::holds_alternative<AccessPolicy>(parsed));
    return std::get<AccessPolicy>(std::move(parsed));
}

Value record(std::initializer_list<std::pair<std::string, Value>> fields) {
    Value v = Value::map();
    for (const auto& [k, f] : fields) v.set(k, f);
    return v;
}

std::string token(const std::string& sub, std::vector<std::string> roles = {}) {
    const auto now = static_cast<std::int64_t>(now_millis() / 1000);
    return auth::sign_hs256(nlohmann::json{{"sub", sub}, {"exp", now + 600}, {"roles", roles}}, kSecret);
}

class JwtServer : public InProcessServer {
public:
    JwtServer() : InProcessServer(config(), nullptr, verifier()) {}

    std::unique_ptr<TestClient> login(const std::string& sub, std::vector<std::string> roles = {}) {
        auto c = connect();
        c->send(Auth{token(sub, std::move(roles)), {}, {}});
        poll();
        REQUIRE(c->take_all<AuthAck>().size() == 1);
        return c;
    }

private:
    static ServerConfig config() {
        ServerConfig c = test_config(4);
        c.no_auth = false;
        c.jwt_secret = kSecret;
        c.admin_subjects = {"root"};
        return c;
    }
    static std::unique_ptr<auth::JwtVerifier> verifier() {
        auto created = auth::JwtVerifier::create(auth::JwtConfig{kSecret, {}, {}});
        return std::make_unique<auth::JwtVerifier>(std::get<auth::JwtVerifier>(std::move(created)));
    }
};

// The answer a client gets to one write: "ack", or "denied" (OP_REJECTED 403, ERROR 403, then the ack).
std::string write(TestClient& c, const std::string& map, const std::string& key, Value v) {
    static std::uint32_t counter = 0;
    ++counter;
    c.send(OpBatch{{put_op("w" + std::to_string(counter), map, key, std::move(v), stamp(now_millis(), counter))}, {}, {}});
    const auto messages = c.take();
    bool rejected = false, error = false, acked = false;
    for (const auto& m : messages) {
        if (const auto* r = std::get_if<OpRejected>(&m)) rejected = r->code == 403;
        if (const auto* e = std::get_if<ErrorMessage>(&m)) error = e->code == 403;
        if (std::holds_alternative<OpAck>(m)) acked = true;
    }
    REQUIRE(acked);
    CHECK(rejected == error);
    return rejected ? "denied" : "ack";
}

HttpAnswer admin(InProcessServer& server, std::string_view method, std::string_view path, std::string_view body = "",
                 const std::string& bearer = "", bool local_tool = true) {
    std::optional<HttpAnswer> answer;
    const std::string authorization = bearer.empty() ? "" : "Bearer " + bearer;
    serve_admin(server.node(), 0, AdminRequest{method, path, authorization, local_tool, body}, [&](HttpAnswer a) { answer = std::move(a); });
    server.poll();
    REQUIRE(answer);
    return *answer;
}

bool writes(const PolicyStore& store, const auth::Principal* who, const std::string& map, const Value& v) {
    return store.allows(who, Access::Write, map, &v);
}

}  // namespace

TEST_CASE("Access: policy conditions parse into record predicates; bad ones are refused with a reason") {
    PolicyStore store({});
    store.upsert(policy("own", "docs", "all", "allow", "auth.id == data.ownerId"));
    store.upsert(policy("team", "teams-*", "write", "allow", "data.team in auth.roles && !(data.locked == true)"));
    store.upsert(policy("member", "groups", "write", "allow", "auth.id in data.members"));
    store.upsert(policy("big", "scores", "write", "allow", "data.score >= 10 || data.name startsWith 'vip-'"));
    const auth::Principal alice{"alice", {"red", "blue"}};

    CHECK(writes(store, &alice, "docs", record({{"ownerId", Value("alice")}})));
    CHECK_FALSE(writes(store, &alice, "docs", record({{"ownerId", Value("bob")}})));
    CHECK(writes(store, &alice, "teams-x", record({{"team", Value("red")}})));
    CHECK_FALSE(writes(store, &alice, "teams-x", record({{"team", Value("green")}})));
    CHECK_FALSE(writes(store, &alice, "teams-x", record({{"team", Value("red")}, {"locked", Value(true)}})));
    CHECK(writes(store, &alice, "groups", record({{"members", Value(Value::Array{Value("x"), Value("alice")})}})));
    CHECK_FALSE(writes(store, &alice, "groups", record({{"members", Value(Value::Array{Value("x")})}})));
    CHECK(writes(store, &alice, "scores", record({{"score", Value(12)}})));
    CHECK(writes(store, &alice, "scores", record({{"score", Value(1)}, {"name", Value("vip-1")}})));
    CHECK_FALSE(writes(store, &alice, "scores", record({{"score", Value(1)}, {"name", Value("x")}})));
    CHECK_FALSE(writes(store, nullptr, "docs", record({{"ownerId", Value("alice")}})));  // anonymous

    for (const std::string bad : {"auth.id = data.ownerId", "auth.id == 'x'", "data.a ==", "(data.a == 1", "data.a ~ 1",
                                  "data. == 1", "'x' == data.a", "data.a == 'unterminated"}) {
        INFO(bad);
        auto parsed = AccessPolicy::from_json({{"mapPattern", "m"}, {"action", "all"}, {"effect", "allow"}, {"conditionExpr", bad}});
        REQUIRE(std::holds_alternative<std::string>(parsed));
        CHECK(std::get<std::string>(parsed).starts_with("conditionExpr: "));
    }
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += "!";
    deep += "data.a == 1";
    CHECK(std::holds_alternative<std::string>(parse_policy_condition(deep)));
    for (const nlohmann::json& bad : {nlohmann::json{{"mapPattern", "m"}, {"action", "fly"}, {"effect", "allow"}},
                                      nlohmann::json{{"mapPattern", "m"}, {"action", "read"}, {"effect", "maybe"}},
                                      nlohmann::json{{"action", "read"}, {"effect", "allow"}}, nlohmann::json::array()}) {
        CHECK(std::holds_alternative<std::string>(AccessPolicy::from_json(bad)));
    }
}

TEST_CASE("Access: a policy removal racing its upsert reaches storage after it, as it took effect after it") {
    PolicyStore store({});
    std::mutex stored_mutex;
    std::vector<std::string> submitted;  // "put" / "erase" of policy "p", in the order storage gets them
    auto submit = [&](std::vector<storage::Mutation> mutations) {
        std::lock_guard lock(stored_mutex);
        for (const storage::Mutation& m : mutations) {
            if (const auto* put = std::get_if<storage::MetaPut>(&m); put && put->key == "p") submitted.push_back("put");
            if (std::holds_alternative<storage::MetaErase>(m)) submitted.push_back("erase");
        }
    };
    std::thread remover;
    store.upsert(policy("p", "docs", "all", "allow"), [&](std::vector<storage::Mutation> mutations) {
        // Another admin request removes the policy while this upsert is being submitted.
        remover = std::thread([&] { store.remove("p", submit); });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        submit(std::move(mutations));
    });
    REQUIRE(remover.joinable());  // the store called back
    remover.join();
    CHECK(store.list().empty());
    CHECK(submitted == std::vector<std::string>{"put", "erase"});
}

TEST_CASE("Access: map patterns are globs") {
    CHECK(glob_matches("*", "anything"));
    CHECK(glob_matches("users.*", "users.profiles"));
    CHECK_FALSE(glob_matches("users.*", "user.profiles"));
    CHECK(glob_matches("a*b*c", "a-x-b-y-c"));
    CHECK_FALSE(glob_matches("a*b*c", "a-x-c-y-b"));
    CHECK(glob_matches("docs", "docs"));
    CHECK_FALSE(glob_matches("docs", "docs2"));
    CHECK(glob_matches(std::string(40, '*') + "b", std::string(10000, 'a') + "b"));
}

TEST_CASE("Access: everything is allowed until the first policy; then allow is needed, deny wins, admins bypass") {
    JwtServer server;
    auto bob = server.login("bob", {"admin"});  // the role alone bypasses nothing
    auto root = server.login("root");
    CHECK(write(*bob, "anything", "k", Value(1)) == "ack");

    server.node().access().upsert(policy("docs-rw", "docs", "all", "allow"));
    server.node().access().upsert(policy("no-secrets", "docs", "write", "deny", "data.secret == true"));
    CHECK(write(*bob, "docs", "a", Value(1)) == "ack");
    CHECK(write(*bob, "anything", "k", Value(2)) == "denied");
    CHECK(write(*bob, "docs", "b", record({{"secret", Value(true)}})) == "denied");
    CHECK(write(*root, "anything", "k", Value(3)) == "ack");

    // Emptied, the store still denies by default (a configured deployment fails closed).
    server.node().access().remove("docs-rw");
    server.node().access().remove("no-secrets");
    CHECK(write(*bob, "docs", "a", Value(4)) == "denied");
}

TEST_CASE("Access: an owner condition lets a caller write and remove its own records only, and not take others' over") {
    JwtServer server;
    server.node().access().upsert(policy("own", "owned", "all", "allow", "auth.id == data.ownerId"));
    auto alice = server.login("alice");
    auto bob = server.login("bob");
    CHECK(write(*alice, "owned", "a1", record({{"ownerId", Value("alice")}, {"n", Value(1)}})) == "ack");
    CHECK(write(*bob, "owned", "b1", record({{"ownerId", Value("alice")}})) == "denied");  // a record for someone else
    CHECK(write(*bob, "owned", "a1", record({{"ownerId", Value("bob")}})) == "denied");  // taking alice's record over
    CHECK(write(*alice, "owned", "a1", record({{"ownerId", Value("alice")}, {"n", Value(2)}})) == "ack");

    bob->send(OpBatch{{remove_op("r1", "owned", "a1", stamp(now_millis() + 10, 1, "bob"))}, {}, {}});
    CHECK(bob->take_all<OpRejected>().size() == 1);
    alice->send(OpBatch{{remove_op("r2", "owned", "a1", stamp(now_millis() + 20, 1, "alice"))}, {}, {}});
    CHECK(alice->take_all<OpRejected>().empty());
}

TEST_CASE("Access: a nil-valued put is a removal, and an OR add under a stored tag cannot take the record over") {
    JwtServer server;
    server.node().access().upsert(policy("w", "notes", "write", "allow"));
    server.node().access().upsert(policy("own", "tags", "all", "allow", "auth.id == data.ownerId"));
    auto gina = server.login("gina");
    CHECK(write(*gina, "notes", "n", Value(1)) == "ack");
    CHECK(write(*gina, "notes", "n", Value()) == "denied");  // write access, no remove access

    auto or_add = [](const std::string& id, const std::string& owner) {
        ClientOp op;
        op.id = id;
        op.map_name = "tags";
        op.key = "k";
        op.op_type = OpType::OrAdd;
        const Timestamp ts = stamp(now_millis(), 1, owner);
        op.or_record = ORMapRecordData{record({{"ownerId", Value(owner)}}), ts, "tag-1", {}};
        return op;
    };
    auto hank = server.login("hank");
    hank->send(OpBatch{{or_add("h1", "hank")}, {}, {}});
    CHECK(hank->take_all<OpRejected>().empty());
    gina->send(OpBatch{{or_add("g1", "gina")}, {}, {}});  // same tag, her own value
    CHECK(gina->take_all<OpRejected>().size() == 1);
}

TEST_CASE("Access: reads need read access: sync, queries, searches and the journal") {
    JwtServer server;
    server.node().access().upsert(policy("public", "public", "all", "allow"));
    auto carol = server.login("carol");
    auto root = server.login("root");
    CHECK(write(*root, "private", "p", Value("secret")) == "ack");
    CHECK(write(*root, "public", "q", Value("open")) == "ack");

    carol->send(SyncInit{"private", {}});
    CHECK(carol->take_one<ErrorMessage>().code == 403);
    carol->send(MerkleReqBucket{"private", ""});
    CHECK(carol->take_one<ErrorMessage>().code == 403);
    carol->send(SyncInit{"public", {}});
    CHECK(carol->take_all<ErrorMessage>().empty());

    QuerySub sub;
    sub.query_id = "q1";
    sub.map_name = "private";
    carol->send(sub);
    auto messages = carol->take();
    bool refused = false;
    for (auto& m : messages) {
        if (auto* r = std::get_if<QueryResp>(&m)) refused = r->code == std::optional<std::string>("ACCESS_DENIED");
    }
    CHECK(refused);

    carol->send(Search{"s1", "private", "secret", {}});
    CHECK(carol->take_one<SearchResp>().error.has_value());

    carol->send(JournalRead{"j", "0", 100, {}});
    const auto page = carol->take_one<JournalReadResponse>();
    REQUIRE(page.events.size() == 1);
    CHECK(page.events[0].map_name == "public");
    carol->send(JournalSubscribe{"js", {}, {}, {}});
    write(*root, "private", "p2", Value(1));
    write(*root, "public", "q2", Value(2));
    const auto pushed = carol->take_all<JournalEvent>();
    REQUIRE(pushed.size() == 1);
    CHECK(pushed[0].event.key == "q2");
}

TEST_CASE("Access: POST /sync applies the caller's policies to its operations and reads") {
    JwtServer server;
    server.node().access().upsert(policy("public", "public", "all", "allow"));
    HttpSyncRequest request;
    request.client_id = "h";
    request.client_hlc = stamp(now_millis());
    request.operations = std::vector{put_op("ok", "public", "a", Value(1), stamp(now_millis(), 1)),
                                     put_op("no", "private", "b", Value(2), stamp(now_millis(), 2))};
    request.queries = std::vector{HttpQueryRequest{"q", "private", {}, {}, {}, {}}};
    const Bytes bytes = encode_body(request);
    std::optional<HttpAnswer> answer;
    serve_http_sync(server.node(), 0, "Bearer " + token("dave"), std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    [&](HttpAnswer a) { answer = std::move(a); });
    server.poll();
    REQUIRE(answer);
    REQUIRE(answer->status == 200);
    HttpSyncResponse response;
    msgpack::Error error;
    REQUIRE(decode_body(std::span(reinterpret_cast<const std::uint8_t*>(answer->body.data()), answer->body.size()), response, error));
    REQUIRE(response.ack);
    REQUIRE(response.errors);
    std::vector<std::pair<std::uint32_t, std::string>> errors;
    for (const auto& e : *response.errors) errors.emplace_back(e.code, e.context.value_or(""));
    std::sort(errors.begin(), errors.end());
    CHECK(errors == std::vector<std::pair<std::uint32_t, std::string>>{{403, "no"}, {403, "q"}});
}

TEST_CASE("Admin API: who may call it") {
    SECTION("no-auth: local tools only") {
        InProcessServer server;
        CHECK(admin(server, "GET", "/api/admin/policies").status == 200);
        CHECK(admin(server, "GET", "/api/admin/policies", "", "", /*local_tool=*/false).status == 403);
    }
    SECTION("JWT: an admin subject or the admin role") {
        JwtServer server;
        CHECK(admin(server, "GET", "/api/admin/policies").status == 401);
        CHECK(admin(server, "GET", "/api/admin/policies", "", "forged.token.here").status == 401);
        CHECK(admin(server, "GET", "/api/admin/policies", "", token("eve")).status == 403);
        CHECK(admin(server, "GET", "/api/admin/policies", "", token("root")).status == 200);
        CHECK(admin(server, "GET", "/api/admin/policies", "", token("ops", {"admin"})).status == 200);
    }
}

TEST_CASE("Admin API: policies are created, listed and deleted; changes apply at once; maps are counted") {
    JwtServer server;
    const std::string root = token("root");
    auto frank = server.login("frank");
    CHECK(write(*frank, "notes", "n1", Value(1)) == "ack");
    CHECK(write(*frank, "notes", "n2", Value(2)) == "ack");

    CHECK(admin(server, "POST", "/api/admin/policies", "{not json", root).status == 400);
    const auto bad = admin(server, "POST", "/api/admin/policies", R"({"mapPattern":"x","action":"fly","effect":"allow"})", root);
    CHECK(bad.status == 400);
    CHECK(nlohmann::json::parse(bad.body)["message"].get<std::string>().find("fly") != std::string::npos);

    const auto created = admin(server, "POST", "/api/admin/policies",
                               R"({"id":"p1","mapPattern":"notes","action":"write","effect":"allow","conditionExpr":"data.ok == true"})", root);
    CHECK(created.status == 201);
    CHECK(nlohmann::json::parse(created.body)["conditionExpr"] == "data.ok == true");
    CHECK(write(*frank, "notes", "n3", Value(3)) == "denied");  // hot: the next write already sees it
    CHECK(write(*frank, "notes", "n3", record({{"ok", Value(true)}})) == "ack");

    const auto listed = nlohmann::json::parse(admin(server, "GET", "/api/admin/policies", "", root).body);
    REQUIRE(listed["policies"].size() == 1);
    CHECK(listed["policies"][0]["id"] == "p1");
    CHECK(listed["policies"][0]["action"] == "write");

    CHECK(admin(server, "DELETE", "/api/admin/policies/p1", "", root).status == 204);
    CHECK(admin(server, "DELETE", "/api/admin/policies/p1", "", root).status == 404);
    CHECK(admin(server, "PUT", "/api/admin/policies", "", root).status == 405);
    CHECK(admin(server, "GET", "/api/admin/nothing", "", root).status == 404);

    const auto maps = nlohmann::json::parse(admin(server, "GET", "/api/admin/maps", "", root).body);
    REQUIRE(maps["maps"].size() == 1);
    CHECK(maps["maps"][0]["name"] == "notes");
    CHECK(maps["maps"][0]["entryCount"] == 3);
}
