#include <topgun/crdt/lww_map.hpp>
#include <topgun/merkle/merkle_tree.hpp>

#include <catch2/catch.hpp>

#include "fake_clock.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <vector>

using namespace topgun;
using topgun::testing::FakeClock;


TEST_CASE("LWWMap set, get, remove", "[lww]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    LWWMap map(hlc);
    const auto rec = map.set("k", Value("v1"));
    CHECK(rec.timestamp.node_id == "a");
    REQUIRE(map.get("k"));
    CHECK(map.get("k")->as_string() == "v1");
    map.set("k", Value("v2"));
    CHECK(map.get("k")->as_string() == "v2");
    const auto tomb = map.remove("k");
    CHECK(tomb.is_tombstone());
    CHECK(map.get("k") == nullptr);
    REQUIRE(map.get_record("k"));
    CHECK(map.get_record("k")->is_tombstone());
    CHECK(map.size() == 1);
    CHECK(map.get("missing") == nullptr);
}

TEST_CASE("LWWMap write returns the stored record in place; a nil value removes", "[lww]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    LWWMap map(hlc);
    const LWWMap::RecordView put = map.write("k", Value("v1"), 0);  // a TTL of 0 is none
    CHECK(&put.value == map.get("k"));  // the map's own value, not a copy
    CHECK(put.node_id == "a");
    CHECK_FALSE(put.ttl_ms);
    const Timestamp first = put.timestamp();
    const LWWMap::RecordView removed = map.write("k", Value());
    CHECK(removed.is_tombstone());
    CHECK(first < removed.timestamp());
    CHECK(map.get("k") == nullptr);
    std::vector<LWWChange::Kind> kinds;
    map.subscribe([&](const LWWChange& c) { kinds.push_back(c.kind); });
    map.write("k", Value(1), 500);
    map.write("k", Value());
    CHECK(kinds == std::vector{LWWChange::Kind::Set, LWWChange::Kind::Remove});
    CHECK(map.get_record("k")->is_tombstone());
}

TEST_CASE("LWWMap merge keeps the strictly newer record and is idempotent", "[lww]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    LWWMap map(hlc);
    const LWWRecord older{Value("old"), Timestamp{10, 0, "x"}, std::nullopt};
    const LWWRecord newer{Value("new"), Timestamp{10, 1, "x"}, std::nullopt};
    const LWWRecord same_time_other_node{Value("tie"), Timestamp{10, 1, "y"}, std::nullopt};
    CHECK(map.merge("k", newer) == LWWMap::MergeResult::Applied);
    CHECK(map.merge("k", older) == LWWMap::MergeResult::Ignored);
    CHECK(map.merge("k", newer) == LWWMap::MergeResult::Ignored);
    CHECK(map.get("k")->as_string() == "new");
    CHECK(map.merge("k", same_time_other_node) == LWWMap::MergeResult::Applied);  // "y" > "x"
    CHECK(map.get("k")->as_string() == "tie");
    // The clock moved past what it merged.
    CHECK(Timestamp{10, 1, "y"} < map.set("z", Value(1)).timestamp);
}

TEST_CASE("LWWMap with a strict clock refuses records from too far in the future", "[lww]") {
    FakeClock clock;
    HLC hlc("a", {.max_drift_ms = 1000, .strict = true, .clock = clock.source()});
    LWWMap map(hlc);
    const LWWRecord future{Value("f"), Timestamp{clock.now + 5000, 0, "x"}, std::nullopt};
    CHECK(map.merge("k", future) == LWWMap::MergeResult::DriftRejected);
    CHECK(map.size() == 0);
}

TEST_CASE("LWWMap TTL: expired records read as absent and can be swept", "[lww]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    LWWMap map(hlc);
    map.set("t", Value("temp"), 100);
    map.set("p", Value("perm"));
    map.set("z", Value("zero ttl is no ttl"), 0);
    map.set("huge", Value("a TTL near 2^64 must not wrap around"), UINT64_MAX - 1);
    CHECK(map.get("t"));
    clock.now += 101;
    CHECK(map.get("t") == nullptr);
    CHECK(map.get("p"));
    CHECK(map.get("z"));
    CHECK(map.get("huge"));
    int live = 0;
    map.for_each([&](std::string_view, const Value&) { ++live; });
    CHECK(live == 3);
    CHECK(map.remove_expired() == std::vector<std::string>{"t"});
    CHECK_FALSE(map.get_record("t"));
}

TEST_CASE("LWWMap report_expired tells listeners once and keeps the records and the Merkle root", "[lww]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    LWWMap map(hlc);
    std::vector<std::pair<std::string, bool>> seen;  // key, old value given
    map.subscribe([&](const LWWChange& c) {
        if (c.kind == LWWChange::Kind::Expire) seen.emplace_back(std::string(c.key), c.old_value != nullptr && c.new_value == nullptr);
    });
    map.set("short", Value("s"), 100);
    map.set("long", Value("l"), 1000);
    map.set("perm", Value("p"));
    map.remove("gone");
    const std::uint32_t root = map.merkle().root_hash();
    CHECK(map.report_expired().empty());
    clock.now += 101;
    CHECK(map.report_expired() == std::vector<std::string>{"short"});
    CHECK(map.report_expired().empty());  // told once
    clock.now += 1000;
    CHECK(map.report_expired() == std::vector<std::string>{"long"});
    CHECK(seen == std::vector<std::pair<std::string, bool>>{{"short", true}, {"long", true}});
    CHECK(map.size() == 4);
    CHECK(map.get_record("short"));
    CHECK(map.merkle().root_hash() == root);
    // A record that ran out before it arrived was never live: not told.
    LWWMap later(hlc);
    later.merge("old", LWWRecord{Value("o"), Timestamp{clock.now - 500, 0, "b"}, 100});
    CHECK(later.get("old") == nullptr);
    CHECK(later.report_expired().empty());
    // A clock stepping back tells nothing twice.
    clock.now -= 1000;
    CHECK(map.report_expired().empty());
    clock.now += 1000;
    // A new write with a TTL is told when it runs out; the sweep still drops the records.
    map.set("short", Value("again"), 50);
    clock.now += 51;
    CHECK(map.report_expired() == std::vector<std::string>{"short"});
    CHECK(map.remove_expired().size() == 2);
    CHECK(map.size() == 2);
}

TEST_CASE("LWWMap prune drops only old tombstones and updates the Merkle tree", "[lww]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    LWWMap map(hlc);
    map.set("keep", Value(1));
    map.remove("gone");
    clock.now += 10;
    const Timestamp horizon = hlc.now();
    map.remove("recent");
    CHECK(map.prune(horizon) == std::vector<std::string>{"gone"});
    CHECK(map.size() == 2);
    merkle::MerkleTree rebuilt;
    map.for_each_record([&](const LWWMap::RecordView& r) { rebuilt.update(r.key, r.timestamp()); });
    CHECK(map.merkle().root_hash() == rebuilt.root_hash());
}

TEST_CASE("LWWMap notifies changes with old and new live values", "[lww]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    LWWMap map(hlc);
    std::vector<std::string> log;
    const auto id = map.subscribe([&](const LWWChange& c) {
        log.push_back(std::string(c.key) + ":" + (c.old_value ? c.old_value->as_string() : "-") + ">" +
                      (c.new_value ? c.new_value->as_string() : "-"));
    });
    map.set("k", Value("a"));
    map.set("k", Value("b"));
    map.remove("k");
    map.merge("k", LWWRecord{Value("c"), Timestamp{clock.now + 1, 0, "z"}, std::nullopt});
    map.unsubscribe(id);
    map.set("k", Value("ignored"));
    CHECK(log == std::vector<std::string>{"k:->a", "k:a>b", "k:b>-", "k:->c"});
}

TEST_CASE("LWWMap serves Merkle leaves for sync", "[lww]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    LWWMap map(hlc);
    map.merge("key1", LWWRecord{Value("v"), Timestamp{100, 0, "test"}, std::nullopt});
    CHECK(map.merkle().root_hash() == 2138087518u);
    const auto leaf = map.records_in_bucket("374");
    REQUIRE(leaf.size() == 1);
    CHECK(leaf[0].key == "key1");
    CHECK(leaf[0].timestamp() == Timestamp{100, 0, "test"});
}

TEST_CASE("Property: LWW replicas converge under any delivery order with duplicates", "[lww][property]") {
    std::mt19937 rng(2024);
    for (int round = 0; round < 30; ++round) {
        const int replicas = 2 + static_cast<int>(rng() % 7);  // 2..8
        FakeClock clock;
        std::vector<std::unique_ptr<HLC>> clocks;
        std::vector<std::unique_ptr<LWWMap>> maps;
        for (int r = 0; r < replicas; ++r) {
            clocks.push_back(std::make_unique<HLC>("r" + std::to_string(r), HLC::Options{.clock = clock.source()}));
            maps.push_back(std::make_unique<LWWMap>(*clocks.back()));
        }
        // Each replica writes locally; every write is an op to deliver everywhere.
        std::vector<std::pair<std::string, LWWRecord>> ops;
        for (int i = 0; i < 200; ++i) {
            const int r = static_cast<int>(rng() % replicas);
            const std::string key = "k" + std::to_string(rng() % 15);
            if (rng() % 50 == 0) clock.now += rng() % 3;
            if (rng() % 4 == 0) {
                ops.emplace_back(key, maps[r]->remove(key));
            } else {
                ops.emplace_back(key, maps[r]->set(key, Value(static_cast<std::int64_t>(rng() % 1000))));
            }
        }
        for (int r = 0; r < replicas; ++r) {
            auto delivery = ops;
            for (int d = 0; d < 30; ++d) delivery.push_back(ops[rng() % ops.size()]);  // duplicates
            std::shuffle(delivery.begin(), delivery.end(), rng);
            for (const auto& [key, rec] : delivery) maps[r]->merge(key, rec);
        }
        for (int r = 1; r < replicas; ++r) {
            CHECK(maps[r]->merkle().root_hash() == maps[0]->merkle().root_hash());
            std::map<std::string, LWWRecord> a, b;
            maps[0]->for_each_record([&](const LWWMap::RecordView& v) { a.emplace(std::string(v.key), v.to_record()); });
            maps[r]->for_each_record([&](const LWWMap::RecordView& v) { b.emplace(std::string(v.key), v.to_record()); });
            CHECK(a == b);
        }
    }
}
