#include "golden_samples.hpp"

#include <topgun/protocol/codec.hpp>
#include <topgun/protocol/http_sync.hpp>

#include <initializer_list>
#include <utility>

namespace topgun::golden {
namespace {

using namespace topgun::protocol;

Timestamp ts1() { return Timestamp{1700000000000, 1, "node-1"}; }
Timestamp ts2() { return Timestamp{1700000000001, 0, "node-2"}; }

Value object(std::initializer_list<std::pair<const char*, Value>> members) {
    Value m = Value::map();
    for (const auto& [k, v] : members) m.set(k, v);
    return m;
}

LWWRecordData lww(Value value, Timestamp ts) { return LWWRecordData{std::move(value), std::move(ts), {}}; }

ORMapEntry or_entry() {
    return ORMapEntry{.key = "tag-1",
                      .records = {ORMapRecordData{.value = Value("red"),
                                                  .timestamp = ts1(),
                                                  .tag = "1700000000000:1:node-1",
                                                  .ttl_ms = Nullable<std::uint64_t>::nil()}},
                      .tombstones = {"1699999999000:0:node-2"}};
}

// Two f32 values (1.0, 2.0), little-endian.
Bytes vector_bytes() { return Bytes{0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40}; }

PredicateNode age_filter() {
    return PredicateNode{.op = "and",
                         .children = std::vector<PredicateNode>{
                             PredicateNode{.op = "gte", .attribute = "age", .value = Value(18)},
                             PredicateNode{.op = "eq", .attribute = "ownerId", .value_ref = "auth.sub"},
                         }};
}

JournalEventData journal_event() {
    return JournalEventData{.sequence = "42",
                            .type = JournalEventType::Update,
                            .map_name = "orders",
                            .key = "order-7",
                            .value = Value("shipped"),
                            .previous_value = Value("pending"),
                            .timestamp = ts1(),
                            .node_id = "node-1",
                            .metadata = StringMap<Value>{{"source", Value("http")}}};
}

class Samples {
public:
    template <MessageStruct M>
    void add(const M& m) {
        out_.push_back(GoldenSample{std::string(M::kType), encode_message(m)});
    }
    template <class T>
    void add_body(std::string name, const T& body) {
        out_.push_back(GoldenSample{std::move(name), encode_body(body)});
    }
    std::vector<GoldenSample> take() { return std::move(out_); }

private:
    std::vector<GoldenSample> out_;
};

void connection(Samples& s) {
    s.add(Auth{.token = "eyJhbGciOiJIUzI1NiJ9.test-jwt-token", .protocol_version = 1, .device_token = "dev-tok-1"});
    s.add(AuthRequired{.reason = "token expired"});
    s.add(AuthAck{.protocol_version = 1, .user_id = "user-42", .device_id = "device-7", .device_token = "dev-tok-1"});
    s.add(AuthFail{.error = "invalid token", .code = 401});
    s.add(DeviceHello{.device_token = "dev-tok-1"});
    s.add(DeviceAck{.device_id = "device-7", .device_token = "dev-tok-1"});
    s.add(Ping{.timestamp = 1700000000000});
    s.add(Pong{.timestamp = 1700000000000, .server_time = 1700000000005});
    s.add(ErrorMessage{.code = 429, .message = "too many requests", .details = object({{"retryAfterMs", Value(250)}})});
}

void writes(Samples& s) {
    s.add(ClientOpMessage{ClientOp{.id = "1",
                                   .map_name = "users",
                                   .key = "user-1",
                                   .op_type = OpType::Put,
                                   .record = lww(object({{"name", Value("Alice")}, {"age", Value(30)}}), ts1()),
                                   .write_concern = WriteConcern::Applied,
                                   .timeout = 5000}});
    s.add(OpBatch{.ops = {ClientOp{.id = "2",
                                   .map_name = "users",
                                   .key = "user-2",
                                   .op_type = OpType::Remove,
                                   .record = Nullable<LWWRecordData>::nil()},
                          ClientOp{.id = "3",
                                   .map_name = "tags",
                                   .key = "tag-1",
                                   .op_type = OpType::OrAdd,
                                   .or_record = ORMapRecordData{Value("red"), ts2(), "1700000000001:0:node-2", {}}}},
                  .write_concern = WriteConcern::Persisted,
                  .timeout = 10000});
    s.add(OpAck{.last_id = "3",
                .achieved_level = WriteConcern::Applied,
                .results = std::vector<OpResult>{{"2", true, WriteConcern::Applied, {}},
                                                 {"3", false, WriteConcern::Memory, "quota exceeded"}}});
    s.add(OpRejected{.op_id = "4", .reason = "schema validation failed", .code = 400});
    s.add(ServerEvent{ServerEventPayload{.map_name = "users",
                                         .event_type = ServerEventType::Put,
                                         .key = "user-1",
                                         .record = lww(object({{"name", Value("Alice")}}), ts1())}});
    s.add(ServerBatchEvent{
        .events = {ServerEventPayload{.map_name = "tags",
                                      .event_type = ServerEventType::OrRemove,
                                      .key = "tag-1",
                                      .or_tag = "1700000000000:1:node-1"},
                   ServerEventPayload{.map_name = "users", .event_type = ServerEventType::Remove, .key = "user-2"}}});
    s.add(Batch{.count = 2,
                .data = pack_batch(
                    std::vector<Bytes>{encode_message(Ping{.timestamp = 1}), encode_message(Ping{.timestamp = 2})})});
}

void sync(Samples& s) {
    s.add(SyncInit{.map_name = "users", .last_sync_timestamp = 1700000000000});
    s.add(SyncRespRoot{.map_name = "users", .root_hash = 2882400001u, .timestamp = ts1()});
    s.add(MerkleReqBucket{{.map_name = "users", .path = "a"}});
    s.add(SyncRespBuckets{{.map_name = "users", .path = "a", .buckets = {{"0", 111}, {"7", 222}, {"f", 4294967295u}}}});
    s.add(SyncRespLeaf{.map_name = "users",
                       .path = "a3",
                       .records = {{"user-1", LWWRecordData{Value("Alice"), ts1(), Nullable<std::uint64_t>::nil()}},
                                   {"user-9", LWWRecordData{Value(), ts2(), 60000}}}});
    s.add(SyncResetRequired{.map_name = "users", .reason = "partition ownership changed"});
    s.add(ORMapSyncInit{.map_name = "tags",
                        .root_hash = 99999,
                        .bucket_hashes = {{"0", 444}, {"5", 555}},
                        .last_sync_timestamp = 1700000000000,
                        .claimed_epoch = 12});
    s.add(ORMapSyncRespRoot{
        .map_name = "tags", .root_hash = 99999, .timestamp = ts2(), .covering_epoch = 13, .full_resync = true});
    s.add(ORMapMerkleReqBucket{{.map_name = "tags", .path = "5"}});
    s.add(ORMapSyncRespBuckets{{.map_name = "tags", .path = "5", .buckets = {{"2", 17}, {"c", 0}}}});
    s.add(ORMapSyncRespLeaf{.map_name = "tags", .path = "52", .entries = {or_entry()}, .covering_epoch = 13});
    s.add(ORMapDiffRequest{.map_name = "tags", .keys = {"tag-1", "tag-2"}});
    s.add(ORMapDiffResponse{.map_name = "tags",
                            .entries = {or_entry(), ORMapEntry{.key = "tag-2", .records = {}, .tombstones = {}}},
                            .covering_epoch = 13});
    s.add(ORMapPushDiff{.map_name = "tags", .entries = {or_entry()}});
    s.add(GcPrune{.older_than = ts1()});
    s.add(ClientApplyAck{.cursor = 13});
}

void queries(Samples& s) {
    s.add(QuerySub{
        .query_id = "q-1",
        .map_name = "users",
        .query = Query{.where = StringMap<Value>{{"active", Value(true)}},
                       .predicate = age_filter(),
                       .sort = Sort{.keys = {{"createdAt", SortDirection::Desc}, {"name", SortDirection::Asc}}},
                       .limit = 50,
                       .cursor = "eyJsYXN0S2V5IjoidXNlci0xIn0"},
        .projection = std::vector<std::string>{"name", "age"}});
    s.add(QueryUnsub{.query_id = "q-1"});
    s.add(QueryResp{.query_id = "q-1",
                    .results = {{"user-1", object({{"name", Value("Alice")}, {"age", Value(30)}})},
                                {"user-2", object({{"name", Value("Bob")}, {"age", Value(41)}})}},
                    .has_more = true,
                    .cursor_status = CursorStatus::Valid,
                    .next_cursor = "eyJsYXN0S2V5IjoidXNlci0yIn0"});
    s.add(QueryUpdate{.query_id = "q-1", .key = "user-3", .value = Value(), .change_type = ChangeType::Leave});
    s.add(QuerySyncInit{.query_id = "q-1", .root_hash = 305419896});
    s.add(SqlQuery{.sql = "SELECT name, age FROM users WHERE age > 18", .query_id = "sql-1"});
    s.add(SqlQueryResp{.query_id = "sql-1",
                       .columns = {"name", "age", "balance"},
                       .rows = {{Value("Alice"), Value(30), Value(-12.75)}, {Value("Bob"), Value(41), Value()}}});
}

void search(Samples& s) {
    const SearchOptions options{.limit = 10, .min_score = 0.5, .boost = StringMap<double>{{"title", 2.0}}};
    s.add(Search{.request_id = "sr-1", .map_name = "articles", .query = "rust async", .options = options});
    s.add(SearchResp{
        .request_id = "sr-1", .results = {{"article-1", Value(), 1.8731, {"rust", "async"}}}, .total_count = 1});
    s.add(
        SearchSub{{.subscription_id = "ss-1", .map_name = "articles", .query = "machine learning", .options = options}});
    s.add(SearchUpdate{.subscription_id = "ss-1",
                       .key = "article-9",
                       .value = Value(),
                       .score = 0.88,
                       .matched_terms = {"machine", "learning"},
                       .change_type = ChangeType::Enter});
    s.add(SearchUnsub{.subscription_id = "ss-1"});

    s.add(VectorSearch{.id = "vs-1",
                       .map_name = "docs",
                       .index_name = "embedding",
                       .query_vector = vector_bytes(),
                       .k = 5,
                       .ef_search = 64,
                       .options = VectorSearchOptions{
                           .include_value = true,
                           .include_vectors = false,
                           .min_score = 0.2,
                           .filter = PredicateNode{.op = "eq", .attribute = "lang", .value = Value("en")}}});
    s.add(VectorSearchResp{.id = "vs-1",
                           .results = {{"doc-1", 0.93, object({{"title", Value("Intro")}}), vector_bytes()}},
                           .total_candidates = 64,
                           .search_time_ms = 3});
    const HybridSearchParams params{.map_name = "docs",
                                    .query_text = "vector databases",
                                    .methods = {SearchMethod::Exact, SearchMethod::FullText, SearchMethod::Semantic},
                                    .k = 10,
                                    .query_vector = vector_bytes(),
                                    .predicate = PredicateNode{.op = "isNotNull", .attribute = "title"},
                                    .include_value = true,
                                    .min_score = 0.01};
    s.add(HybridSearch{.request_id = "hs-1", .params = params});
    s.add(HybridSearchResp{.request_id = "hs-1",
                           .results = {{.key = "doc-1",
                                        .score = 0.0325,
                                        .method_scores = {{"fullText", 2.4}, {"semantic", 0.91}},
                                        .value = object({{"title", Value("Intro")}})}},
                           .search_time_ms = 7});
    s.add(HybridSearchSub{.subscription_id = "hsub-1", .params = params});
    s.add(HybridSearchUpdate{.subscription_id = "hsub-1",
                             .key = "doc-2",
                             .score = 0.0161,
                             .method_scores = {{"semantic", 0.77}},
                             .value = Nullable<Value>::nil(),
                             .change_type = ChangeType::Update});
    s.add(HybridSearchUnsub{.subscription_id = "hsub-1"});
}

void messaging(Samples& s) {
    s.add(TopicSub{{"chat/room-1"}});
    s.add(TopicUnsub{{"chat/room-1"}});
    s.add(TopicPub{.topic = "chat/room-1", .data = object({{"text", Value("hello")}, {"mood", Value(-3)}})});
    s.add(TopicMessage{.topic = "chat/room-1",
                       .data = object({{"text", Value("hello")}}),
                       .publisher_id = "user-42",
                       .timestamp = 1700000000002});
    s.add(LockRequest{.request_id = "lock-1", .name = "jobs:nightly", .ttl = 30000});
    s.add(LockRelease{.request_id = "lock-2", .name = "jobs:nightly", .fencing_token = 7});
    s.add(LockGranted{.request_id = "lock-1", .name = "jobs:nightly", .fencing_token = 7});
    s.add(LockReleased{.request_id = "lock-3", .name = "jobs:nightly", .success = false});
    s.add(CounterRequest{.name = "page-views"});
    s.add(CounterSync{{.name = "page-views",
                       .state = PNCounterStateData{.positive = StringMap<double>{{"node-1", 10}},
                                                   .negative = StringMap<double>{{"node-1", 2}}}}});
    s.add(CounterResponse{
        {.name = "page-views", .state = PNCounterStateData::both({{"node-1", 10}, {"node-2", 4}}, {{"node-1", 2}})}});
    s.add(CounterUpdate{
        {.name = "page-views", .state = PNCounterStateData::both({{"node-1", 11}, {"node-2", 4}}, {{"node-1", 2}})}});
}

void processing(Samples& s) {
    const EntryProcessor increment{
        .name = "increment", .code = "return { value: (value ?? 0) + args };", .args = Value(1)};
    s.add(EntryProcess{.request_id = "ep-1", .map_name = "counters", .key = "c-1", .processor = increment});
    s.add(EntryProcessBatch{
        .request_id = "ep-2", .map_name = "counters", .keys = {"c-1", "c-2"}, .processor = increment});
    s.add(EntryProcessResponse{
        .request_id = "ep-1", .success = false, .error = "Entry processing not available: WASM sandbox required"});
    s.add(EntryProcessBatchResponse{
        .request_id = "ep-2",
        .results = {{"c-1", {.success = true, .result = Value(5), .new_value = Value(5)}},
                    {"c-2", {.success = false, .error = "Entry processing not available: WASM sandbox required"}}}});

    s.add(JournalSubscribe{.request_id = "jsub-1",
                           .from_sequence = "100",
                           .map_name = "orders",
                           .types = std::vector<JournalEventType>{JournalEventType::Put, JournalEventType::Delete}});
    s.add(JournalUnsubscribe{.subscription_id = "jsub-1"});
    s.add(JournalEvent{.event = journal_event()});
    s.add(JournalRead{.request_id = "jr-1", .from_sequence = "40", .limit = 100, .map_name = "orders"});
    s.add(JournalReadResponse{.request_id = "jr-1", .events = {journal_event()}, .has_more = false});

    s.add(RegisterResolver{.request_id = "rr-1",
                           .map_name = "users",
                           .resolver = {.name = "max-wins",
                                        .code = "return remote.value > local.value ? remote : local;",
                                        .priority = 50,
                                        .key_pattern = "user-*"}});
    s.add(RegisterResolverResponse{
        {.request_id = "rr-1", .success = false, .error = "Conflict resolvers not available: WASM sandbox required"}});
    s.add(UnregisterResolver{.request_id = "ur-1", .map_name = "users", .resolver_name = "max-wins"});
    s.add(UnregisterResolverResponse{{.request_id = "ur-1", .success = true}});
    s.add(ListResolvers{.request_id = "lr-1", .map_name = "users"});
    s.add(ListResolversResponse{.request_id = "lr-1",
                                .resolvers = {{.map_name = "users", .name = "max-wins", .priority = 50},
                                              {.map_name = "users", .name = "admin-merge", .key_pattern = "admin-*"}}});
    s.add(MergeRejected{.map_name = "users",
                        .key = "user-1",
                        .attempted_value = object({{"balance", Value(-50)}}),
                        .reason = "balance must not be negative",
                        .timestamp = ts2()});
}

void cluster(Samples& s) {
    s.add(PartitionMapRequest{.payload = PartitionMapRequestPayload{.current_version = 5}});
    s.add(PartitionMap{.version = 7,
                       .partition_count = 271,
                       .nodes = {{"node-1", {"ws://10.0.0.1:8080", "http://10.0.0.1:3000"}, NodeStatus::Active},
                                 {"node-2", {"ws://10.0.0.2:8080", {}}, NodeStatus::Joining}},
                       .partitions = {{0, "node-1", {"node-2"}}, {1, "node-2", {}}},
                       .generated_at = 1700000000000});
    s.add(ClusterSubRegister{
        .subscription_id = "csub-1",
        .coordinator_node_id = "node-1",
        .map_name = "users",
        .type = ClusterSubType::Query,
        .query_predicate = object({{"op", Value("gte")}, {"attribute", Value("age")}, {"value", Value(18)}}),
        .query_sort = StringMap<SortDirection>{{"age", SortDirection::Desc}}});
    s.add(ClusterSubAck{
        .subscription_id = "csub-1",
        .node_id = "node-2",
        .success = true,
        .initial_results = std::vector<ClusterSubResult>{{"user-1", object({{"age", Value(30)}}), {}, {}}},
        .total_hits = 1});
    s.add(ClusterSubUpdate{.subscription_id = "csub-2",
                           .source_node_id = "node-2",
                           .key = "doc-5",
                           .value = object({{"title", Value("updated")}}),
                           .score = 0.8,
                           .matched_terms = std::vector<std::string>{"rust"},
                           .change_type = ChangeType::Update,
                           .timestamp = 1700000000001});
    s.add(ClusterSubUnregister{{"csub-1"}});
    s.add(ClusterSearchReq{
        .request_id = "csearch-1",
        .map_name = "products",
        .query = "laptop",
        .options =
            {.limit = 25, .min_score = 0.1, .include_matched_terms = true, .after_score = 0.92, .after_key = "prod-1"},
        .timeout_ms = 5000});
    s.add(ClusterSearchResp{.request_id = "csearch-1",
                            .node_id = "node-3",
                            .results = {{"prod-2", Value("Laptop Air"), 0.87, std::vector<std::string>{"laptop"}}},
                            .total_hits = 150,
                            .execution_time_ms = 23});
    s.add(ClusterSearchSubscribe{
        {.subscription_id = "css-1", .map_name = "products", .query = "monitor", .options = SearchOptions{.limit = 5}}});
    s.add(ClusterSearchUnsubscribe{{"css-1"}});
    s.add(ClusterSearchUpdate{.subscription_id = "css-1",
                              .node_id = "node-2",
                              .key = "prod-99",
                              .value = Value(),
                              .score = 0,
                              .matched_terms = std::vector<std::string>{},
                              .change_type = ChangeType::Leave});
}

void http_sync(Samples& s) {
    s.add_body("HTTP_SYNC_REQUEST",
               HttpSyncRequest{.client_id = "client-1",
                               .client_hlc = ts1(),
                               .operations = std::vector<ClientOp>{ClientOp{.id = "5",
                                                                            .map_name = "users",
                                                                            .key = "user-1",
                                                                            .op_type = OpType::Put,
                                                                            .record = lww(Value("Alice"), ts1())}},
                               .sync_maps = std::vector<HttpSyncMap>{{"users", ts2()}},
                               .queries = std::vector<HttpQueryRequest>{{.query_id = "hq-1",
                                                                         .map_name = "users",
                                                                         .filter = object({{"active", Value(true)}}),
                                                                         .limit = 20,
                                                                         .offset = 0}},
                               .searches = std::vector<HttpSearchRequest>{
                                   {.search_id = "hs-1", .map_name = "articles", .query = "rust"}}});
    s.add_body(
        "HTTP_SYNC_RESPONSE",
        HttpSyncResponse{
            .server_hlc = ts2(),
            .ack = HttpSyncAck{.last_id = "5"},
            .deltas =
                std::vector<HttpMapDelta>{{.map_name = "users",
                                           .records = {{"user-1", lww(Value("Alice"), ts1()), DeltaEventType::Put},
                                                       {"user-2", lww(Value(), ts2()), DeltaEventType::Remove}},
                                           .server_sync_timestamp = ts2()}},
            .query_results =
                std::vector<HttpQueryResult>{
                    {.query_id = "hq-1", .results = {object({{"name", Value("Alice")}})}, .has_more = false}},
            .errors = std::vector<HttpSyncError>{{403, "access denied", "hq-2"}}});
}

}  // namespace

std::vector<GoldenSample> golden_samples() {
    Samples s;
    connection(s);
    writes(s);
    sync(s);
    queries(s);
    search(s);
    messaging(s);
    processing(s);
    cluster(s);
    http_sync(s);
    return s.take();
}

}  // namespace topgun::golden
