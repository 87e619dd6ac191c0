#include <topgun/hlc.hpp>

#include <catch2/catch.hpp>

#include "fake_clock.hpp"

using namespace topgun;
using topgun::testing::FakeClock;


TEST_CASE("Timestamp string form round-trips", "[hlc]") {
    const Timestamp ts{1700000000000, 1, "node-1"};
    CHECK(ts.to_string() == "1700000000000:1:node-1");
    const auto parsed = Timestamp::parse("1700000000000:1:node-1");
    REQUIRE(parsed);
    CHECK(*parsed == ts);
    CHECK_FALSE(Timestamp::parse("1:2"));
    CHECK_FALSE(Timestamp::parse("1:2:"));
    CHECK_FALSE(Timestamp::parse("1:2:a:b"));
    CHECK_FALSE(Timestamp::parse("x:2:a"));
    CHECK_FALSE(Timestamp::parse(":2:a"));
    CHECK_FALSE(Timestamp::parse("1:-2:a"));
}

TEST_CASE("Timestamps order by millis, counter, then node id bytes", "[hlc]") {
    CHECK(Timestamp{1, 5, "z"} < Timestamp{2, 0, "a"});
    CHECK(Timestamp{1, 1, "z"} < Timestamp{1, 2, "a"});
    CHECK(Timestamp{1, 1, "B"} < Timestamp{1, 1, "a"});  // byte order, not locale order
    CHECK(Timestamp{1, 1, "a"} == Timestamp{1, 1, "a"});
}

TEST_CASE("HLC rejects node ids containing ':' or empty", "[hlc]") {
    CHECK_THROWS_AS(HLC("a:b"), std::invalid_argument);
    CHECK_THROWS_AS(HLC(""), std::invalid_argument);
    CHECK_NOTHROW(HLC("node-1"));
}

TEST_CASE("HLC now() is strictly increasing even when the wall clock stalls or goes back", "[hlc]") {
    FakeClock clock{1000};
    HLC hlc("n", {.clock = clock.source()});
    auto a = hlc.now();
    CHECK(a.millis == 1000);
    CHECK(a.counter == 0);
    auto b = hlc.now();
    CHECK(b.millis == 1000);
    CHECK(b.counter == 1);
    clock.now = 900;  // clock went backwards
    auto c = hlc.now();
    CHECK(b < c);
    clock.now = 2000;
    auto d = hlc.now();
    CHECK(d.millis == 2000);
    CHECK(d.counter == 0);
}

TEST_CASE("HLC update follows the reference rules", "[hlc]") {
    FakeClock clock{1000};
    HLC hlc("n", {.clock = clock.source()});
    hlc.now();  // last = 1000:0

    SECTION("remote ahead of local and wall clock") {
        CHECK(hlc.update(Timestamp{1500, 7, "r"}) == HLC::UpdateResult::Ok);
        CHECK(hlc.last_millis() == 1500);
        CHECK(hlc.last_counter() == 8);
    }
    SECTION("remote equal to last") {
        hlc.update(Timestamp{1000, 5, "r"});
        CHECK(hlc.last_millis() == 1000);
        CHECK(hlc.last_counter() == 6);
    }
    SECTION("local ahead") {
        hlc.update(Timestamp{10, 5, "r"});
        CHECK(hlc.last_millis() == 1000);
        CHECK(hlc.last_counter() == 1);
    }
    SECTION("wall clock ahead of both") {
        clock.now = 5000;
        hlc.update(Timestamp{10, 5, "r"});
        CHECK(hlc.last_millis() == 5000);
        CHECK(hlc.last_counter() == 0);
    }
    SECTION("every later now() is after the remote timestamp") {
        const Timestamp remote{1500, 7, "r"};
        hlc.update(remote);
        CHECK(remote < hlc.now());
    }
}

TEST_CASE("HLC reports drift and strict mode does not adopt it", "[hlc]") {
    FakeClock clock{1000};
    const Timestamp far{clock.now + 60'001, 0, "r"};
    SECTION("lenient: adopted and reported") {
        HLC hlc("n", {.max_drift_ms = 60'000, .strict = false, .clock = clock.source()});
        CHECK(hlc.exceeds_drift(far));
        CHECK(hlc.update(far) == HLC::UpdateResult::DriftExceeded);
        CHECK(hlc.last_millis() == far.millis);
    }
    SECTION("strict: reported and not adopted") {
        HLC hlc("n", {.max_drift_ms = 60'000, .strict = true, .clock = clock.source()});
        CHECK(hlc.update(far) == HLC::UpdateResult::DriftExceeded);
        CHECK(hlc.last_millis() == 0);
        CHECK(hlc.update(Timestamp{clock.now + 60'000, 0, "r"}) == HLC::UpdateResult::Ok);
    }
}

TEST_CASE("HLC counter overflow rolls into the next millisecond", "[hlc]") {
    FakeClock clock{1000};
    HLC hlc("n", {.clock = clock.source()});
    hlc.update(Timestamp{1000, UINT32_MAX, "r"});
    CHECK(hlc.last_millis() == 1001);
    CHECK(hlc.last_counter() == 0);
}
