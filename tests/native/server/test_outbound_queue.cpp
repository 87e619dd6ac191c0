// OutboundQueue on its own: frames go out in order, events that wait behind a
// write in flight leave as one SERVER_BATCH_EVENT, a waiting update is
// superseded by a newer one for the same query and key, the backlog limit holds.
#include "net/outbound_queue.hpp"

#include <topgun/protocol/codec.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <utility>
#include <string>
#include <vector>

using namespace topgun;
using namespace topgun::server;

namespace {

protocol::ServerEventPayload event(int n, std::size_t value_bytes = 8) {
    protocol::ServerEventPayload e;
    e.map_name = n % 2 == 0 ? "todos" : "notes";
    e.key = "k" + std::to_string(n);
    e.record = protocol::LWWRecordData{Value(std::string(value_bytes, 'v')), Timestamp{1700000000000ULL + n, 0, "node"}, {}};
    return e;
}
SharedFrame single(int n) {
    protocol::ServerEvent e;
    static_cast<protocol::ServerEventPayload&>(e) = event(n);
    return make_frame(protocol::encode_message(e));
}
SharedFrame batch(std::vector<int> ns, std::size_t value_bytes = 8) {
    protocol::ServerBatchEvent b;
    for (int n : ns) b.events.push_back(event(n, value_bytes));
    return make_frame(protocol::encode_message(b));
}
SharedFrame update(std::string query, std::string key, int value, protocol::ChangeType change = protocol::ChangeType::Enter) {
    return make_frame(protocol::encode_message(protocol::QueryUpdate{std::move(query), std::move(key), Value(value), change}));
}
SharedFrame other(int n) { return update("q", "k" + std::to_string(n), n); }

// What a client reads from the frames: each event's number, and -n for the other frames.
std::vector<int> seen(const std::vector<SharedFrame>& frames) {
    std::vector<int> out;
    for (const SharedFrame& f : frames) {
        auto decoded = protocol::decode_message(*f);
        REQUIRE(decoded);
        const protocol::Message& m = decoded.message();
        std::vector<protocol::ServerEventPayload> events;
        if (const auto* e = std::get_if<protocol::ServerEvent>(&m)) events.push_back(*e);
        if (const auto* b = std::get_if<protocol::ServerBatchEvent>(&m)) events = b->events;
        if (const auto* u = std::get_if<protocol::QueryUpdate>(&m)) out.push_back(-static_cast<int>(u->value.as_int()));
        for (const auto& e : events) {
            const int n = std::stoi(e.key.substr(1));
            REQUIRE(e == event(n, e.record->value.as_string().size()));  // intact, whatever frame it came in
            out.push_back(n);
        }
    }
    return out;
}

// Writes everything queued, one frame at a time; `backlog` gets the queue's
// bytes as the first write starts.
std::vector<SharedFrame> drain(OutboundQueue& q, std::size_t* backlog = nullptr) {
    std::vector<SharedFrame> out;
    while (SharedFrame f = q.start_write()) {
        if (out.empty() && backlog != nullptr) *backlog = q.bytes();
        out.push_back(f);
        q.written();
    }
    return out;
}

}  // namespace

TEST_CASE("outbound queue: a frame that finds no write in flight goes out as it is", "[server][outbound]") {
    OutboundQueue q(1 << 20);
    const SharedFrame a = single(1), b = other(2);
    REQUIRE(q.push(a));
    CHECK(q.start_write() == a);
    q.written();
    REQUIRE(q.push(b));
    CHECK(q.start_write() == b);
    q.written();
    CHECK(q.start_write() == nullptr);
    CHECK(q.bytes() == 0);
}

TEST_CASE("outbound queue: events waiting behind a write leave as one SERVER_BATCH_EVENT, in order", "[server][outbound]") {
    OutboundQueue q(1 << 20);
    const SharedFrame first = other(100);
    REQUIRE(q.push(first));
    REQUIRE(q.start_write() == first);  // in flight
    REQUIRE(q.push(single(1)));
    REQUIRE(q.push(batch({2, 3})));
    REQUIRE(q.push(single(4)));
    q.written();
    const std::vector<SharedFrame> out = drain(q);
    REQUIRE(out.size() == 1);
    auto decoded = protocol::decode_message(*out[0]);
    REQUIRE(decoded);
    CHECK(std::holds_alternative<protocol::ServerBatchEvent>(decoded.message()));
    CHECK(seen(out) == std::vector<int>{1, 2, 3, 4});
    CHECK(q.bytes() == 0);
}

TEST_CASE("outbound queue: other frames keep their place between merged events; a lone event is not re-encoded",
          "[server][outbound]") {
    OutboundQueue q(1 << 20);
    REQUIRE(q.push(other(100)));
    REQUIRE(q.start_write() != nullptr);
    const SharedFrame lone = single(5);
    for (const SharedFrame& f : {single(1), batch({2, 3}), other(4), lone}) REQUIRE(q.push(f));
    // Accounting follows the merge: the in-flight frame, the merged batch, the two others.
    q.written();
    std::size_t expected = 0;
    const std::vector<SharedFrame> out = drain(q, &expected);
    REQUIRE(out.size() == 3);
    CHECK(expected == out[0]->size() + out[1]->size() + out[2]->size());
    CHECK(out[2] == lone);
    CHECK(seen(out) == std::vector<int>{1, 2, 3, -4, 5});
}

TEST_CASE("outbound queue: a full backlog refuses the frame; dropping keeps the one in flight", "[server][outbound]") {
    const SharedFrame first = batch({1, 2, 3}, 400);
    OutboundQueue q(first->size() + 100);
    REQUIRE(q.push(first));
    REQUIRE(q.start_write() == first);
    CHECK_FALSE(q.push(batch({4}, 400)));  // over the limit: not queued
    CHECK(q.bytes() == first->size());
    REQUIRE(q.push(other(5)));
    q.drop_pending();
    CHECK(q.bytes() == first->size());
    q.written();
    CHECK(q.start_write() == nullptr);
    CHECK(q.bytes() == 0);
}

TEST_CASE("outbound queue: merged batches stay under the size cap", "[server][outbound]") {
    OutboundQueue q(64 << 20);
    const SharedFrame first = other(1000);
    REQUIRE(q.push(first));
    REQUIRE(q.start_write() == first);
    std::vector<int> pushed{-1000};
    for (int i = 1; i <= 200; ++i) {
        REQUIRE(q.push(batch({i}, 16 * 1024)));
        pushed.push_back(i);
    }
    q.written();
    std::vector<SharedFrame> out = drain(q);
    CHECK(out.size() >= 4);  // 200 x 16 KiB in batches of at most 1 MiB
    for (const SharedFrame& f : out) CHECK(f->size() <= OutboundQueue::kMaxBatchBytes + 1024);
    out.insert(out.begin(), first);
    CHECK(seen(out) == pushed);
}

TEST_CASE("outbound queue: any interleaving of pushes and writes delivers every event and frame in order",
          "[server][outbound]") {
    const auto seed = static_cast<std::uint32_t>(GENERATE(take(5, random(1, 1000000))));
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    OutboundQueue q(64 << 20);
    std::vector<int> pushed;
    std::vector<SharedFrame> written;
    SharedFrame in_flight;
    int next = 1;
    std::size_t frames_pushed = 0;
    for (int step = 0; step < 400; ++step) {
        const unsigned action = rng() % 4;
        if (action < 3) ++frames_pushed;
        switch (action) {
            case 0:
                pushed.push_back(next);
                REQUIRE(q.push(single(next++)));
                break;
            case 1: {
                std::vector<int> ns;
                for (unsigned i = rng() % 4 + 1; i > 0; --i) ns.push_back(next++);
                pushed.insert(pushed.end(), ns.begin(), ns.end());
                REQUIRE(q.push(batch(ns)));
                break;
            }
            case 2:
                pushed.push_back(-next);
                REQUIRE(q.push(other(next++)));
                break;
            default:
                if (in_flight) {
                    written.push_back(in_flight);
                    q.written();
                    in_flight = nullptr;
                }
                in_flight = q.start_write();
        }
    }
    if (in_flight) {
        written.push_back(in_flight);
        q.written();
    }
    for (const SharedFrame& f : drain(q)) written.push_back(f);
    CHECK(seen(written) == pushed);
    CHECK(q.bytes() == 0);
    CHECK(written.size() < frames_pushed);  // some merged
}

TEST_CASE("outbound queue: a waiting update gives way to a newer one of the same query and key", "[server][outbound]") {
    OutboundQueue q(1 << 20);
    REQUIRE(q.push(update("q", "k1", 10)));
    REQUIRE(q.start_write() != nullptr);  // in flight: never superseded
    for (const SharedFrame& f : {update("q", "k1", 11), update("q", "k2", 20), update("other", "k1", 30), single(5), update("q", "k1", 12)}) {
        REQUIRE(q.push(f));
    }
    const std::pair<SharedFrame, SharedFrame> search{make_frame(protocol::encode_message(protocol::SearchUpdate{"s", "k1", Value(1), 0.5, {}, {}})),
                                    make_frame(protocol::encode_message(protocol::SearchUpdate{"s", "k1", Value(2), 0.7, {}, {}}))};
    REQUIRE(q.push(search.first));
    REQUIRE(q.push(search.second));
    q.written();
    std::size_t expected = 0;
    const std::vector<SharedFrame> out = drain(q, &expected);
    std::vector<std::string> got;
    std::size_t sizes = 0;
    for (const SharedFrame& f : out) {
        sizes += f->size();
        auto decoded = protocol::decode_message(*f);
        REQUIRE(decoded);
        const protocol::Message& m = decoded.message();
        if (const auto* u = std::get_if<protocol::QueryUpdate>(&m)) got.push_back(u->query_id + "/" + u->key + "=" + std::to_string(u->value.as_int()));
        if (const auto* s = std::get_if<protocol::SearchUpdate>(&m)) got.push_back("search " + s->key + "=" + std::to_string(s->value.as_int()));
        if (std::holds_alternative<protocol::ServerEvent>(m)) got.push_back("event");
    }
    // q/k1=12 took the place of q/k1=11; other queries and keys are untouched.
    CHECK(got == std::vector<std::string>{"q/k1=12", "q/k2=20", "other/k1=30", "event", "search k1=2"});
    CHECK(expected == sizes);  // the dropped frames left the backlog
}

TEST_CASE("outbound queue: with updates superseded at random, each key ends at its last value and events keep their order",
          "[server][outbound]") {
    const auto seed = static_cast<std::uint32_t>(GENERATE(take(5, random(1, 1000000))));
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    OutboundQueue q(64 << 20);
    std::vector<int> events_pushed, events_seen;
    std::map<int, int> last_pushed;
    std::map<int, std::vector<int>> values_seen;
    SharedFrame in_flight;
    auto take = [&](const SharedFrame& f) {
        auto decoded = protocol::decode_message(*f);
        REQUIRE(decoded);
        if (const auto* u = std::get_if<protocol::QueryUpdate>(&decoded.message())) {
            values_seen[std::stoi(u->key.substr(1))].push_back(static_cast<int>(u->value.as_int()));
        } else {
            for (int n : seen({f})) events_seen.push_back(n);
        }
    };
    int next = 1;
    std::size_t updates_pushed = 0;
    for (int step = 0; step < 600; ++step) {
        const auto action = static_cast<unsigned>(rng() % 3);
        if (action == 0) {
            events_pushed.push_back(next);
            REQUIRE(q.push(single(next++)));
        } else if (action == 1) {
            const int key = static_cast<int>(rng() % 5);
            last_pushed[key] = next;
            ++updates_pushed;
            REQUIRE(q.push(update("q", "k" + std::to_string(key), next++)));
        } else {
            if (in_flight) {
                take(in_flight);
                q.written();
            }
            in_flight = q.start_write();
        }
    }
    if (in_flight) {
        take(in_flight);
        q.written();
    }
    for (const SharedFrame& f : drain(q)) take(f);
    CHECK(events_seen == events_pushed);
    std::size_t updates_seen = 0;
    for (const auto& [key, values] : values_seen) {
        CHECK(std::is_sorted(values.begin(), values.end()));
        CHECK(values.back() == last_pushed.at(key));
        updates_seen += values.size();
    }
    CHECK(values_seen.size() == last_pushed.size());
    CHECK(updates_seen < updates_pushed);  // some were superseded
    CHECK(q.bytes() == 0);
}

TEST_CASE("outbound queue: a superseding update says what changed since the state the client was last sent",
          "[server][outbound]") {
    using protocol::ChangeType;
    struct Case {
        ChangeType before, after, sent;
    };
    for (const Case c : {Case{ChangeType::Enter, ChangeType::Update, ChangeType::Enter},
                         Case{ChangeType::Leave, ChangeType::Enter, ChangeType::Update},
                         Case{ChangeType::Update, ChangeType::Leave, ChangeType::Leave},
                         Case{ChangeType::Enter, ChangeType::Leave, ChangeType::Leave},
                         Case{ChangeType::Update, ChangeType::Update, ChangeType::Update}}) {
        OutboundQueue q(1 << 20);
        REQUIRE(q.push(other(100)));
        REQUIRE(q.start_write() != nullptr);
        REQUIRE(q.push(update("q", "k1", 1, c.before)));
        REQUIRE(q.push(update("q", "k1", 2, c.after)));
        q.written();
        const std::vector<SharedFrame> out = drain(q);
        REQUIRE(out.size() == 1);
        auto decoded = protocol::decode_message(*out[0]);
        REQUIRE(decoded);
        const auto& u = std::get<protocol::QueryUpdate>(decoded.message());
        CHECK(u.change_type == c.sent);
        CHECK(u.value == Value(2));
    }
}

TEST_CASE("outbound queue: updates of different queries or keys never merge, whatever bytes their ids hold",
          "[server][outbound]") {
    OutboundQueue q(1 << 20);
    REQUIRE(q.push(other(100)));
    REQUIRE(q.start_write() != nullptr);
    REQUIRE(q.push(update("a", std::string("b\0c", 3), 1)));
    REQUIRE(q.push(update(std::string("a\0b", 3), "c", 2)));
    q.written();
    CHECK(drain(q).size() == 2);
}

TEST_CASE("outbound queue: behind a stalled write, updates of a few keys keep the backlog at one frame per key",
          "[server][outbound]") {
    const SharedFrame sample = update("q", "k0", 100000);
    OutboundQueue q(sample->size() * 8);  // room for the frame in flight and a few more
    REQUIRE(q.push(other(100)));
    REQUIRE(q.start_write() != nullptr);
    for (int i = 0; i < 100000; ++i) REQUIRE(q.push(update("q", "k" + std::to_string(i % 5), 100000 + i)));
    CHECK(q.bytes() <= sample->size() * 6 + other(100)->size());
    q.written();
    std::vector<int> last;
    for (const SharedFrame& f : drain(q)) {
        auto decoded = protocol::decode_message(*f);
        REQUIRE(decoded);
        last.push_back(static_cast<int>(std::get<protocol::QueryUpdate>(decoded.message()).value.as_int()));
    }
    CHECK(last == std::vector<int>{199995, 199996, 199997, 199998, 199999});
}
