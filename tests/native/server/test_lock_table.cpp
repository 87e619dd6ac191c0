// LockTable on its own, with synthetic time: tokens, re-entrance, the waiting
// queue, TTL expiry, wait limits and disconnects.
#include "service/lock_table.hpp"

#include <catch2/catch.hpp>

using namespace topgun::server;
using namespace std::chrono_literals;

namespace {
const LockClient a{1, 0}, b{2, 1}, c{3, 0};
const LockTable::Clock::time_point t0{};

bool granted(const std::vector<LockNotice>& n, const LockClient& to, std::uint64_t token) {
    return n.size() == 1 && n[0].to.connection == to.connection && n[0].granted && n[0].fencing_token == token;
}
bool denied(const std::vector<LockNotice>& n, const LockClient& to) {
    return n.size() == 1 && n[0].to.connection == to.connection && !n[0].granted;
}
}  // namespace

TEST_CASE("lock table: tokens only grow, the holder is re-granted its token, others wait in order", "[server][locks]") {
    LockTable locks(1s);
    CHECK(granted(locks.request("jobs", a, "r1", std::nullopt, t0), a, 1));
    CHECK(granted(locks.request("jobs", a, "r2", std::nullopt, t0), a, 1));  // re-entrant
    CHECK(locks.request("jobs", b, "r3", std::nullopt, t0).empty());        // waits
    CHECK(locks.request("jobs", c, "r4", std::nullopt, t0).empty());        // behind b

    bool released = false;
    CHECK(locks.release("jobs", 7, released, t0).empty());  // a wrong token releases nothing
    CHECK_FALSE(released);
    const auto next = locks.release("jobs", 1, released, t0);
    CHECK(released);
    CHECK(granted(next, b, 2));
    CHECK(next[0].request_id == "r3");
    CHECK(granted(locks.release("jobs", 2, released, t0), c, 3));
    CHECK(locks.release("jobs", 3, released, t0).empty());
    CHECK(granted(locks.request("jobs", a, "r5", std::nullopt, t0), a, 4));  // the counter survives the idle lock
    CHECK(granted(locks.request("other", b, "r6", std::nullopt, t0), b, 1)); // per name
}

TEST_CASE("lock table: TTL expiry hands the lock on; waits end at their limit; TTL 0 is denied", "[server][locks]") {
    LockTable locks(500ms);
    CHECK(denied(locks.request("jobs", a, "r0", 0, t0), a));
    CHECK(granted(locks.request("jobs", a, "r1", 100, t0), a, 1));
    CHECK(locks.request("jobs", b, "r2", std::nullopt, t0 + 10ms).empty());
    CHECK(locks.next_deadline() == t0 + 100ms);
    CHECK(locks.expire(t0 + 99ms).empty());
    CHECK(granted(locks.expire(t0 + 100ms), b, 2));

    CHECK(locks.request("jobs", c, "r3", std::nullopt, t0 + 200ms).empty());
    CHECK(locks.next_deadline() == t0 + 700ms);
    const auto timed_out = locks.expire(t0 + 700ms);
    CHECK(denied(timed_out, c));
    CHECK(timed_out[0].request_id == "r3");
    CHECK(locks.holder_token("jobs") == 2);  // b holds on: no TTL
    CHECK_FALSE(locks.next_deadline().has_value());

    // A holder asking again restarts its TTL.
    CHECK(granted(locks.request("t", a, "r4", 100, t0), a, 1));
    CHECK(granted(locks.request("t", a, "r5", 100, t0 + 90ms), a, 1));
    CHECK(locks.expire(t0 + 150ms).empty());
    CHECK(locks.holder_token("t") == 1);
}

TEST_CASE("lock table: a disconnect releases its locks to the next waiter and ends its own waits", "[server][locks]") {
    LockTable locks(1s);
    CHECK(granted(locks.request("x", a, "r1", std::nullopt, t0), a, 1));
    CHECK(granted(locks.request("y", b, "r2", std::nullopt, t0), b, 1));
    CHECK(locks.request("y", a, "r3", std::nullopt, t0).empty());  // a waits for y
    CHECK(locks.request("x", c, "r4", std::nullopt, t0).empty());  // c waits for x
    const auto after = locks.drop(a.connection, t0);
    CHECK(granted(after, c, 2));                                   // x goes to c
    bool released = false;
    CHECK(locks.release("y", 1, released, t0).empty());            // a no longer waits for y
    CHECK(released);
    CHECK_FALSE(locks.holder_token("y").has_value());
}
