#include <topgun/crdt/pn_counter.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace topgun;

TEST_CASE("PNCounter increments, decrements and adds", "[pn]") {
    PNCounter c("a");
    CHECK(c.value() == 0);
    CHECK(c.increment() == 1);
    CHECK(c.increment() == 2);
    CHECK(c.decrement() == 1);
    CHECK(c.add(5) == 6);
    CHECK(c.add(-2.5) == 3.5);
    CHECK(c.add(0) == 3.5);
    // Non-finite deltas would poison the totals for good: they are ignored.
    CHECK(c.add(std::numeric_limits<double>::quiet_NaN()) == 3.5);
    CHECK(c.add(-std::numeric_limits<double>::infinity()) == 3.5);
    CHECK(c.state().positive == std::map<std::string, double>{{"a", 7}});
    CHECK(c.state().negative == std::map<std::string, double>{{"a", 3.5}});
    CHECK(c.node_id() == "a");

    PNCounter restored("b", c.state());
    CHECK(restored.value() == 3.5);
    CHECK(restored.increment() == 4.5);
    CHECK(restored.state().positive.at("b") == 1);
}

TEST_CASE("PNCounter merge takes per-node maxima, separately per side", "[pn]") {
    PNCounter a("a"), b("b");
    a.add(10);
    a.add(-3);
    b.add(4);
    b.add(-1);
    std::vector<double> seen;
    const auto id = a.subscribe([&](const PNCounterChange& ch) { seen.push_back(ch.value); });
    CHECK(a.merge(b.state()));
    CHECK(a.value() == 10);  // 10 + 4 - 3 - 1
    CHECK_FALSE(a.merge(b.state()));  // idempotent, no notification
    CHECK(b.merge(a.state()));
    CHECK(b.value() == a.value());
    CHECK(a.state() == b.state());

    // Stale, NaN and negative remote totals never lower or corrupt ours.
    PNCounterState stale;
    stale.positive = {{"a", 1}, {"b", std::numeric_limits<double>::quiet_NaN()}, {"c", -7}};
    stale.negative = {{"a", 2}};
    CHECK_FALSE(a.merge(stale));
    CHECK(a.value() == 10);
    CHECK(a.state().positive.count("c") == 0);

    a.increment();
    a.unsubscribe(id);
    a.increment();
    CHECK(seen == std::vector<double>{10, 11});
}

TEST_CASE("Property: PN counters converge under shuffled, duplicated state delivery", "[pn][property]") {
    std::mt19937 rng(99);
    for (int round = 0; round < 40; ++round) {
        const auto replicas = 2 + rng() % 7;  // 2..8
        std::vector<PNCounter> counters;
        for (unsigned r = 0; r < replicas; ++r) counters.emplace_back("node-" + std::to_string(r));
        // Every state a replica passes through is a message to the others.
        std::vector<PNCounterState> messages;
        for (int i = 0; i < 200; ++i) {
            PNCounter& c = counters[rng() % replicas];
            switch (rng() % 4) {
                case 0: c.increment(); break;
                case 1: c.decrement(); break;
                case 2: c.add(static_cast<double>(static_cast<int>(rng() % 2001) - 1000) / 8.0); break;
                default:
                    // Gossip early: a replica merges some earlier message.
                    if (!messages.empty()) c.merge(messages[rng() % messages.size()]);
                    break;
            }
            messages.push_back(c.state());
        }
        for (auto& c : counters) {
            auto delivery = messages;
            for (int d = 0; d < 50; ++d) delivery.push_back(messages[rng() % messages.size()]);
            std::shuffle(delivery.begin(), delivery.end(), rng);
            for (const auto& m : delivery) c.merge(m);
        }
        for (const auto& c : counters) {
            CHECK(c.state() == counters[0].state());
            CHECK(c.value() == counters[0].value());  // bit-identical: same sum order everywhere
        }
    }
}
