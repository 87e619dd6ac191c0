#include <topgun/protocol/codec.hpp>
#include <topgun/protocol/http_sync.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

using namespace topgun;
using namespace topgun::protocol;

namespace {

const Timestamp kTs1{1700000000000, 1, "node-1"};
const Timestamp kTs2{1700000000001, 0, "node-2"};

Value object(std::initializer_list<std::pair<const char*, Value>> members) {
    Value m = Value::map();
    for (const auto& [k, v] : members) m.set(k, v);
    return m;
}

// encode -> decode -> equal, and the decoded message re-encodes to the same bytes.
void check_round_trip(const Message& m) {
    INFO(type_name(m));
    const Bytes bytes = encode_message(m);
    auto decoded = decode_message(bytes);
    INFO(decoded.error().message());
    REQUIRE(decoded);
    CHECK(type_name(decoded.message()) == type_name(m));
    CHECK(decoded.message() == m);
    CHECK(encode_message(decoded.message()) == bytes);
}

template <class T>
void check_body_round_trip(const T& body) {
    const Bytes bytes = encode_body(body);
    T back;
    msgpack::Error error;
    REQUIRE(decode_body(bytes, back, error));
    CHECK(back == body);
    CHECK(encode_body(back) == bytes);
}

Bytes read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("The variant holds 90 kinds with distinct type strings", "[messages]") {
    STATIC_REQUIRE(kMessageKinds == 90);
    std::set<std::string_view> names;
    for (const auto& entry : protocol::detail::kTypeTable) names.insert(entry.name);
    CHECK(names.size() == 90);
    CHECK(is_message_type("CLUSTER_SEARCH_UPDATE"));
    CHECK_FALSE(is_message_type("HYBRID_QUERY_SUBSCRIBE"));
}

TEST_CASE("Sync messages round-trip", "[messages]") {
    check_round_trip(SyncInit{.map_name = "users",
                              .root_hash = 12345,
                              .bucket_hashes = StringMap<std::uint32_t>{{"0", 111}, {"a", 4294967295u}},
                              .last_sync_timestamp = 1700000000000});
    check_round_trip(
        SyncRespLeaf{.map_name = "users",
                     .path = "0a",
                     .records = {{"u1", LWWRecordData{Value("Alice"), kTs1, Nullable<std::uint64_t>::nil()}},
                                 {"u2", LWWRecordData{Value(), kTs2, 60000}}}});
    check_round_trip(SyncRespBuckets{{"users", "", {{"0", 1}, {"f", 2}}}});
    check_round_trip(ORMapSyncRespLeaf{
        .map_name = "tags",
        .path = "3",
        .entries = {ORMapEntry{"k", {ORMapRecordData{Value(-7), kTs1, "1700000000000:1:node-1", {}}}, {"t1"}}},
        .covering_epoch = 42});
    check_round_trip(ORMapSyncRespRoot{
        .map_name = "tags", .root_hash = 9, .timestamp = kTs2, .covering_epoch = {}, .full_resync = true});
    check_round_trip(ClientApplyAck{.cursor = 1700000000000});
    check_round_trip(GcPrune{.older_than = kTs1});
}

TEST_CASE("Query messages round-trip, sort in both forms", "[messages]") {
    PredicateNode leaf{.op = "eq", .attribute = "status", .value = Value("active")};
    PredicateNode nil_leaf{.op = "eq", .attribute = "deletedAt", .value = Nullable<Value>::nil()};
    PredicateNode fts{.op = "matchPhrase", .attribute = "body", .query = "deep learning", .slop = 1};
    PredicateNode tree{.op = "and", .children = std::vector<PredicateNode>{leaf, nil_leaf, fts}};
    QuerySub sub{.query_id = "q1",
                 .map_name = "users",
                 .query = Query{.where = StringMap<Value>{{"role", Value("admin")}},
                                .predicate = tree,
                                .sort = Sort{{{"age", SortDirection::Desc}, {"name", SortDirection::Asc}}},
                                .limit = 10,
                                .cursor = "abc",
                                .projection = std::vector<std::string>{"name"}},
                 .projection = std::vector<std::string>{"name"}};
    check_round_trip(sub);

    // The record form {field: direction} survives and re-encodes as a record.
    sub.query.sort->form = Sort::Form::Record;
    check_round_trip(sub);
    const Bytes record_bytes = encode_message(sub);
    auto back = decode_message(record_bytes);
    REQUIRE(back);
    const Sort& sort = *std::get<QuerySub>(back.message()).query.sort;
    CHECK(sort.form == Sort::Form::Record);
    REQUIRE(sort.keys.size() == 2);
    CHECK(sort.keys[0].field == "age");
    CHECK(sort.keys[0].direction == SortDirection::Desc);

    check_round_trip(QueryResp{.query_id = "q1",
                               .results = {{"u1", object({{"name", Value("Alice")}})}},
                               .has_more = false,
                               .cursor_status = CursorStatus::None,
                               .error = "overflow",
                               .code = "QUERY_SNAPSHOT_OVERFLOW"});
    check_round_trip(QueryUpdate{.query_id = "q1", .key = "u1", .value = Value(), .change_type = ChangeType::Leave});
    check_round_trip(
        SqlQueryResp{.query_id = "s1", .columns = {"a", "b"}, .rows = {{Value(1), Value(2.5)}, {Value(-1), Value()}}});
}

TEST_CASE("Sort rejects a direction outside asc/desc", "[messages]") {
    Value query = object({{"sort", object({{"age", Value("sideways")}})}});
    Value msg = object({{"type", Value("QUERY_SUB")},
                        {"payload", object({{"queryId", Value("q")}, {"mapName", Value("m")}, {"query", query}})}});
    auto r = decode_message(msgpack::encode(msg));
    CHECK(r.error().code == msgpack::Errc::InvalidValue);
    CHECK(r.error().path == "payload.query.sort.age");
}

TEST_CASE("Search messages round-trip", "[messages]") {
    check_round_trip(
        VectorSearch{.id = "v1",
                     .map_name = "docs",
                     .index_name = "embedding",
                     .query_vector = Bytes{0, 0, 128, 63, 0, 0, 0, 64},
                     .k = 5,
                     .ef_search = 64,
                     .options = VectorSearchOptions{.include_value = false,
                                                    .min_score = 0.25,
                                                    .filter = PredicateNode{.op = "isNotNull", .attribute = "title"}}});
    check_round_trip(VectorSearchResp{.id = "v1",
                                      .results = {{"d1", 0.75, Value("x"), Bytes{1, 2, 3, 4}}},
                                      .total_candidates = 12,
                                      .search_time_ms = 3});
    check_round_trip(HybridSearchSub{.subscription_id = "h1",
                                     .params = {.map_name = "docs",
                                                .query_text = "rust",
                                                .methods = {SearchMethod::FullText, SearchMethod::Semantic},
                                                .k = 10,
                                                .query_vector = Bytes{0, 0, 0, 0}}});
    check_round_trip(HybridSearchUpdate{.subscription_id = "h1",
                                        .key = "d1",
                                        .score = 0.0325,
                                        .method_scores = {{"fullText", 1.5}, {"semantic", 0.9}},
                                        .value = Nullable<Value>::nil(),
                                        .change_type = ChangeType::Update});
    check_round_trip(SearchResp{
        .request_id = "s1", .results = {{"a1", Value(), 0.95, {"rust"}}}, .total_count = 1, .error = "none"});
}

TEST_CASE("Messaging, processing and journal messages round-trip", "[messages]") {
    check_round_trip(
        TopicMessage{.topic = "chat/1", .data = Value(-12), .publisher_id = {}, .timestamp = 1700000000000});
    check_round_trip(LockRelease{.request_id = {}, .name = "l", .fencing_token = 3});
    check_round_trip(LockReleased{.request_id = "", .name = "l", .success = false});
    check_round_trip(CounterUpdate{{"views", PNCounterStateData::both({{"node-1", 10}}, {{"node-2", 2.5}})}});
    check_round_trip(EntryProcessBatchResponse{
        .request_id = "b1",
        .results = {{"k1", {.success = true, .result = Value(1), .new_value = Nullable<Value>::nil()}},
                    {"k2", {.success = false, .error = "boom"}}}});
    check_round_trip(
        JournalReadResponse{.request_id = "r1",
                            .events = {JournalEventData{.sequence = "17",
                                                        .type = JournalEventType::Delete,
                                                        .map_name = "m",
                                                        .key = "k",
                                                        .previous_value = Value("old"),
                                                        .timestamp = kTs2,
                                                        .node_id = "node-2",
                                                        .metadata = StringMap<Value>{{"source", Value("http")}}}},
                            .has_more = true});
    check_round_trip(JournalSubscribe{.request_id = "j", .types = std::vector{JournalEventType::Put}});
    check_round_trip(ListResolversResponse{.request_id = "lr", .resolvers = {{"m", "r", 5, "a-*"}}});
    check_round_trip(UnregisterResolverResponse{{"u", false, "not found"}});
}

TEST_CASE("Cluster messages round-trip", "[messages]") {
    check_round_trip(PartitionMapRequest{});
    check_round_trip(PartitionMapRequest{.payload = PartitionMapRequestPayload{}});
    check_round_trip(PartitionMapRequest{.payload = PartitionMapRequestPayload{.current_version = 3}});
    check_round_trip(PartitionMap{.version = 2,
                                  .partition_count = 271,
                                  .nodes = {{"n1", {"ws://a", {}}, NodeStatus::Suspected}},
                                  .partitions = {{270, "n1", {}}},
                                  .generated_at = -5});
    check_round_trip(ClusterSubRegister{.subscription_id = "c",
                                        .coordinator_node_id = "n1",
                                        .map_name = "m",
                                        .type = ClusterSubType::Query,
                                        .query_predicate = object({{"op", Value("eq")}}),
                                        .query_sort = StringMap<SortDirection>{{"age", SortDirection::Desc}}});
    check_round_trip(ClusterSearchReq{
        .request_id = "r",
        .map_name = "m",
        .query = "q",
        .options = {.limit = 20, .after_score = 0.5, .after_key = "k9"},
    });
}

TEST_CASE("Flat message kinds keep their envelopes", "[messages]") {
    // JOURNAL_EVENT nests under "event"; PARTITION_MAP_REQUEST's payload may be absent.
    Value ev = object(
        {{"type", Value("JOURNAL_EVENT")},
         {"event", object({{"sequence", Value("1")},
                           {"type", Value("PUT")},
                           {"mapName", Value("m")},
                           {"key", Value("k")},
                           {"timestamp", object({{"millis", Value(1)}, {"counter", Value(0)}, {"nodeId", Value("n")}})},
                           {"nodeId", Value("n")}})}});
    auto r = decode_message(msgpack::encode(ev));
    REQUIRE(r);
    CHECK(std::get<JournalEvent>(r.message()).event.value.absent());

    auto missing = decode_message(msgpack::encode(object({{"type", Value("JOURNAL_EVENT")}})));
    CHECK(missing.error().code == msgpack::Errc::MissingField);
    CHECK(missing.error().path == "event");

    auto bare = decode_message(msgpack::encode(object({{"type", Value("PARTITION_MAP_REQUEST")}})));
    REQUIRE(bare);
    CHECK_FALSE(std::get<PartitionMapRequest>(bare.message()).payload);
}

TEST_CASE("HTTP sync bodies round-trip", "[messages]") {
    HttpSyncRequest req{.client_id = "c1",
                        .client_hlc = kTs1,
                        .operations = std::vector<ClientOp>{ClientOp{
                            .id = "1", .map_name = "m", .key = "k", .record = Nullable<LWWRecordData>::nil()}},
                        .queries = std::vector<HttpQueryRequest>{{"q", "m", object({{"a", Value(1)}}), 10, {}, "c"}},
                        .searches = std::vector<HttpSearchRequest>{{"s", "m", "text", Nullable<Value>::nil()}}};
    check_body_round_trip(req);
    HttpSyncResponse resp{.server_hlc = kTs2,
                          .ack = HttpSyncAck{"1", std::vector<OpResult>{{"1", true, WriteConcern::Applied, {}}}},
                          .query_results = std::vector<HttpQueryResult>{{"q", {Value(1), Value("x")}, true, "n"}},
                          .errors = std::vector<HttpSyncError>{{403, "access denied", "q"}}};
    check_body_round_trip(resp);
}

TEST_CASE("Upstream golden fixtures decode and re-encode byte-identically", "[messages]") {
    const char* dir = std::getenv("TOPGUN_UPSTREAM_GOLDEN");
    if (dir == nullptr) {
        WARN("TOPGUN_UPSTREAM_GOLDEN not set; skipping");
        return;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() == ".msgpack") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    REQUIRE_FALSE(files.empty());
    std::size_t passed = 0;
    for (const auto& file : files) {
        const std::string name = file.stem().string();
        INFO(name);
        const Bytes bytes = read_file(file);
        Bytes again;
        msgpack::Error error;
        if (name == "HTTP_SYNC_REQUEST") {
            HttpSyncRequest body;
            REQUIRE(decode_body(bytes, body, error));
            again = encode_body(body);
        } else if (name == "HTTP_SYNC_RESPONSE") {
            HttpSyncResponse body;
            REQUIRE(decode_body(bytes, body, error));
            again = encode_body(body);
        } else {
            auto decoded = decode_message(bytes);
            INFO(decoded.error().message());
            REQUIRE(decoded);
            again = encode_message(decoded.message());
        }
        CHECK(again == bytes);
        if (again == bytes) ++passed;
    }
    INFO(passed << " of " << files.size() << " fixtures byte-identical");
    CHECK(passed == files.size());
}
