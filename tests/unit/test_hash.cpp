// Hash vectors: PROTOCOL.md §16 and values printed by the reference TS client's
// own hash.ts (run locally under Node 20 at reference commit 2d5b1dd0).
#include <topgun/hash.hpp>
#include <topgun/partition.hpp>

#include <catch2/catch.hpp>

#include <vector>

using namespace topgun;

TEST_CASE("fnv1a hashes UTF-16 code units like the TS client", "[hash]") {
    CHECK(fnv1a("") == 2166136261u);
    CHECK(fnv1a("hello") == 1335831723u);
    CHECK(fnv1a("key1") == 927623783u);
    CHECK(fnv1a("key1:100:0:test") == 3988528110u);
    CHECK(fnv1a("\xC3\xA9") == 1812687940u);               // é
    CHECK(fnv1a("\xF0\x9F\x98\x80") == 3409036472u);       // 😀, a surrogate pair in UTF-16
    CHECK(fnv1a("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E") == 1409693518u);  // 日本語
    CHECK(fnv1a("\xD0\xBA\xD0\xBB\xD1\x8E\xD1\x87") == 866290361u);       // ключ
    CHECK(fnv1a("a:b") == 146638144u);
}

TEST_CASE("fnv1a incremental pieces equal the whole string", "[hash]") {
    const auto whole = fnv1a("key1:100:0:test");
    const auto pieces = Fnv1a{}.add_utf8("key1").add_char(':').add_decimal(100).add_char(':').add_decimal(0)
                            .add_char(':').add_utf8("test").value();
    CHECK(pieces == whole);
    CHECK(Fnv1a{}.add_decimal(0).value() == fnv1a("0"));
    CHECK(Fnv1a{}.add_decimal(18446744073709551615ull).value() == fnv1a("18446744073709551615"));
}

TEST_CASE("fnv1a reads a WTF-8 lone surrogate as its UTF-16 unit and bad bytes as U+FFFD", "[hash]") {
    // U+D800 written in three bytes, as msgpackr encodes a lone surrogate.
    CHECK(fnv1a("\xED\xA0\x80") == Fnv1a{}.add_unit(0xD800).value());
    CHECK(fnv1a("\xFF") == Fnv1a{}.add_unit(0xFFFD).value());
    CHECK(fnv1a("\xC3") == Fnv1a{}.add_unit(0xFFFD).value());  // truncated sequence
}

TEST_CASE("mix and combine match the reference", "[hash]") {
    CHECK(mix(0) == 0u);
    CHECK(mix(100) == 4258159850u);
    CHECK(mix(200) == 3192868402u);
    CHECK(combine({100u, 200u}) == 3156060956u);
    CHECK(combine(std::vector<std::uint32_t>{}) == 0u);
    CHECK(combine({1u}) == 1364076727u);
    CHECK(combine({0xffffffffu}) == 2180083513u);
    CHECK(combine({0xdeadbeefu, 0x12345678u, 0xffffffffu}) == 1934886814u);
    // Compensating pairs do not collide once mixed.
    CHECK(combine({100u, 200u}) != combine({250u, 50u}));
}

TEST_CASE("partition_of spreads keys over 271 partitions like the TS router", "[hash][partition]") {
    CHECK(kPartitionCount == 271u);
    CHECK(partition_of("hello") == 95u);
    CHECK(partition_of("key1") == 268u);
    for (int i = 0; i < 1000; ++i) CHECK(partition_of("k" + std::to_string(i)) < kPartitionCount);
}
