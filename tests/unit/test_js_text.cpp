// JS text forms and the OR-map entry hash. Every hash below was printed by the
// reference TS client's hashORMapEntry (ORMapMerkle.ts, run under Node 20) for
// key "k" and one record with tag "1:0:a" and timestamp {1, 0, "a"} unless noted.
#include <topgun/detail/js_text.hpp>
#include <topgun/merkle/or_entry_hash.hpp>

#include <catch2/catch.hpp>

#include <bit>
#include <charconv>
#include <cmath>
#include <random>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using namespace topgun;
using namespace topgun::merkle;

namespace {

// The same shape as ORRecord, which or_entry_hash accepts (so this test does not
// depend on the map).
struct Rec {
    Value value;
    Timestamp timestamp;
    std::string tag;
    std::optional<std::uint64_t> ttl_ms;
};

std::string js(double d) {
    std::string out;
    detail::append_js_number(out, d);
    return out;
}

std::string json(std::string_view s) {
    std::string out;
    detail::append_json_string(out, s);
    return out;
}

std::uint32_t hash_one(const Value& v, std::optional<std::uint64_t> ttl = std::nullopt) {
    const std::vector<Rec> recs{Rec{v, Timestamp{1, 0, "a"}, "1:0:a", ttl}};
    return or_entry_hash("k", recs);
}

Value obj(std::initializer_list<Value::Member> members) { return Value(Value::Map(members)); }
Value arr(std::initializer_list<Value> elements) { return Value(Value::Array(elements)); }

// "he said \"hi\"\n\t\u0001 é 😀"
const std::string kTricky = "he said \"hi\"\n\t\x01 \xC3\xA9 \xF0\x9F\x98\x80";

}  // namespace

TEST_CASE("JS Number toString", "[js]") {
    CHECK(js(0.0) == "0");
    CHECK(js(-0.0) == "0");
    CHECK(js(42) == "42");
    CHECK(js(0.1) == "0.1");
    CHECK(js(0.1 + 0.2) == "0.30000000000000004");
    CHECK(js(1e21) == "1e+21");
    CHECK(js(1e20) == "100000000000000000000");
    CHECK(js(1e-7) == "1e-7");
    CHECK(js(-1e-7) == "-1e-7");
    CHECK(js(0.000001) == "0.000001");
    CHECK(js(1.23e-18) == "1.23e-18");
    CHECK(js(123.456) == "123.456");
    CHECK(js(-1234567.125) == "-1234567.125");
    CHECK(js(1.5e300) == "1.5e+300");
    CHECK(js(-1e21) == "-1e+21");
    CHECK(js(5e-324) == "5e-324");
    CHECK(js(9007199254740992.0) == "9007199254740992");
    CHECK(js(std::numeric_limits<double>::quiet_NaN()) == "NaN");
    CHECK(js(std::numeric_limits<double>::infinity()) == "Infinity");
    CHECK(js(-std::numeric_limits<double>::infinity()) == "-Infinity");
    std::string out;
    detail::append_js_number(out, std::int64_t{-123456789012});
    detail::append_js_number(out, std::uint64_t{18446744073709551615u});
    CHECK(out == "-12345678901218446744073709551615");
}

TEST_CASE("property: the printf fallback (WASM) gives to_chars' shortest digits", "[js][property]") {
    std::mt19937_64 rng(7);
    std::vector<double> values = {5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 0.3, 1.0 / 3,
                                  123456789012345680.0, 1e21, 1e-7, 9007199254740993.0};
    for (int i = 0; i < 20000; ++i) {
        double d = 0;
        do {
            d = std::bit_cast<double>(rng() & 0x7fff'ffff'ffff'ffffULL);  // any positive bit pattern
        } while (!std::isfinite(d) || d == 0);
        values.push_back(d);
        values.push_back(static_cast<double>(rng() % 1'000'000) / 1000.0);  // short decimals
    }
    for (double d : values) {
        char a[40];
        char b[40];
        const auto expected = std::to_chars(a, a + sizeof a, d, std::chars_format::scientific);
        INFO(std::string(a, expected.ptr));
        CHECK(detail::shortest_scientific_by_printf(d, b) == std::string_view(a, static_cast<std::size_t>(expected.ptr - a)));
    }
}

TEST_CASE("JSON.stringify string escaping", "[js]") {
    CHECK(json("plain") == "\"plain\"");
    CHECK(json(kTricky) == "\"he said \\\"hi\\\"\\n\\t\\u0001 \xC3\xA9 \xF0\x9F\x98\x80\"");
    CHECK(json("\b\f\r\\\x1f\x7f") == "\"\\b\\f\\r\\\\\\u001f\x7f\"");
    CHECK(json("\xE2\x80\xA8") == "\"\xE2\x80\xA8\"");  // U+2028 stays raw
    // WTF-8 lone surrogates are escaped; a high+low pair is a valid pair in JS.
    CHECK(json("a\xED\xA0\x80"
               "b\xED\xB0\x80") == "\"a\\ud800b\\udc00\"");
    CHECK(json("\xED\xA0\xBD\xED\xB8\x80") == "\"\xED\xA0\xBD\xED\xB8\x80\"");
}

TEST_CASE("UTF-16 code unit order", "[js]") {
    using detail::utf16_compare;
    CHECK(utf16_compare("a", "b") < 0);
    CHECK(utf16_compare("ab", "a") > 0);
    CHECK(utf16_compare("", "") == 0);
    CHECK(utf16_compare("10:0:a", "9:0:a") < 0);
    // U+FF01 (EF BC 81) sorts after U+1F600 (surrogates D83D DE00) in UTF-16,
    // though before it by UTF-8 bytes.
    CHECK(utf16_compare("\xEF\xBC\x81", "\xF0\x9F\x98\x80") > 0);
    CHECK(utf16_compare("x\xEF\xBC\x81", "x\xF0\x9F\x98\x80") > 0);
    CHECK(utf16_compare("\xC3\xA9", "\xC3\xA9z") < 0);
    // A mismatch inside a multi-byte sequence compares whole characters.
    CHECK(utf16_compare("\xC3\xA9", "\xC3\xA8") > 0);
}

TEST_CASE("stringifyValue text forms", "[js][or]") {
    CHECK(or_value_text(Value()) == "null");
    CHECK(or_value_text(Value("x")) == "x");
    CHECK(or_value_text(Value(true)) == "true");
    CHECK(or_value_text(Value(-0.0)) == "0");
    CHECK(or_value_text(Value(std::int64_t{123456789012})) == "123456789012");
    CHECK(or_value_text(obj({{"b", 1}, {"a", obj({{"c", 2}, {"b", 3}})}})) == R"({"a":{"b":3},"b":1})");
    CHECK(or_value_text(arr({1, "x", obj({{"a", 1}, {"b", 2}}), obj({{"0", 5}})})) == R"([1,"x",{},{"0":5}])");
    CHECK(or_value_text(obj({{"z", arr({1, obj({{"z", 1}, {"y", 2}})})}, {"10", 1}, {"9", 2}})) ==
          R"({"10":1,"9":2,"z":[1,{"z":1}]})");
    CHECK(or_value_text(obj({{"a", obj({{"x", 1}, {"b", obj({{"q", 1}})}})}})) == R"({"a":{}})");
    CHECK(or_value_text(arr({obj({{"b", 1}, {"a", 2}})})) == "[{}]");
    CHECK(or_value_text(Value(Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})) ==
          R"({"0":1,"1":2,"10":11,"2":3,"3":4,"4":5,"5":6,"6":7,"7":8,"8":9,"9":10})");
    CHECK(or_value_text(Value(Bytes{})) == "{}");
    CHECK(or_value_text(obj({})) == "{}");
    CHECK(or_value_text(arr({})) == "[]");
    CHECK(or_value_text(arr({std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::infinity(),
                             Value()})) == "[null,null,null]");
    // Index keys of a nested object under a top-level array sort as strings.
    CHECK(or_value_text(arr({obj({{"2", 2}, {"10", 1}, {"x", 3}}), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})) ==
          R"([{"10":1,"2":2},0,0,0,0,0,0,0,0,0,0,0])");
    // A nested Uint8Array shows its inherited numeric properties when allowed.
    CHECK(or_value_text(obj({{"length", 1}, {"b", Value(Bytes{1, 2})}, {"0", 9}})) ==
          R"({"0":9,"b":{"0":1,"length":2},"length":1})");
    CHECK(or_value_text(arr({Value(Bytes{5, 6, 7})})) == R"([{"0":5}])");
}

TEST_CASE("OR entry hash matches the TS client for scalar values", "[js][or]") {
    CHECK(hash_one("x") == 1803494311u);
    CHECK(hash_one(42) == 2731659595u);
    CHECK(hash_one(0.1) == 618122194u);
    CHECK(hash_one(1e21) == 1745763233u);
    CHECK(hash_one(1e-7) == 498127975u);
    CHECK(hash_one(-0.0) == 148996527u);
    CHECK(hash_one(true) == 1340772609u);
    CHECK(hash_one(Value()) == 3930483544u);
    CHECK(hash_one(std::int64_t{123456789012}) == 1257070551u);
    CHECK(hash_one(Value(kTricky)) == 2588757004u);
    CHECK(hash_one("x", 5000) == 4052980401u);
    CHECK(hash_one(1.5e300) == 2965523306u);
    CHECK(hash_one(5e-324) == 3399843761u);
    CHECK(hash_one(0.000001) == 293672996u);
    CHECK(hash_one(123.456) == 2211131486u);
    CHECK(hash_one(-1234567.125) == 2090104276u);
    CHECK(hash_one(std::numeric_limits<double>::quiet_NaN()) == 1007640706u);
    CHECK(hash_one(std::numeric_limits<double>::infinity()) == 9228989u);
    CHECK(hash_one(1e20) == 3770792352u);
    CHECK(hash_one(0.1 + 0.2) == 3044506544u);
    CHECK(hash_one(9007199254740992.0) == 659525282u);
    CHECK(hash_one(std::int64_t{9007199254740992}) == 659525282u);
    CHECK(hash_one(-1e-7) == 1741749914u);
    CHECK(hash_one(-1e21) == 1573649186u);
    CHECK(hash_one(1.23e-18) == 2332306742u);
    CHECK(hash_one(Value("\x7f\xE2\x80\xA8")) == 856736770u);
}

TEST_CASE("OR entry hash matches the TS client for structured values", "[js][or]") {
    CHECK(hash_one(obj({{"b", 1}, {"a", obj({{"c", 2}, {"b", 3}})}})) == 1924021066u);
    CHECK(hash_one(arr({1, "x", obj({{"a", 1}, {"b", 2}}), obj({{"0", 5}})})) == 4008918545u);
    CHECK(hash_one(obj({{"z", arr({1, obj({{"z", 1}, {"y", 2}})})}, {"10", 1}, {"9", 2}})) == 787269738u);
    CHECK(hash_one(obj({{"s", Value(kTricky)}})) == 1895443209u);
    CHECK(hash_one(Value(Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})) == 864078277u);
    CHECK(hash_one(obj({})) == 3050262929u);
    CHECK(hash_one(arr({})) == 2180860497u);
    CHECK(hash_one(obj({{"a", obj({{"x", 1}, {"b", obj({{"q", 1}})}})}})) == 431208510u);
    CHECK(hash_one(arr({obj({{"b", 1}, {"a", 2}})})) == 1851875293u);
    CHECK(hash_one(obj({{"length", 1}, {"b", Value(Bytes{1, 2})}, {"0", 9}})) == 3880427036u);
    CHECK(hash_one(arr({Value(Bytes{5, 6, 7})})) == 1193066654u);
    CHECK(hash_one(arr({obj({{"10", 1}, {"2", 2}, {"x", 3}}), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})) == 1577809201u);
    // Object keys sort in UTF-16 order at every level; lone surrogates are escaped.
    const Value u16 =
        obj({{"\xEF\xBC\x81", 1}, {"\xF0\x9F\x98\x80", 2}, {"a", obj({{"\xEF\xBC\x81", 3}, {"\xF0\x9F\x98\x80", 4}})}});
    CHECK(or_value_text(u16) ==
          "{\"a\":{\"\xF0\x9F\x98\x80\":4,\"\xEF\xBC\x81\":3},\"\xF0\x9F\x98\x80\":2,\"\xEF\xBC\x81\":1}");
    CHECK(hash_one(u16) == 1795224876u);
    CHECK(hash_one(obj({{"s", Value("a\xED\xA0\x80"
                                    "b\xED\xB0\x80"
                                    "c\xF0\x9F\x98\x80")}})) == 1715659290u);
}

TEST_CASE("OR entry hash sorts records by tag in UTF-16 order", "[js][or]") {
    const std::vector<Rec> recs{
        Rec{"v10", *Timestamp::parse("10:0:a"), "10:0:a", std::nullopt},
        Rec{"v9", *Timestamp::parse("9:0:a"), "9:0:a", std::nullopt},
        Rec{"v1B", *Timestamp::parse("1:0:B"), "1:0:B", std::nullopt},
    };
    CHECK(or_entry_text("k", recs) == "key:k|10:0:a:v10:10:0:a|1:0:B:v1B:1:0:B|9:0:a:v9:9:0:a");
    CHECK(or_entry_hash("k", recs) == 3959664220u);
    // Pointers to records work too, in any order.
    std::vector<const Rec*> ptrs{&recs[2], &recs[0], &recs[1]};
    CHECK(or_entry_hash("k", ptrs) == 3959664220u);

    // Non-BMP tags sort before U+FF01 (surrogates are below U+E000).
    const std::vector<Rec> wide{
        Rec{"x", Timestamp{1, 0, "\xEF\xBC\x81"}, "1:0:\xEF\xBC\x81", std::nullopt},
        Rec{"y", Timestamp{1, 0, "\xF0\x9F\x98\x80"}, "1:0:\xF0\x9F\x98\x80", std::nullopt},
    };
    CHECK(or_entry_text("k", wide) ==
          "key:k|1:0:\xF0\x9F\x98\x80:y:1:0:\xF0\x9F\x98\x80|1:0:\xEF\xBC\x81:x:1:0:\xEF\xBC\x81");
    CHECK(or_entry_hash("k", wide) == 764891534u);

    // Non-ASCII key; a present TTL of 0 is still written.
    const std::vector<Rec> ukey{Rec{"\xC3\xA9", Timestamp{1, 0, "a"}, "1:0:a", 0}};
    CHECK(or_entry_hash("\xD0\xBA\xD0\xBB\xD1\x8E\xF0\x9F\x98\x80", ukey) == 3097968736u);
}
