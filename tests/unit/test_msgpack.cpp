// Writer bytes are checked against what msgpackr 1.11.8 `pack` (the reference
// client's encoder) printed for the same JS values, run locally under Node 20.
#include <topgun/msgpack/reader.hpp>
#include <topgun/msgpack/writer.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace topgun;
using namespace topgun::msgpack;

namespace {
std::string hex(const Bytes& b) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i) out += ' ';
        out += digits[b[i] >> 4];
        out += digits[b[i] & 15];
    }
    return out;
}
template <class T>
std::string packed(T v) {
    Writer w;
    w.number(v);
    return hex(Bytes(w.bytes().begin(), w.bytes().end()));
}
Bytes from_hex(std::string_view s) {
    Bytes out;
    for (std::size_t i = 0; i + 1 < s.size() + 1; i += 3) {
        out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
    }
    return out;
}
}  // namespace

TEST_CASE("Writer encodes integers as msgpackr encodes JS numbers", "[msgpack]") {
    CHECK(packed(0) == "00");
    CHECK(packed(63) == "3f");
    CHECK(packed(64) == "40");
    CHECK(packed(127) == "7f");
    CHECK(packed(128) == "cc 80");
    CHECK(packed(255) == "cc ff");
    CHECK(packed(256) == "cd 01 00");
    CHECK(packed(65535) == "cd ff ff");
    CHECK(packed(65536) == "ce 00 01 00 00");
    CHECK(packed(std::uint64_t{4294967295}) == "ce ff ff ff ff");
    CHECK(packed(std::uint64_t{4294967296}) == "cb 41 f0 00 00 00 00 00 00");
    CHECK(packed(-1) == "ff");
    CHECK(packed(-32) == "e0");
    CHECK(packed(-33) == "d0 df");
    CHECK(packed(-128) == "d0 80");
    CHECK(packed(-129) == "d1 ff 7f");
    CHECK(packed(-32768) == "d1 80 00");
    CHECK(packed(-32769) == "d2 ff ff 7f ff");
    CHECK(packed(std::int64_t{-2147483648LL}) == "d2 80 00 00 00");
    CHECK(packed(std::int64_t{-2147483649LL}) == "cb c1 e0 00 00 00 20 00 00");
    CHECK(packed(std::uint64_t{1700000000000}) == "cb 42 78 bc fe 56 80 00 00");
    CHECK(packed(std::uint64_t{1} << 53) == "cb 43 40 00 00 00 00 00 00");
    // Beyond 2^53 a JS number cannot hold it: msgpackr writes a BigInt as int64/uint64.
    CHECK(packed(std::uint64_t{123456789012345678}) == "d3 01 b6 9b 4b a6 30 f3 4e");
    CHECK(packed(UINT64_MAX) == "cf ff ff ff ff ff ff ff ff");
}

TEST_CASE("Writer encodes doubles as JS numbers", "[msgpack]") {
    CHECK(packed(0.5) == "cb 3f e0 00 00 00 00 00 00");
    CHECK(packed(1.0) == "01");
    CHECK(packed(-0.0) == "00");
    CHECK(packed(std::nan("")) == "cb 7f f8 00 00 00 00 00 00");
    CHECK(packed(INFINITY) == "cb 7f f0 00 00 00 00 00 00");
    CHECK(packed(1e21) == "cb 44 4b 1a e4 d6 e2 ef 50");
    CHECK(packed(4294967296.5) == "cb 41 f0 00 00 00 08 00 00");
    CHECK(packed(-2147483648.5) == "cb c1 e0 00 00 00 10 00 00");
    CHECK(packed(2147483648.0) == "ce 80 00 00 00");
    CHECK(packed(0.1) == "cb 3f b9 99 99 99 99 99 9a");
}

TEST_CASE("Writer encodes strings, binaries, arrays and maps like msgpackr", "[msgpack]") {
    auto enc = [](const Value& v) { return hex(encode(v)); };
    CHECK(enc(Value("")) == "a0");
    CHECK(enc(Value("\xC3\xA9")) == "a2 c3 a9");
    CHECK(encode(Value(std::string(31, 'a'))).front() == 0xBF);
    CHECK(hex(encode(Value(std::string(32, 'a')))).substr(0, 5) == "d9 20");
    CHECK(hex(encode(Value(std::string(256, 'a')))).substr(0, 8) == "da 01 00");
    CHECK(hex(encode(Value(std::string(65536, 'a')))).substr(0, 14) == "db 00 01 00 00");
    CHECK(enc(Value(Bytes{})) == "c4 00");
    CHECK(hex(encode(Value(Bytes(256)))).substr(0, 8) == "c5 01 00");
    CHECK(enc(Value::map()) == "de 00 00");
    Value obj = Value::map();
    obj.set("b", 1);
    obj.set("a", 2);
    CHECK(enc(obj) == "de 00 02 a1 62 01 a1 61 02");  // insertion order
    CHECK(enc(Value::array()) == "90");
    CHECK(encode(Value(Value::Array(15, Value(0)))).front() == 0x9F);
    CHECK(hex(encode(Value(Value::Array(16, Value(0))))).substr(0, 8) == "dc 00 10");
    CHECK(enc(Value()) == "c0");
    CHECK(enc(Value(true)) == "c3");
    CHECK(enc(Value(false)) == "c2");
}

TEST_CASE("Reader round-trips values written by the Writer", "[msgpack]") {
    Value v = Value::map();
    v.set("s", "text");
    v.set("i", -5);
    v.set("u", UINT64_MAX);
    v.set("d", 0.25);
    v.set("big", std::uint64_t{1700000000000});
    v.set("arr", Value(Value::Array{Value(1), Value(), Value(Bytes{9})}));
    Value back;
    Error err;
    REQUIRE(decode(encode(v), back, err));
    CHECK(back == v);
    CHECK(encode(back) == encode(v));
}

TEST_CASE("Reader accepts whole float64 for integer fields and rejects fractions", "[msgpack]") {
    const Bytes bytes = from_hex("cb 42 78 bc fe 56 80 00 00");
    Reader r(bytes);
    std::uint64_t millis = 0;
    REQUIRE(r.read_uint(millis));
    CHECK(millis == 1700000000000u);

    Writer w;
    w.number(0.5);
    Reader r2(w.bytes());
    CHECK_FALSE(r2.read_uint(millis));
    CHECK(r2.error().code == Errc::OutOfRange);

    Writer w3;
    w3.number(-1);
    Reader r3(w3.bytes());
    CHECK_FALSE(r3.read_uint(millis));
    CHECK(r3.error().code == Errc::OutOfRange);

    Writer w4;
    w4.number(std::uint64_t{70000});
    Reader r4(w4.bytes());
    std::uint32_t small = 0;
    CHECK(r4.read_u32(small));
    CHECK(small == 70000u);
}

TEST_CASE("Reader reports malformed input with typed errors", "[msgpack]") {
    Value out;
    Error err;
    SECTION("truncated string") {
        CHECK_FALSE(decode(from_hex("a5 61 62"), out, err));
        CHECK(err.code == Errc::Truncated);
    }
    SECTION("invalid byte") {
        CHECK_FALSE(decode(from_hex("c1"), out, err));
        CHECK(err.code == Errc::InvalidByte);
    }
    SECTION("trailing bytes") {
        CHECK_FALSE(decode(from_hex("01 02"), out, err));
        CHECK(err.code == Errc::TrailingBytes);
    }
    SECTION("empty input") {
        CHECK_FALSE(decode({}, out, err));
        CHECK(err.code == Errc::Truncated);
    }
    SECTION("a huge claimed array length does not allocate") {
        CHECK_FALSE(decode(from_hex("dd ff ff ff ff 01"), out, err));
        CHECK(err.code == Errc::Truncated);
    }
    SECTION("invalid UTF-8") {
        CHECK_FALSE(decode(from_hex("a2 c3 28"), out, err));
        CHECK(err.code == Errc::InvalidUtf8);
        CHECK_FALSE(decode(from_hex("a2 c0 80"), out, err));  // overlong NUL
        CHECK(err.code == Errc::InvalidUtf8);
    }
    SECTION("WTF-8 surrogates are accepted") {
        CHECK(decode(from_hex("a3 ed a0 80"), out, err));
    }
    SECTION("depth limit") {
        Bytes deep(300, 0x91);
        deep.push_back(0x01);
        CHECK_FALSE(decode(deep, out, err));
        CHECK(err.code == Errc::TooDeep);
        Bytes ok(256, 0x91);
        ok.push_back(0x01);
        CHECK(decode(ok, out, err));
    }
    SECTION("frame size limit") {
        Bytes big(2 * 1024 * 1024 + 1, 0);
        CHECK_FALSE(decode(big, out, err));
        CHECK(err.code == Errc::TooLarge);
    }
    CHECK_FALSE(err.message().empty());
}

TEST_CASE("Reader turns map keys into strings as JS objects do, last duplicate wins", "[msgpack]") {
    Value out;
    Error err;
    REQUIRE(decode(from_hex("de 00 01 01 a1 78"), out, err));
    REQUIRE(out.find("1"));
    CHECK(out.find("1")->as_string() == "x");
    REQUIRE(decode(from_hex("82 a1 61 01 a1 61 02"), out, err));
    CHECK(out.size() == 1);
    CHECK(out.find("a")->as_int() == 2);
    // Many duplicate keys stay linear (indexed past 16 members).
    Writer w;
    w.map_header(40000);
    for (int i = 0; i < 40000; ++i) {
        w.string("k" + std::to_string(i % 20));
        w.number(i);
    }
    REQUIRE(decode(w.bytes(), out, err));
    CHECK(out.size() == 20);
    CHECK(out.find("k19")->as_int() == 39999);
}

TEST_CASE("Extension values read as nil", "[msgpack]") {
    Value out;
    Error err;
    REQUIRE(decode(from_hex("d6 ff 65 53 f1 00"), out, err));  // msgpackr's Date
    CHECK(out.is_nil());
}
