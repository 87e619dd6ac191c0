// The per-connection protocol against an in-process node with two shards:
// auth, heartbeat, writes and acks, rejections, fan-out, counters, the
// partition map and the answers to everything else.
#include "in_process.hpp"

#include "auth/jwt.hpp"
#include "service/crdt_service.hpp"
#include "storage/write_behind.hpp"

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace topgun;
using namespace topgun::protocol;
using namespace topgun::server;
using namespace topgun::server::testing;

namespace {

constexpr const char* kSecret = "test-e2e-secret";

std::unique_ptr<auth::JwtVerifier> hs256_verifier() {
    auto created = auth::JwtVerifier::create(auth::JwtConfig{kSecret, {}, {}});
    return std::make_unique<auth::JwtVerifier>(std::get<auth::JwtVerifier>(std::move(created)));
}

std::string token_for(const std::string& sub, std::int64_t expires_in = 3600) {
    const auto now = static_cast<std::int64_t>(now_millis() / 1000);
    return auth::sign_hs256(nlohmann::json{{"sub", sub}, {"exp", now + expires_in}, {"roles", {"user"}}}, kSecret);
}

ServerConfig jwt_config() {
    ServerConfig c = test_config();
    c.no_auth = false;
    c.jwt_secret = kSecret;
    return c;
}

const Value* server_value(Node& node, const std::string& map, const std::string& key) {
    LWWMap* m = node.state(node.shards().owner_of(key)).find_lww(map);
    return m == nullptr ? nullptr : m->get(key);
}

}  // namespace

TEST_CASE("PING is answered with PONG echoing the timestamp and the server time", "[server][protocol]") {
    InProcessServer server;
    auto client = server.connect();
    const std::uint64_t before = now_millis();
    client->send(Ping{1234});
    const Pong pong = client->take_one<Pong>();
    CHECK(pong.timestamp == 1234);
    CHECK(pong.server_time >= before);
}

TEST_CASE("JWT mode: AUTH_REQUIRED first, frames before AUTH dropped, AUTH_ACK names the subject", "[server][protocol][auth]") {
    InProcessServer server(jwt_config(), nullptr, hs256_verifier());
    auto client = server.connect();
    auto greeting = client->take();
    REQUIRE(greeting.size() == 1);
    CHECK(std::holds_alternative<AuthRequired>(greeting[0]));

    client->send(Ping{1});
    client->send(OpBatch{{put_op("1", "todos", "a", Value("x"), stamp(now_millis()))}, {}, {}});
    CHECK(client->take().empty());  // silently dropped (§1.3)
    CHECK(server_value(server.node(), "todos", "a") == nullptr);

    client->send(Auth{token_for("alice"), {}, {}});
    const AuthAck ack = client->take_one<AuthAck>();
    CHECK(ack.user_id == std::optional<std::string>("alice"));
    CHECK(client->connection().authenticated());

    // The TS client sends AUTH again on AUTH_REQUIRED: the second one is ignored.
    client->send(Auth{token_for("alice"), {}, {}});
    CHECK(client->take().empty());

    client->send(Ping{2});
    CHECK(client->take_one<Pong>().timestamp == 2);
}

TEST_CASE("JWT mode: a bad, expired or subject-less token gets AUTH_FAIL and the socket closes", "[server][protocol][auth]") {
    const auto now = static_cast<std::int64_t>(now_millis() / 1000);
    const std::string bad_tokens[] = {
        "not-a-jwt",
        auth::sign_hs256(nlohmann::json{{"sub", "alice"}, {"exp", now + 3600}}, "another-secret"),
        token_for("alice", -120),  // expired beyond the 60 s leeway
        auth::sign_hs256(nlohmann::json{{"exp", now + 3600}}, kSecret),
    };
    for (const std::string& token : bad_tokens) {
        InProcessServer server(jwt_config(), nullptr, hs256_verifier());
        auto client = server.connect();
        client->take();
        client->send(Auth{token, {}, {}});
        const AuthFail fail = client->take_one<AuthFail>();
        CHECK(fail.error == std::optional<std::string>("Authentication failed"));
        CHECK(client->transport().closed);
        CHECK(client->transport().close_code == close_code::kPolicyViolation);
    }
}

TEST_CASE("JWT mode: an unauthenticated connection is closed at the auth deadline", "[server][protocol][auth]") {
    ServerConfig config = jwt_config();
    config.auth_timeout = std::chrono::milliseconds(500);
    InProcessServer server(config, nullptr, hs256_verifier());
    auto client = server.connect();
    client->connection().tick(Connection::Clock::now() + std::chrono::milliseconds(100));
    CHECK_FALSE(client->transport().closed);
    client->connection().tick(Connection::Clock::now() + std::chrono::milliseconds(600));
    CHECK(client->transport().closed);
}

TEST_CASE("An authenticated connection without PING for the idle timeout is closed", "[server][protocol]") {
    ServerConfig config = test_config();
    config.idle_timeout = std::chrono::milliseconds(1000);
    InProcessServer server(config);
    auto client = server.connect();
    client->connection().tick(Connection::Clock::now() + std::chrono::milliseconds(900));
    CHECK_FALSE(client->transport().closed);
    client->connection().tick(Connection::Clock::now() + std::chrono::milliseconds(1100));
    CHECK(client->transport().closed);
}

TEST_CASE("No-auth mode answers AUTH with AUTH_ACK once (D7)", "[server][protocol][auth]") {
    InProcessServer server;
    auto client = server.connect();
    CHECK(client->take().empty());  // no AUTH_REQUIRED
    client->send(Auth{"any-token", {}, {}});
    CHECK(client->take_all<AuthAck>().size() == 1);
    client->send(Auth{"any-token", {}, {}});
    CHECK(client->take().empty());
}

TEST_CASE("OP_BATCH is applied on the owning shards and acked once with the last op id", "[server][protocol][writes]") {
    InProcessServer server;
    auto client = server.connect();
    std::vector<ClientOp> ops;
    const std::uint64_t t = now_millis();
    for (int i = 0; i < 50; ++i) ops.push_back(put_op(std::to_string(i + 1), "todos", "k" + std::to_string(i), Value(i), stamp(t, static_cast<std::uint32_t>(i))));
    client->send(OpBatch{ops, {}, {}});
    const OpAck ack = client->take_one<OpAck>();
    CHECK(ack.last_id == "50");
    CHECK(ack.achieved_level == std::optional(WriteConcern::Applied));
    CHECK_FALSE(ack.results.has_value());
    for (int i = 0; i < 50; ++i) {
        const Value* v = server_value(server.node(), "todos", "k" + std::to_string(i));
        REQUIRE(v != nullptr);
        CHECK(*v == Value(i));
    }
    // Both shards hold some of the keys.
    CHECK(server.node().state(0).find_lww("todos") != nullptr);
    CHECK(server.node().state(1).find_lww("todos") != nullptr);
}

TEST_CASE("Writes keep the client's HLC: the newest write wins whatever the arrival order (D1)", "[server][protocol][writes]") {
    InProcessServer server;
    auto a = server.connect();
    auto b = server.connect();
    const std::uint64_t t = now_millis();
    b->send(OpBatch{{put_op("1", "m", "k", Value("newer"), stamp(t, 0, "b"))}, {}, {}});
    a->send(OpBatch{{put_op("1", "m", "k", Value("older"), stamp(t - 1000, 0, "a"))}, {}, {}});
    CHECK(a->take_one<OpAck>().last_id == "1");  // an outdated write is still acknowledged: it was merged
    CHECK(*server_value(server.node(), "m", "k") == Value("newer"));
}

TEST_CASE("CLIENT_OP is acked with its id", "[server][protocol][writes]") {
    InProcessServer server;
    auto client = server.connect();
    ClientOpMessage op;
    static_cast<ClientOp&>(op) = put_op("77", "m", "k", Value(1), stamp(now_millis()));
    client->send(op);
    CHECK(client->take_one<OpAck>().last_id == "77");
}

TEST_CASE("Rejected ops get OP_REJECTED naming them, then the batch is acked (D5)", "[server][protocol][writes]") {
    InProcessServer server;
    auto client = server.connect();
    const std::uint64_t t = now_millis();
    OpBatch batch{{put_op("1", "m", "ok", Value(1), stamp(t)),
                   put_op("2", "m", "future", Value(2), stamp(t + 10 * 60 * 1000)),
                   put_op("3", "_topgun_internal", "k", Value(3), stamp(t))},
                  WriteConcern::Applied, {}};
    client->send(batch);
    auto messages = client->take();
    REQUIRE(messages.size() == 3);
    const auto& first = std::get<OpRejected>(messages[0]);
    const auto& second = std::get<OpRejected>(messages[1]);
    CHECK(first.op_id == "2");
    CHECK(first.reason.find("ahead of the server clock") != std::string::npos);
    CHECK(second.op_id == "3");
    CHECK(second.code == std::optional<std::uint32_t>(403));
    const auto& ack = std::get<OpAck>(messages[2]);
    CHECK(ack.last_id == "3");
    REQUIRE(ack.results.has_value());
    REQUIRE(ack.results->size() == 3);
    CHECK((*ack.results)[0].success);
    CHECK_FALSE((*ack.results)[1].success);
    CHECK_FALSE((*ack.results)[2].success);
    CHECK(server_value(server.node(), "m", "ok") != nullptr);
    CHECK(server_value(server.node(), "m", "future") == nullptr);
}

TEST_CASE("Malformed ops are rejected with a reason", "[server][protocol][writes]") {
    InProcessServer server;
    auto client = server.connect();
    ClientOp no_record;
    no_record.id = "1";
    no_record.map_name = "m";
    no_record.key = "k";
    ClientOp or_add_without_record = no_record;
    or_add_without_record.id = "2";
    or_add_without_record.op_type = OpType::OrAdd;
    ClientOp empty_map = put_op("3", "", "k", Value(1), stamp(now_millis()));
    client->send(OpBatch{{no_record, or_add_without_record, empty_map}, {}, {}});
    const auto rejected = client->take_all<OpRejected>();
    REQUIRE(rejected.size() == 3);
    CHECK(rejected[0].reason == "PUT needs a record");
    CHECK(rejected[1].reason == "OR_ADD needs an orRecord");
    CHECK(rejected[2].reason == "mapName must not be empty");
}

TEST_CASE("Holders of a map get SERVER_EVENTs of other clients' writes; the writer gets none", "[server][protocol][fanout]") {
    InProcessServer server;
    auto writer = server.connect();
    auto holder = server.connect();
    auto bystander = server.connect();
    writer->send(SyncInit{"todos", {}, {}, {}});
    holder->send(SyncInit{"todos", {}, {}, {}});
    writer->take();
    holder->take();

    const std::uint64_t t = now_millis();
    writer->send(OpBatch{{put_op("1", "todos", "a", Value("x"), stamp(t)), put_op("2", "todos", "b", Value("y"), stamp(t, 1))}, {}, {}});
    CHECK(writer->take_server_events().empty());
    auto events = holder->take_server_events();
    REQUIRE(events.size() == 2);
    std::sort(events.begin(), events.end(), [](const auto& x, const auto& y) { return x.key < y.key; });
    CHECK(events[0].event_type == ServerEventType::Put);
    CHECK(events[0].key == "a");
    REQUIRE(events[0].record.has_value());
    CHECK(events[0].record->value == Value("x"));
    CHECK(events[0].record->timestamp == stamp(t));
    CHECK(bystander->take().empty());

    // A delete is a tombstone record that replicas can apply (D3).
    ClientOp remove;
    remove.id = "3";
    remove.map_name = "todos";
    remove.key = "a";
    remove.op_type = OpType::Remove;
    remove.record = LWWRecordData{Value(), stamp(t + 1), {}};
    writer->send(OpBatch{{remove}, {}, {}});
    const ServerEvent removed = holder->take_one<ServerEvent>();
    CHECK(removed.event_type == ServerEventType::Remove);
    REQUIRE(removed.record.has_value());
    CHECK(removed.record->value.is_nil());
    CHECK(removed.record->timestamp == stamp(t + 1));
    CHECK(server_value(server.node(), "todos", "a") == nullptr);
}

TEST_CASE("A batch's events for one map on one shard reach a holder as one SERVER_BATCH_EVENT, in op order",
          "[server][protocol][fanout]") {
    InProcessServer server;
    auto writer = server.connect();
    auto holder = server.connect();
    holder->send(SyncInit{"feed", {}, {}, {}});
    holder->take();
    std::vector<std::string> keys;
    for (int i = 0; keys.size() < 10; ++i) {
        if (server.node().shards().owner_of("k" + std::to_string(i)) == 1) keys.push_back("k" + std::to_string(i));
    }
    std::vector<ClientOp> ops;
    const std::uint64_t t = now_millis();
    for (std::size_t i = 0; i < keys.size(); ++i) {
        ops.push_back(put_op(std::to_string(i + 1), "feed", keys[i], Value(static_cast<std::int64_t>(i)), stamp(t, static_cast<std::uint32_t>(i))));
    }
    writer->send(OpBatch{ops, {}, {}});
    const auto batch = holder->take_one<ServerBatchEvent>();
    REQUIRE(batch.events.size() == keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        CHECK(batch.events[i].key == keys[i]);
        CHECK(batch.events[i].event_type == ServerEventType::Put);
        CHECK(batch.events[i].record->value == Value(static_cast<std::int64_t>(i)));
    }
    // A single write is still a plain SERVER_EVENT.
    writer->send(OpBatch{{put_op("11", "feed", keys[0], Value("one"), stamp(t + 1))}, {}, {}});
    CHECK(holder->take_one<ServerEvent>().key == keys[0]);
}

TEST_CASE("OR ops keep the client's tags: a remove finds the tag its client added (D2)", "[server][protocol][writes]") {
    InProcessServer server;
    auto writer = server.connect();
    auto holder = server.connect();
    holder->send(ORMapSyncInit{"tags", 0, {}, {}, {}});
    holder->take();
    const Timestamp ts = stamp(now_millis(), 3, "client-a");
    const ClientOp add = or_add_op("1", "tags", "post1", Value("red"), ts);
    writer->send(OpBatch{{add, add}, {}, {}});  // a re-sent add is idempotent
    CHECK(writer->take_one<OpAck>().last_id == "1");
    auto added = holder->take_server_events();
    REQUIRE(added.size() == 1);
    CHECK(added[0].event_type == ServerEventType::OrAdd);
    CHECK(added[0].or_tag == std::optional(ts.to_string()));

    ORMap& map = server.node().state(server.node().shards().owner_of("post1")).or_map("tags").map;
    REQUIRE(map.get("post1").size() == 1);

    writer->send(OpBatch{{or_remove_op("2", "tags", "post1", ts.to_string())}, {}, {}});
    CHECK(writer->take_one<OpAck>().last_id == "2");
    const ServerEvent removed = holder->take_one<ServerEvent>();
    CHECK(removed.event_type == ServerEventType::OrRemove);
    CHECK(map.get("post1").empty());
    CHECK(map.is_tombstoned(ts.to_string()));
}

TEST_CASE("PN counters: request subscribes, sync merges and updates every subscriber, both spellings (D6)", "[server][protocol][counters]") {
    InProcessServer server;
    auto a = server.connect();
    auto b = server.connect();
    a->send(CounterRequest{"likes"});
    const CounterResponse empty = a->take_one<CounterResponse>();
    CHECK(empty.name == "likes");
    CHECK(empty.state.increments().empty());
    b->send(CounterRequest{"likes"});
    b->take();

    PNCounterStateData state;
    state.positive = StringMap<double>{{"client-a", 5.0}};
    state.negative = StringMap<double>{{"client-a", 2.0}};
    a->send(CounterSync{{"likes", state}});
    const CounterUpdate own = a->take_one<CounterUpdate>();
    const CounterUpdate other = b->take_one<CounterUpdate>();
    CHECK(own.state == other.state);
    REQUIRE(other.state.p.has_value());
    REQUIRE(other.state.positive.has_value());
    CHECK(other.state.to_state().positive.at("client-a") == 5.0);
    CHECK(other.state.to_state().negative.at("client-a") == 2.0);

    // An older state changes nothing and reaches no other subscriber.
    PNCounterStateData older;
    older.p = StringMap<double>{{"client-a", 1.0}};
    a->send(CounterSync{{"likes", older}});
    CHECK(a->take_one<CounterUpdate>().state.to_state().positive.at("client-a") == 5.0);
    CHECK(b->take().empty());
}

TEST_CASE("Topics: TOPIC_PUB reaches every subscriber on every shard but the publisher, in order; UNSUB stops it",
          "[server][protocol][topics]") {
    InProcessServer server;
    auto publisher = server.connect();
    auto first = server.connect();  // connections are spread over the shards
    auto second = server.connect();
    auto bystander = server.connect();
    for (auto* c : {&publisher, &first, &second}) (*c)->send(TopicSub{{"chat/room-1"}});
    bystander->send(TopicSub{{"chat/room-2"}});
    for (int i = 0; i < 50; ++i) publisher->send(TopicPub{"chat/room-1", Value(i)});
    for (auto* c : {&first, &second}) {
        const auto messages = (*c)->take_all<TopicMessage>();
        REQUIRE(messages.size() == 50);
        for (int i = 0; i < 50; ++i) {
            CHECK(messages[static_cast<std::size_t>(i)].topic == "chat/room-1");
            CHECK(messages[static_cast<std::size_t>(i)].data == Value(i));
            CHECK(messages[static_cast<std::size_t>(i)].timestamp > 0);
        }
    }
    CHECK(publisher->take().empty());
    CHECK(bystander->take().empty());

    second->send(TopicUnsub{{"chat/room-1"}});
    bystander->send(TopicPub{"chat/room-1", Value("from outside")});  // publishing needs no subscription
    CHECK(first->take_one<TopicMessage>().data == Value("from outside"));
    CHECK(publisher->take_one<TopicMessage>().data == Value("from outside"));
    CHECK(second->take().empty());

    // A closed subscriber leaves every topic (a delivery to it would be a
    // use-after-free under ASan).
    first->disconnect();
    publisher->send(TopicPub{"chat/room-1", Value(1)});
    CHECK(publisher->take().empty());
}

TEST_CASE("Topics: names outside [A-Za-z0-9_-.:/], empty or over 256 characters get ERROR 400", "[server][protocol][topics]") {
    InProcessServer server;
    auto client = server.connect();
    for (const std::string& bad : std::vector<std::string>{"", "has space", "emoji-\xF0\x9F\x98\x80", std::string(257, 'a')}) {
        client->send(TopicPub{bad, Value(1)});
        const auto e = client->take_one<ErrorMessage>();
        CHECK(e.code == 400);
        CHECK(e.message.find("invalid topic name") != std::string::npos);
    }
    client->send(TopicSub{{std::string(256, 'a')}});
    CHECK(client->take().empty());  // the longest valid name: no reply
}

TEST_CASE("Locks over the wire: fencing tokens, re-entrance, a waiting queue, release on disconnect, TTL and wait limits",
          "[server][protocol][locks]") {
    ServerConfig config = test_config();
    config.lock_wait_limit = std::chrono::milliseconds(100);
    InProcessServer server(config);
    auto a = server.connect();
    auto b = server.connect();  // on the other shard
    auto c = server.connect();

    a->send(LockRequest{"r1", "jobs", {}});
    CHECK(a->take_one<LockGranted>() == LockGranted{"r1", "jobs", 1});
    a->send(LockRequest{"r2", "jobs", {}});
    CHECK(a->take_one<LockGranted>().fencing_token == 1);  // the holder again: same token
    b->send(LockRequest{"r3", "jobs", {}});
    CHECK(b->take().empty());  // waits
    a->send(LockRelease{"r4", "jobs", 1});
    CHECK(a->take_one<LockReleased>() == LockReleased{"r4", "jobs", true});
    CHECK(b->take_one<LockGranted>() == LockGranted{"r3", "jobs", 2});

    c->send(LockRequest{"r5", "jobs", {}});
    b->disconnect();  // the holder goes: the waiter gets the lock
    server.poll();
    CHECK(c->take_one<LockGranted>() == LockGranted{"r5", "jobs", 3});

    a->send(LockRelease{{}, "jobs", 2});  // a stale token releases nothing
    CHECK(a->take_one<LockReleased>() == LockReleased{"", "jobs", false});

    a->send(LockRequest{"r6", "jobs", {}});  // waits for c, past the 100 ms limit
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    server.poll();
    CHECK(a->take_one<LockReleased>() == LockReleased{"r6", "jobs", false});

    a->send(LockRequest{"r7", "lease", 50});
    CHECK(a->take_one<LockGranted>().fencing_token == 1);
    c->send(LockRequest{"r8", "lease", {}});
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    server.poll();
    CHECK(c->take_one<LockGranted>() == LockGranted{"r8", "lease", 2});  // a's TTL ran out

    a->send(LockRequest{"r9", "bad name", {}});
    CHECK(a->take_one<LockReleased>() == LockReleased{"r9", "bad name", false});
    a->send(LockRequest{"r10", "zero", 0});
    CHECK(a->take_one<LockReleased>() == LockReleased{"r10", "zero", false});
}

TEST_CASE("PARTITION_MAP lists all 271 partitions on this node", "[server][protocol]") {
    InProcessServer server;
    auto client = server.connect();
    client->send(PartitionMapRequest{});
    const PartitionMap map = client->take_one<PartitionMap>();
    CHECK(map.partition_count == 271);
    REQUIRE(map.partitions.size() == 271);
    REQUIRE(map.nodes.size() == 1);
    CHECK(map.nodes[0].node_id == "topgun-server-node");
    for (std::uint32_t p = 0; p < 271; ++p) CHECK(map.partitions[p].owner_node_id == "topgun-server-node");
    // Up to date: no reply.
    client->send(PartitionMapRequest{PartitionMapRequestPayload{1}});
    CHECK(client->take().empty());
}

TEST_CASE("Every other message kind gets a clear ERROR, never silence", "[server][protocol][errors]") {
    InProcessServer server;
    auto client = server.connect();
    // Node-to-node subscriptions come with clustering.
    client->send(ClusterSubUnregister{});
    auto e = client->take_one<ErrorMessage>();
    CHECK(e.code == 501);
    CHECK(e.message == "not implemented: CLUSTER_SUB_UNREGISTER");

    client->send(OpAck{"1", {}, {}});
    e = client->take_one<ErrorMessage>();
    CHECK(e.code == 400);
    CHECK(e.message == "OP_ACK is a server-to-client message");
}

TEST_CASE("SQL, entry processors, resolvers, vector and hybrid search answer in the reference's not-available shapes",
          "[server][protocol][errors]") {
    InProcessServer server;
    auto client = server.connect();
    client->send(SqlQuery{"SELECT 1", "q1"});
    const auto sql = client->take_one<SqlQueryResp>();
    CHECK(sql.query_id == "q1");
    CHECK(sql.code == "FEATURE_DISABLED");
    CHECK(sql.rows.empty());

    EntryProcess ep;
    ep.request_id = "e1";
    ep.map_name = "m";
    ep.key = "k";
    client->send(ep);
    const auto processed = client->take_one<EntryProcessResponse>();
    CHECK(processed.request_id == "e1");
    CHECK_FALSE(processed.success);
    CHECK(processed.error == "Entry processing not available: WASM sandbox required");

    EntryProcessBatch batch;
    batch.request_id = "e2";
    batch.map_name = "m";
    batch.keys = {"a", "b"};
    client->send(batch);
    const auto per_key = client->take_one<EntryProcessBatchResponse>();
    REQUIRE(per_key.results.size() == 2);
    CHECK_FALSE(per_key.results[1].second.success);

    RegisterResolver reg;
    reg.request_id = "r1";
    reg.map_name = "m";
    client->send(reg);
    CHECK(client->take_one<RegisterResolverResponse>().error == "Conflict resolvers not available: WASM sandbox required");
    client->send(ListResolvers{"r2", {}});
    const auto list = client->take_one<ListResolversResponse>();
    CHECK(list.request_id == "r2");
    CHECK(list.resolvers.empty());

    VectorSearch vector;
    vector.id = "v1";
    vector.map_name = "m";
    client->send(vector);
    const auto vresp = client->take_one<VectorSearchResp>();
    CHECK(vresp.id == "v1");
    CHECK(vresp.error.has_value());

    HybridSearch hybrid;
    hybrid.request_id = "h1";
    client->send(hybrid);
    const auto hresp = client->take_one<HybridSearchResp>();
    CHECK(hresp.request_id == "h1");
    CHECK(hresp.results.empty());
    CHECK(hresp.error.has_value());
}

TEST_CASE("Malformed frames get ERROR 400 and the connection stays open; before auth they are dropped", "[server][protocol][errors]") {
    InProcessServer server;
    auto client = server.connect();
    client->send_bytes(Bytes{0xc1});  // never-used MsgPack byte
    auto e = client->take_one<ErrorMessage>();
    CHECK(e.code == 400);
    CHECK(e.message.find("malformed message dropped") == 0);
    client->send_bytes(encode_body(LWWRecordData{Value(1), stamp(1), {}}));  // a map without "type"
    CHECK(client->take_one<ErrorMessage>().code == 400);
    client->send(Ping{5});
    CHECK(client->take_one<Pong>().timestamp == 5);

    InProcessServer jwt(jwt_config(), nullptr, hs256_verifier());
    auto anonymous = jwt.connect();
    anonymous->take();
    anonymous->send_bytes(Bytes{0xc1});
    CHECK(anonymous->take().empty());
    CHECK_FALSE(anonymous->transport().closed);
}

TEST_CASE("A 300-deep value is dropped, not acked (nesting limit 256)", "[server][protocol][limits]") {
    InProcessServer server;
    auto client = server.connect();
    Value deep(1);
    for (int i = 0; i < 300; ++i) deep = Value(Value::Array{deep});
    client->send(OpBatch{{put_op("1", "m", "k", deep, stamp(now_millis()))}, {}, {}});
    const auto messages = client->take();
    REQUIRE(messages.size() == 1);
    CHECK(std::get<ErrorMessage>(messages[0]).code == 400);
    CHECK(server_value(server.node(), "m", "k") == nullptr);
}

namespace {
// A token bucket of `burst` ops that does not refill within a test.
ServerConfig bucket_config(double burst) {
    ServerConfig config = test_config();
    config.op_rate = 1;
    config.op_burst = burst;
    return config;
}

// PUTs "0".."count-1" of keys k0.. to map m, in stamp order.
std::vector<ClientOp> numbered_puts(int count) {
    std::vector<ClientOp> ops;
    const std::uint64_t t = now_millis();
    for (int i = 0; i < count; ++i) {
        ops.push_back(put_op(std::to_string(i), "m", "k" + std::to_string(i), Value(i), stamp(t, static_cast<std::uint32_t>(i))));
    }
    return ops;
}

Bytes batch_data(const std::vector<Bytes>& items) {
    Bytes data;
    for (const Bytes& item : items) {
        const auto n = static_cast<std::uint32_t>(item.size());
        for (int shift = 24; shift >= 0; shift -= 8) data.push_back(static_cast<std::uint8_t>(n >> shift));
        data.insert(data.end(), item.begin(), item.end());
    }
    return data;
}
}  // namespace

TEST_CASE("BATCH envelopes are unpacked; more than 8192 items is ERROR 413", "[server][protocol][limits]") {
    InProcessServer server;
    auto client = server.connect();
    const std::uint64_t t = now_millis();
    client->send(Batch{2, batch_data({encode_message(Ping{9}),
                                      encode_message(OpBatch{{put_op("1", "m", "k", Value(1), stamp(t))}, {}, {}})})});
    auto messages = client->take();
    REQUIRE(messages.size() == 2);
    CHECK(std::get<Pong>(messages[0]).timestamp == 9);
    CHECK(std::get<OpAck>(messages[1]).last_id == "1");

    std::vector<Bytes> many(8193, encode_message(Ping{1}));
    client->send(Batch{8193, batch_data(many)});
    const auto e = client->take_one<ErrorMessage>();
    CHECK(e.code == 413);
}

TEST_CASE("The op-rate token bucket answers ERROR 429 and keeps the connection", "[server][protocol][limits]") {
    InProcessServer server(bucket_config(100));
    auto client = server.connect();
    const std::vector<ClientOp> ops = numbered_puts(60);
    client->send(OpBatch{ops, {}, {}});
    CHECK(client->take_all<OpAck>().size() == 1);
    client->send(OpBatch{ops, {}, {}});  // 60 more: over the burst of 100
    const auto e = client->take_one<ErrorMessage>();
    CHECK(e.code == 429);
    CHECK(e.message == "rate limit exceeded, slow down");
    CHECK_FALSE(client->transport().closed);
    client->send(Ping{3});  // costs 1: still within the bucket
    CHECK(client->take_one<Pong>().timestamp == 3);
}

TEST_CASE("The bucket charges a BATCH its real inner frames and clamps any cost to the burst", "[server][protocol][limits]") {
    InProcessServer server(bucket_config(100));

    // A `count` of 1 does not make 8193 frames cheap: the first oversized BATCH
    // drains the whole bucket (then is refused as too large), the second finds it empty.
    auto flooder = server.connect();
    const std::vector<Bytes> many(8193, encode_message(Ping{1}));
    flooder->send(Batch{1, batch_data(many)});
    CHECK(flooder->take_one<ErrorMessage>().code == 413);
    flooder->send(Batch{1, batch_data(many)});
    CHECK(flooder->take_one<ErrorMessage>().code == 429);
    CHECK_FALSE(flooder->transport().closed);

    // One batch bigger than the burst (a replayed offline op log) passes on a full bucket.
    auto replayer = server.connect();
    replayer->send(OpBatch{numbered_puts(150), {}, {}});
    CHECK(replayer->take_one<OpAck>().last_id == "149");
}

TEST_CASE("TTL records expire on the server too (D9); tombstone GC tells clients GC_PRUNE", "[server][protocol][maintenance]") {
    ServerConfig config = test_config();
    config.tombstone_retention = std::chrono::milliseconds(1000);
    config.gc_interval = std::chrono::milliseconds(0);
    InProcessServer server(config);
    auto client = server.connect();
    const std::uint64_t t = now_millis();
    ClientOp ttl = put_op("1", "m", "ttl", Value(1), stamp(t - 5000));
    ttl.record.value.ttl_ms = 1000;
    ClientOp old_delete;
    old_delete.id = "2";
    old_delete.map_name = "m";
    old_delete.key = "gone";
    old_delete.op_type = OpType::Remove;
    old_delete.record = LWWRecordData{Value(), stamp(t - 50'000), {}};
    client->send(OpBatch{{ttl, old_delete, put_op("3", "m", "live", Value(3), stamp(t))}, {}, {}});
    client->take();
    LWWMap& ttl_map = *server.node().state(server.node().shards().owner_of("ttl")).find_lww("m");
    CHECK(ttl_map.get("ttl") == nullptr);     // expired: reads skip it
    CHECK(ttl_map.get_record("ttl").has_value());  // still stored until the sweep

    server.node().shards()[0].post([&] { server.node().run_maintenance(); });
    server.poll();
    CHECK_FALSE(ttl_map.get_record("ttl").has_value());
    LWWMap& gone_map = *server.node().state(server.node().shards().owner_of("gone")).find_lww("m");
    CHECK_FALSE(gone_map.get_record("gone").has_value());
    CHECK(server_value(server.node(), "m", "live") != nullptr);
    const GcPrune prune = client->take_one<GcPrune>();
    CHECK(prune.older_than.millis <= t);
    CHECK(prune.older_than.millis + 5000 >= t);
}

TEST_CASE("A connection with too many unacknowledged batches stops reading until they are acked", "[server][protocol][limits]") {
    ServerConfig config = test_config();
    config.max_inflight_batches = 2;
    InProcessServer server(config);
    auto client = server.connect();
    const std::uint64_t t = now_millis();
    // Without polling, parts on the other shard stay pending.
    for (int i = 0; i < 2; ++i) {
        std::vector<ClientOp> ops;
        for (int k = 0; k < 20; ++k) ops.push_back(put_op(std::to_string(i * 100 + k), "m", "k" + std::to_string(k), Value(k), stamp(t, static_cast<std::uint32_t>(i * 100 + k))));
        client->connection().on_frame(encode_message(OpBatch{ops, {}, {}}));
    }
    CHECK(client->transport().paused);
    CHECK(server.node().metrics().writes_in_flight == 2);  // what /health reports as in_flight
    server.poll();
    CHECK_FALSE(client->transport().paused);
    CHECK(server.node().metrics().writes_in_flight == 0);
    const auto acks = client->take_all<OpAck>();
    REQUIRE(acks.size() == 2);
    CHECK(acks[0].last_id == "19");
    CHECK(acks[1].last_id == "119");
}

TEST_CASE("Device identity: present-or-mint through DEVICE_HELLO and AUTH.deviceToken", "[server][protocol][device]") {
    InProcessServer server;
    auto first = server.connect();
    first->send(DeviceHello{});
    const DeviceAck minted = first->take_one<DeviceAck>();
    REQUIRE(minted.device_id.has_value());
    REQUIRE(minted.device_token.has_value());
    CHECK(minted.device_token->rfind(*minted.device_id + ".", 0) == 0);
    first->send(DeviceHello{});  // a repeat names the same identity, mints nothing
    const DeviceAck repeat = first->take_one<DeviceAck>();
    CHECK(repeat.device_id == minted.device_id);
    CHECK_FALSE(repeat.device_token.has_value());

    // A later connection presenting the token re-binds to the same id.
    auto second = server.connect();
    second->send(DeviceHello{minted.device_token});
    const DeviceAck rebound = second->take_one<DeviceAck>();
    CHECK(rebound.device_id == minted.device_id);
    CHECK_FALSE(rebound.device_token.has_value());

    // A wrong secret or a garbled token mints a new identity (never a failure).
    std::string forged = *minted.device_token;
    forged.back() = forged.back() == '0' ? '1' : '0';
    for (const std::string& token : {forged, std::string("garbage")}) {
        auto other = server.connect();
        other->send(DeviceHello{token});
        const DeviceAck fresh = other->take_one<DeviceAck>();
        CHECK(fresh.device_id != minted.device_id);
        CHECK(fresh.device_token.has_value());
    }

    // In JWT mode the binding rides on AUTH, scoped to the subject.
    InProcessServer jwt(jwt_config(), nullptr, hs256_verifier());
    auto alice = jwt.connect();
    alice->take();
    alice->send(Auth{token_for("alice"), {}, {}});
    const AuthAck ack = alice->take_one<AuthAck>();
    REQUIRE(ack.device_token.has_value());
    auto alice_again = jwt.connect();
    alice_again->take();
    alice_again->send(Auth{token_for("alice"), {}, ack.device_token});
    CHECK(alice_again->take_one<AuthAck>().device_id == ack.device_id);
    auto bob = jwt.connect();
    bob->take();
    bob->send(Auth{token_for("bob"), {}, ack.device_token});  // alice's device is not bob's
    CHECK(bob->take_one<AuthAck>().device_id != ack.device_id);
}

namespace {
// A store whose commits wait until the test opens the gate.
class GatedStore final : public storage::Store {
public:
    std::string_view backend() const noexcept override { return "gated"; }
    bool durable() const noexcept override { return true; }
    void write(std::span<const storage::Mutation> batch) override {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return open_; });
        written_ += batch.size();
    }
    void load(storage::LoadSink&) override {}
    void open() {
        std::lock_guard lock(mutex_);
        open_ = true;
        cv_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
    std::size_t written_ = 0;
};
}  // namespace

TEST_CASE("Writes beyond the storage backlog bound get ERROR 429 and are not applied", "[server][protocol][limits]") {
    ServerConfig config = test_config();
    config.max_pending_mutations = 5;
    auto store = std::make_unique<GatedStore>();
    GatedStore* gate = store.get();
    InProcessServer server(config, std::move(store));
    auto client = server.connect();
    const std::uint64_t t = now_millis();
    std::vector<ClientOp> ops;
    for (int i = 0; i < 10; ++i) ops.push_back(put_op(std::to_string(i + 1), "m", "k" + std::to_string(i), Value(i), stamp(t, static_cast<std::uint32_t>(i))));
    client->send(OpBatch{ops, {}, {}});
    CHECK(client->take_one<OpAck>().last_id == "10");  // applied; its 10 mutations wait for the store
    client->send(OpBatch{{put_op("11", "m", "late", Value(1), stamp(t, 99))}, {}, {}});
    const auto shed = client->take();
    REQUIRE(shed.size() == 1);
    CHECK(std::get<ErrorMessage>(shed[0]).code == 429);
    CHECK(server_value(server.node(), "m", "late") == nullptr);

    gate->open();
    server.node().persistence()->flush();
    client->send(OpBatch{{put_op("12", "m", "late", Value(1), stamp(t, 99))}, {}, {}});
    CHECK(client->take_one<OpAck>().last_id == "12");
    CHECK(server_value(server.node(), "m", "late") != nullptr);
}
