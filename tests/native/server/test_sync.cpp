// Merkle sync against a node whose maps are spread over shards (D4): the
// server's root equals the root a client computes over the same data, equal
// replicas exchange only the root, and diverged replicas converge by walking
// the tree the way the TS client does (§6.5, §6.6).
#include "in_process.hpp"

#include <random>

using namespace topgun;
using namespace topgun::protocol;
using namespace topgun::server;
using namespace topgun::server::testing;

namespace {

// The TS client's walk (§6.5, §6.6): descend into buckets whose hash differs
// from the local trie's, hand leaves to `merge_leaf`. Returns how many bucket
// requests were sent after the root reply.
template <class BucketRequest, class BucketsReply, class LeafReply, class MergeLeaf>
std::size_t walk(TestClient& client, const std::string& map_name, const merkle::HashTrie& local, MergeLeaf merge_leaf) {
    std::size_t requests = 0;
    std::vector<std::string> pending{""};
    while (!pending.empty()) {
        const std::string path = pending.back();
        pending.pop_back();
        client.send(BucketRequest{{map_name, path}});
        ++requests;
        for (auto& message : client.take()) {
            if (auto* buckets = std::get_if<BucketsReply>(&message)) {
                for (const auto& [digit, hash] : buckets->buckets) {
                    const std::string child = buckets->path + digit;
                    if (local.node_hash(child).value_or(0) != hash) pending.push_back(child);
                }
            } else if (auto* leaf = std::get_if<LeafReply>(&message)) {
                merge_leaf(*leaf);
            } else {
                FAIL("unexpected reply during the sync walk");
            }
        }
    }
    return requests;
}

std::size_t lww_sync(TestClient& client, const std::string& map_name, LWWMap& local) {
    client.send(SyncInit{map_name, {}, {}, {}});
    if (client.take_one<SyncRespRoot>().root_hash == local.merkle().root_hash()) return 0;
    return walk<MerkleReqBucket, SyncRespBuckets, SyncRespLeaf>(client, map_name, local.merkle(), [&](const SyncRespLeaf& leaf) {
        for (const auto& r : leaf.records) local.merge(r.key, r.record.to_record());
    });
}

std::size_t or_sync(TestClient& client, const std::string& map_name, ORMap& local) {
    client.send(ORMapSyncInit{map_name, local.merkle().root_hash(), {}, {}, {}});
    if (client.take_one<ORMapSyncRespRoot>().root_hash == local.merkle().root_hash()) return 0;
    return walk<ORMapMerkleReqBucket, ORMapSyncRespBuckets, ORMapSyncRespLeaf>(
        client, map_name, local.merkle(), [&](const ORMapSyncRespLeaf& leaf) {
            for (const auto& entry : leaf.entries) {
                std::vector<ORRecord> records;
                for (const auto& r : entry.records) records.push_back(r.to_record());
                local.merge_key(entry.key, records, entry.tombstones);
            }
        });
}

}  // namespace

TEST_CASE("Merkle sync: the server's root equals the client's over the same data; equal replicas exchange only the root",
          "[server][sync]") {
    InProcessServer server;
    auto writer = server.connect();
    auto reader = server.connect();
    HLC clock("client-b");
    LWWMap local(clock);
    const std::uint64_t t = now_millis();
    std::vector<ClientOp> ops;
    for (int i = 0; i < 300; ++i) {
        const Timestamp ts = stamp(t - 1000 + static_cast<std::uint64_t>(i), 0, "client-a");
        ops.push_back(put_op(std::to_string(i), "todos", "key-" + std::to_string(i), Value(i), ts));
        local.merge("key-" + std::to_string(i), LWWRecord{Value(i), ts, {}});
    }
    writer->send(OpBatch{ops, {}, {}});
    writer->take();
    CHECK(lww_sync(*reader, "todos", local) == 0);

    // An empty replica pulls everything.
    HLC clock2("client-c");
    LWWMap empty(clock2);
    CHECK(lww_sync(*reader, "todos", empty) > 0);
    CHECK(empty.merkle().root_hash() == local.merkle().root_hash());
    for (int i = 0; i < 300; ++i) CHECK(*empty.get("key-" + std::to_string(i)) == Value(i));
}

TEST_CASE("Property: diverged LWW replicas converge through the sync walk", "[server][sync][property]") {
    const auto seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    for (int round = 0; round < 10; ++round) {
        InProcessServer server(test_config(static_cast<unsigned>(1 + rng() % 3)));
        auto writer = server.connect();
        auto reader = server.connect();
        HLC clock("client-b");
        LWWMap local(clock);
        const std::uint64_t t = now_millis() - 100'000;
        std::vector<ClientOp> ops;
        for (int i = 0; i < 400; ++i) {
            const std::string key = "k" + std::to_string(rng() % 150);
            const Timestamp ts = stamp(t + rng() % 50'000, static_cast<std::uint32_t>(rng() % 3), rng() % 2 ? "a" : "b");
            if (rng() % 3 == 0) {
                local.merge(key, LWWRecord{rng() % 5 == 0 ? Value() : Value(static_cast<std::int64_t>(rng() % 1000)), ts, {}});
            } else {
                ClientOp op = put_op(std::to_string(i), "m", key, Value(static_cast<std::int64_t>(rng() % 1000)), ts);
                if (rng() % 5 == 0) {
                    op.op_type = OpType::Remove;
                    op.record.value.value = Value();
                }
                ops.push_back(std::move(op));
            }
        }
        writer->send(OpBatch{ops, {}, {}});
        writer->take();
        lww_sync(*reader, "m", local);
        // The client now holds everything the server has; push its own records
        // (the op log does this in real clients) and both sides agree.
        std::vector<ClientOp> push;
        local.for_each_record([&](const LWWMap::RecordView& r) {
            ClientOp op = put_op("p", "m", std::string(r.key), r.value, r.timestamp());
            push.push_back(std::move(op));
        });
        writer->send(OpBatch{push, {}, {}});
        writer->take();
        CHECK(lww_sync(*reader, "m", local) == 0);
    }
}

TEST_CASE("OR-map sync: roots match the client's, removed tags travel with their keys", "[server][sync]") {
    InProcessServer server;
    auto writer = server.connect();
    auto reader = server.connect();
    const std::uint64_t t = now_millis();
    HLC clock("client-a");
    ORMap mirror(clock);  // what the writer's replica holds
    std::vector<ClientOp> ops;
    std::vector<std::string> tags;
    for (int i = 0; i < 60; ++i) {
        const Timestamp ts = stamp(t - 1000 + static_cast<std::uint64_t>(i), 0, "client-a");
        const ClientOp add = or_add_op(std::to_string(i), "tags", "post" + std::to_string(i % 20), Value("v" + std::to_string(i)), ts);
        mirror.apply(add.key, add.or_record.value.to_record());
        ops.push_back(add);
        tags.push_back(ts.to_string());
    }
    writer->send(OpBatch{ops, {}, {}});
    writer->take();

    // A replica that saw everything before the removal.
    HLC clock_b("client-b");
    ORMap stale(clock_b);
    CHECK(or_sync(*reader, "tags", stale) > 0);
    CHECK(stale.merkle().root_hash() == mirror.merkle().root_hash());
    CHECK(or_sync(*reader, "tags", stale) == 0);

    // Remove every record of post0 (tags 0, 20, 40): the key leaves the server's
    // tree, yet the stale replica must learn of the removal through its leaf.
    std::vector<ClientOp> removes;
    for (int i : {0, 20, 40}) {
        mirror.apply_tombstone(tags[static_cast<std::size_t>(i)]);
        removes.push_back(or_remove_op("r" + std::to_string(i), "tags", "post0", tags[static_cast<std::size_t>(i)]));
    }
    writer->send(OpBatch{removes, {}, {}});
    writer->take();
    CHECK(or_sync(*reader, "tags", stale) > 0);
    CHECK(stale.get("post0").empty());
    CHECK(stale.merkle().root_hash() == mirror.merkle().root_hash());
}

TEST_CASE("ORMAP_PUSH_DIFF merges a client's records with their own tags; DIFF_REQUEST returns entries", "[server][sync]") {
    InProcessServer server;
    auto pusher = server.connect();
    auto holder = server.connect();
    holder->send(ORMapSyncInit{"tags", 0, {}, {}, {}});
    holder->take();
    const Timestamp ts = stamp(now_millis(), 1, "client-x");
    ORMapEntry entry{"k1", {ORMapRecordData{Value("a"), ts, ts.to_string(), {}}}, {}};
    pusher->send(ORMapPushDiff{"tags", {entry}});
    CHECK(pusher->take().empty());  // no OP_ACK: it would ack the client's pending ops
    const ServerEvent event = holder->take_one<ServerEvent>();
    CHECK(event.event_type == ServerEventType::OrAdd);
    CHECK(event.or_tag == std::optional(ts.to_string()));

    pusher->send(ORMapDiffRequest{"tags", {"k1", "missing"}});
    const ORMapDiffResponse response = pusher->take_one<ORMapDiffResponse>();
    REQUIRE(response.entries.size() == 2);
    const auto& k1 = response.entries[0].key == "k1" ? response.entries[0] : response.entries[1];
    REQUIRE(k1.records.size() == 1);
    CHECK(k1.records[0].tag == ts.to_string());
}

TEST_CASE("Bad Merkle paths get ERROR 400", "[server][sync]") {
    InProcessServer server;
    auto client = server.connect();
    for (const std::string path : {"g", "ABC", "0123", "x/1"}) {
        client->send(MerkleReqBucket{{"m", path}});
        CHECK(client->take_one<ErrorMessage>().code == 400);
    }
}

TEST_CASE("An OR removal reaches only records of the key it names; a tag stays with one key", "[server][sync]") {
    InProcessServer server;
    auto writer = server.connect();
    auto forger = server.connect();
    auto holder = server.connect();
    holder->send(ORMapSyncInit{"tags", 0, {}, {}, {}});
    holder->take();
    const auto& shards = server.node().shards();
    // A key on the victim's worker and one on another, when there is another.
    const std::string victim = "victim";
    std::string same_worker, other_worker;
    for (int i = 0; same_worker.empty() || (other_worker.empty() && shards.size() > 1); ++i) {
        const std::string key = "k" + std::to_string(i);
        (shards.owner_of(key) == shards.owner_of(victim) ? same_worker : other_worker) = key;
    }
    const Timestamp ts = stamp(now_millis() - 100, 0, "client-a");
    const std::string tag = ts.to_string();
    writer->send(OpBatch{{or_add_op("add", "tags", victim, Value("kept"), ts)}, {}, {}});
    writer->take();
    REQUIRE(holder->take_server_events().size() == 1);

    auto victim_records = [&] {
        forger->send(ORMapDiffRequest{"tags", {victim}});
        const ORMapDiffResponse response = forger->take_one<ORMapDiffResponse>();
        REQUIRE(response.entries.size() == 1);
        return response.entries[0];
    };
    for (const std::string& key : {same_worker, other_worker}) {
        if (key.empty()) continue;
        CAPTURE(key);
        // A remove naming another key's tag: acknowledged, changes nothing, told to nobody.
        forger->send(OpBatch{{or_remove_op("forged-remove", "tags", key, tag)}, {}, {}});
        CHECK(forger->take_all<OpRejected>().empty());
        CHECK(holder->take_server_events().empty());
        CHECK(victim_records().records.size() == 1);
        forger->send(ORMapDiffRequest{"tags", {key}});
        CHECK(forger->take_one<ORMapDiffResponse>().entries.at(0).tombstones.empty());

        // A tombstone pushed under another key is not applied either.
        forger->send(ORMapPushDiff{"tags", {ORMapEntry{key, {}, {tag}}}});
        CHECK(holder->take_server_events().empty());
        CHECK(victim_records().records.size() == 1);

        // An add reusing the tag under another key would let a later remove of it
        // take the victim's record from every client.
        forger->send(OpBatch{{or_add_op("reuse", "tags", key, Value("mine"), ts)}, {}, {}});
        const auto rejected = forger->take_all<OpRejected>();
        REQUIRE(rejected.size() == 1);
        CHECK(rejected[0].code == 409);
        CHECK(holder->take_server_events().empty());
        forger->send(ORMapPushDiff{"tags", {ORMapEntry{key, {ORMapRecordData{Value("mine"), ts, tag, {}}}, {}}}});
        CHECK(holder->take_server_events().empty());
        forger->send(ORMapDiffRequest{"tags", {key}});
        CHECK(forger->take_one<ORMapDiffResponse>().entries.at(0).records.empty());
    }

    // The remove that names the record's own key takes it, and every holder hears.
    writer->send(OpBatch{{or_remove_op("remove", "tags", victim, tag)}, {}, {}});
    const auto events = holder->take_server_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].event_type == ServerEventType::OrRemove);
    CHECK(events[0].key == victim);
    const ORMapEntry after = victim_records();
    CHECK(after.records.empty());
    CHECK(after.tombstones == std::vector<std::string>{tag});
    // A removed tag stays its key's: adding it under another key is still refused.
    forger->send(OpBatch{{or_add_op("late", "tags", same_worker, Value("mine"), ts)}, {}, {}});
    CHECK(forger->take_one<OpRejected>().code == 409);
}

TEST_CASE("A tombstone in ORMAP_PUSH_DIFF removes the key's record and tells the map's holders", "[server][sync]") {
    InProcessServer server;
    auto writer = server.connect();
    auto pusher = server.connect();
    auto holder = server.connect();
    holder->send(ORMapSyncInit{"tags", 0, {}, {}, {}});
    holder->take();
    const Timestamp ts = stamp(now_millis() - 100, 0, "client-a");
    writer->send(OpBatch{{or_add_op("1", "tags", "k", Value("v"), ts)}, {}, {}});
    holder->take();
    pusher->send(ORMapPushDiff{"tags", {ORMapEntry{"k", {}, {ts.to_string()}}}});
    const auto events = holder->take_server_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].event_type == ServerEventType::OrRemove);
    CHECK(events[0].or_tag == std::optional(ts.to_string()));
    pusher->send(ORMapDiffRequest{"tags", {"k"}});
    CHECK(pusher->take_one<ORMapDiffResponse>().entries.at(0).records.empty());
}
