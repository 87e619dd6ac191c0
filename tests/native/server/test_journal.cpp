// The event journal over the wire (PROTOCOL.md §10.5 and our additions:
// previousValue, UPDATE vs PUT, replay from fromSequence, latestSequence).
#include "in_process.hpp"

#include <map>
#include <random>

using namespace topgun;
using namespace topgun::protocol;
using namespace topgun::server;
using namespace topgun::server::testing;

namespace {

JournalReadResponse read(TestClient& c, std::string from, std::optional<std::uint32_t> limit = {},
                         std::optional<std::string> map = {}) {
    c.send(JournalRead{"r", std::move(from), limit, std::move(map)});
    return c.take_one<JournalReadResponse>();
}

std::vector<JournalEventData> pushed(TestClient& c) {
    std::vector<JournalEventData> out;
    for (auto& e : c.take_all<JournalEvent>()) out.push_back(std::move(e.event));
    return out;
}

std::vector<std::string> sequences(const std::vector<JournalEventData>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.sequence);
    return out;
}

// Writes `n` puts of distinct keys (spread over the shards) to map `map`.
void put_keys(TestClient& c, const std::string& map, int n, int first = 0) {
    std::vector<ClientOp> ops;
    for (int i = first; i < first + n; ++i) {
        ops.push_back(put_op(std::to_string(i), map, "k" + std::to_string(i), Value(std::int64_t{i}),
                             stamp(now_millis(), static_cast<std::uint32_t>(i))));
    }
    c.send(OpBatch{std::move(ops), {}, {}});
}

}  // namespace

TEST_CASE("Journal: PUT, UPDATE and DELETE carry the value and the value they replaced") {
    InProcessServer server(test_config(4));
    auto writer = server.connect();
    const auto t = now_millis();
    writer->send(OpBatch{{put_op("1", "m", "a", Value("one"), stamp(t, 1)), put_op("2", "m", "a", Value("two"), stamp(t, 2)),
                          remove_op("3", "m", "a", stamp(t, 3)), put_op("4", "m", "a", Value("three"), stamp(t, 4))},
                         {}, {}});
    writer->take();
    const auto page = read(*writer, "0");
    REQUIRE(page.events.size() == 4);
    CHECK(sequences(page.events) == std::vector<std::string>{"1", "2", "3", "4"});
    CHECK(page.latest_sequence == std::optional<std::string>("4"));
    CHECK_FALSE(page.has_more);

    const auto& put = page.events[0];
    CHECK(put.type == JournalEventType::Put);
    CHECK(put.map_name == "m");
    CHECK(put.key == "a");
    CHECK(put.value == Nullable<Value>(Value("one")));
    CHECK(put.previous_value.absent());
    CHECK(put.timestamp == stamp(t, 1));
    CHECK(put.node_id == "client-a");

    CHECK(page.events[1].type == JournalEventType::Update);
    CHECK(page.events[1].value == Nullable<Value>(Value("two")));
    CHECK(page.events[1].previous_value == Nullable<Value>(Value("one")));

    CHECK(page.events[2].type == JournalEventType::Delete);
    CHECK(page.events[2].value.absent());
    CHECK(page.events[2].previous_value == Nullable<Value>(Value("two")));

    // After a delete there is no live value: the next write is a PUT again.
    CHECK(page.events[3].type == JournalEventType::Put);
    CHECK(page.events[3].previous_value.absent());
}

TEST_CASE("Journal: a write that loses to the stored one is not journaled") {
    InProcessServer server;
    auto writer = server.connect();
    const auto t = now_millis();
    writer->send(OpBatch{{put_op("1", "m", "a", Value("new"), stamp(t, 5))}, {}, {}});
    writer->send(OpBatch{{put_op("2", "m", "a", Value("old"), stamp(t, 1))}, {}, {}});
    writer->take();
    const auto page = read(*writer, "0");
    REQUIRE(page.events.size() == 1);
    CHECK(page.events[0].value == Nullable<Value>(Value("new")));
}

TEST_CASE("Journal: OR adds and removes are journaled with the removed record's value") {
    InProcessServer server;
    auto writer = server.connect();
    const Timestamp ts = stamp(now_millis(), 1);
    const ClientOp add = or_add_op("1", "tags", "k", Value("red"), ts);
    const ClientOp remove = or_remove_op("2", "tags", "k", ts.to_string());
    writer->send(OpBatch{{add, remove}, {}, {}});
    writer->send(OpBatch{{remove}, {}, {}});  // re-sent: changes nothing, journals nothing
    writer->take();
    const auto page = read(*writer, "0");
    REQUIRE(page.events.size() == 2);
    CHECK(page.events[0].type == JournalEventType::Put);
    CHECK(page.events[0].value == Nullable<Value>(Value("red")));
    CHECK(page.events[0].timestamp == ts);
    CHECK(page.events[1].type == JournalEventType::Delete);
    CHECK(page.events[1].previous_value == Nullable<Value>(Value("red")));
}

TEST_CASE("Journal: OR records and tombstones merged from ORMAP_PUSH_DIFF are journaled like ops") {
    InProcessServer server;
    auto pusher = server.connect();
    const Timestamp t1 = stamp(now_millis() - 100, 1);
    const Timestamp t2 = stamp(now_millis() - 50, 2);
    const std::string tag = t1.to_string();
    const ORMapRecordData red{Value("red"), t1, tag, {}};
    pusher->send(ORMapPushDiff{"tags", {ORMapEntry{"k", {red, red}, {}}}});  // twice in one entry: once
    pusher->send(ORMapPushDiff{"tags", {ORMapEntry{"k", {red}, {}}}});       // again: nothing
    pusher->send(ORMapPushDiff{"tags", {ORMapEntry{"k", {ORMapRecordData{Value("blue"), t2, tag, {}}}, {}}}});  // newer, same tag
    pusher->send(ORMapPushDiff{"tags", {ORMapEntry{"other", {}, {tag}}}});  // another key's tag: nothing
    pusher->send(ORMapPushDiff{"tags", {ORMapEntry{"k", {}, {tag, tag}}}});
    pusher->take();
    const auto page = read(*pusher, "0");
    REQUIRE(page.events.size() == 3);
    CHECK(page.events[0].type == JournalEventType::Put);
    CHECK(page.events[0].value == Nullable<Value>(Value("red")));
    CHECK(page.events[0].timestamp == t1);
    CHECK(page.events[1].type == JournalEventType::Update);
    CHECK(page.events[1].previous_value == Nullable<Value>(Value("red")));
    CHECK(page.events[1].value == Nullable<Value>(Value("blue")));
    CHECK(page.events[2].type == JournalEventType::Delete);
    CHECK(page.events[2].key == "k");
    CHECK(page.events[2].previous_value == Nullable<Value>(Value("blue")));
}

TEST_CASE("Journal: JOURNAL_READ pages by sequence, filters by map and says when more match") {
    InProcessServer server(test_config(4));
    auto writer = server.connect();
    put_keys(*writer, "a", 6);
    put_keys(*writer, "b", 4, 100);
    put_keys(*writer, "a", 2, 200);
    writer->take();

    // Sequences are one node-wide counter, contiguous across shards.
    const auto all = read(*writer, "1", 1000);
    REQUIRE(all.events.size() == 12);
    for (std::size_t i = 0; i < all.events.size(); ++i) CHECK(all.events[i].sequence == std::to_string(i + 1));

    const auto first = read(*writer, "1", 3, "a");
    CHECK(sequences(first.events) == std::vector<std::string>{"1", "2", "3"});
    CHECK(first.has_more);
    const auto rest = read(*writer, "4", 10, "a");
    CHECK(sequences(rest.events) == std::vector<std::string>{"4", "5", "6", "11", "12"});
    CHECK_FALSE(rest.has_more);
    CHECK(rest.latest_sequence == std::optional<std::string>("12"));

    CHECK(read(*writer, "13").events.empty());
    CHECK(read(*writer, "0", {}, "nothing").events.empty());
    // As the reference: an unreadable fromSequence reads from the start.
    CHECK(read(*writer, "soon", 2).events.size() == 2);
    // The default page is 100 events.
    put_keys(*writer, "c", 150, 1000);
    writer->take();
    const auto page = read(*writer, "0");
    CHECK(page.events.size() == 100);
    CHECK(page.has_more);
}

TEST_CASE("Journal: subscribers get each matching event once, writers included, in sequence order") {
    InProcessServer server(test_config(4));
    auto writer = server.connect();
    auto all = server.connect();
    auto only_a_deletes = server.connect();
    auto twice = server.connect();
    all->send(JournalSubscribe{"s-all", {}, {}, {}});
    only_a_deletes->send(JournalSubscribe{"s-del", {}, std::string("a"), std::vector{JournalEventType::Delete}});
    twice->send(JournalSubscribe{"s1", {}, {}, {}});
    twice->send(JournalSubscribe{"s2", {}, std::string("a"), {}});
    writer->send(JournalSubscribe{"mine", {}, {}, {}});

    const auto t = now_millis();
    put_keys(*writer, "a", 5);
    // Stamped well after the puts, which a slow (sanitizer) build may stamp some milliseconds after t.
    writer->send(OpBatch{{remove_op("9", "a", "k1", stamp(t + 1000, 0)), remove_op("10", "b", "x", stamp(t + 1000, 1))}, {}, {}});

    const auto got = pushed(*all);
    CHECK(sequences(got) == std::vector<std::string>{"1", "2", "3", "4", "5", "6", "7"});
    CHECK(sequences(pushed(*writer)) == sequences(got));
    const auto deletes = pushed(*only_a_deletes);
    REQUIRE(deletes.size() == 1);
    CHECK(deletes[0].key == "k1");
    CHECK(deletes[0].previous_value == Nullable<Value>(Value(std::int64_t{1})));
    CHECK(sequences(pushed(*twice)) == sequences(got));  // two matching subscriptions, one event each

    // Unsubscribing one subscription keeps the other; the last one ends the feed.
    twice->send(JournalUnsubscribe{"s1"});
    put_keys(*writer, "b", 1, 50);
    put_keys(*writer, "a", 1, 60);
    CHECK(sequences(pushed(*twice)) == std::vector<std::string>{"9"});
    twice->send(JournalUnsubscribe{"s2"});
    put_keys(*writer, "a", 1, 61);
    CHECK(pushed(*twice).empty());
    CHECK(pushed(*all).size() == 3);

    // A subscriber that disconnects is forgotten; the others go on.
    all->disconnect();
    put_keys(*writer, "a", 1, 62);
    CHECK(pushed(*writer).size() == 4);
}

TEST_CASE("Journal: fromSequence replays the retained events, then the live ones follow without a gap") {
    InProcessServer server(test_config(4));
    auto writer = server.connect();
    auto reader = server.connect();
    put_keys(*writer, "m", 5);
    put_keys(*writer, "other", 2, 10);
    reader->send(JournalSubscribe{"s", std::string("3"), std::string("m"), {}});
    put_keys(*writer, "m", 2, 20);
    CHECK(sequences(pushed(*reader)) == std::vector<std::string>{"3", "4", "5", "8", "9"});

    reader->send(JournalSubscribe{"bad", std::string("three"), {}, {}});
    const auto err = reader->take_one<ErrorMessage>();
    CHECK(err.code == 400);
    reader->send(JournalSubscribe{"", {}, {}, {}});
    CHECK(reader->take_one<ErrorMessage>().code == 400);
}

TEST_CASE("Journal: the ring keeps the newest `capacity` events") {
    auto config = test_config();
    config.journal_capacity = 5;
    InProcessServer server(config);
    auto writer = server.connect();
    put_keys(*writer, "m", 8);
    writer->take();
    const auto page = read(*writer, "0", 100);
    CHECK(sequences(page.events) == std::vector<std::string>{"4", "5", "6", "7", "8"});
    CHECK(page.latest_sequence == std::optional<std::string>("8"));
    auto reader = server.connect();
    reader->send(JournalSubscribe{"s", std::string("1"), {}, {}});
    CHECK(sequences(pushed(*reader)) == sequences(page.events));
}

TEST_CASE("Journal: switched off, nothing is kept or pushed and reads answer empty") {
    auto config = test_config();
    config.journal_enabled = false;
    InProcessServer server(config);
    auto writer = server.connect();
    writer->send(JournalSubscribe{"s", {}, {}, {}});
    put_keys(*writer, "m", 3);
    CHECK(pushed(*writer).empty());
    const auto page = read(*writer, "0");
    CHECK(page.events.empty());
    CHECK(page.latest_sequence == std::optional<std::string>("0"));
}

// Replaying the journal in sequence order must rebuild the map: each event's
// previousValue and PUT/UPDATE type agree with the replay so far, and the
// replay's end state equals what the server holds, for random writes with
// stale timestamps (ignored) from several clients on different shards.
TEST_CASE("Journal: property: replaying the journal rebuilds the map") {
    for (std::uint32_t seed : {1u, 2u, 3u}) {
        INFO("seed " << seed);
        std::mt19937 rng(seed);
        InProcessServer server(test_config(4));
        std::vector<std::unique_ptr<TestClient>> writers;
        for (int i = 0; i < 3; ++i) writers.push_back(server.connect());
        const std::uint64_t base = now_millis();
        for (int step = 0; step < 300; ++step) {
            const std::string key = "k" + std::to_string(rng() % 12);
            const Timestamp ts = stamp(base + rng() % 200, static_cast<std::uint32_t>(step), "w" + std::to_string(rng() % 3));
            ClientOp op = rng() % 4 == 0 ? remove_op(std::to_string(step), "m", key, ts)
                                         : put_op(std::to_string(step), "m", key, Value(std::int64_t(rng() % 1000)), ts);
            writers[rng() % writers.size()]->send(OpBatch{{op}, {}, {}});
        }
        auto reader = server.connect();
        const auto page = read(*reader, "0", 10'000);
        REQUIRE_FALSE(page.has_more);
        std::map<std::string, Value> replay;
        std::uint64_t expected_sequence = 1;
        for (const auto& e : page.events) {
            CHECK(e.sequence == std::to_string(expected_sequence++));
            const auto it = replay.find(e.key);
            if (it == replay.end()) {
                CHECK(e.previous_value.absent());
                CHECK(e.type != JournalEventType::Update);
            } else {
                CHECK(e.previous_value == Nullable<Value>(it->second));
                CHECK(e.type != JournalEventType::Put);
            }
            if (e.type == JournalEventType::Delete) {
                replay.erase(e.key);
            } else {
                replay[e.key] = e.value.value;
            }
        }
        std::map<std::string, Value> held;
        for (std::size_t s = 0; s < server.node().shards().size(); ++s) {
            if (LWWMap* map = server.node().state(s).find_lww("m")) {
                map->for_each([&](std::string_view key, const Value& v) { held.emplace(std::string(key), v); });
            }
        }
        CHECK(replay == held);
    }
}
