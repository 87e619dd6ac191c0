#include "storage/storage_testing.hpp"
#include "storage/value_codec.hpp"

#include <catch2/catch.hpp>

#include <topgun/msgpack/reader.hpp>
#include <topgun/msgpack/writer.hpp>

#include <bit>
#include <cmath>
#include <limits>

using namespace topgun;
using namespace topgun::storage;

namespace {

Value round_trip(const Value& v) {
    const Bytes bytes = encode_value(v);
    Value out;
    std::string error;
    REQUIRE(decode_value(bytes, out, error));
    CHECK(error.empty());
    return out;
}

}  // namespace

TEST_CASE("value codec keeps every number's type and bits", "[storage][codec]") {
    // The wire writer would turn these into another type: a whole double into an
    // integer, a 40-bit integer into a float64.
    const Value samples[] = {
        Value(1.0),
        Value(-0.0),
        Value(4294967296.0),
        Value(std::numeric_limits<double>::quiet_NaN()),
        Value(std::numeric_limits<double>::infinity()),
        Value(5e-324),
        Value(std::int64_t{1} << 40),
        Value(-(std::int64_t{1} << 40)),
        Value(std::int64_t{-2147483648LL}),
        Value(std::int64_t{-2147483649LL}),
        Value(std::int64_t{4294967295LL}),
        Value(std::int64_t{4294967296LL}),
        Value(std::numeric_limits<std::int64_t>::min()),
        Value(std::numeric_limits<std::int64_t>::max()),
        Value(std::numeric_limits<std::uint64_t>::max()),
        Value(0),
        Value(-32),
        Value(-33),
    };
    for (const Value& v : samples) {
        const Value back = round_trip(v);
        INFO("type " << static_cast<int>(v.type()));
        CHECK(back.type() == v.type());
        CHECK(identical(back, v));
    }
    // And the wire encoding really would have changed them (so the test can fail).
    Value wire;
    msgpack::Error error;
    REQUIRE(msgpack::decode(msgpack::encode(Value(1.0)), wire, error));
    CHECK(wire.type() == Value::Type::Int);
    REQUIRE(msgpack::decode(msgpack::encode(Value(std::int64_t{1} << 40)), wire, error));
    CHECK(wire.type() == Value::Type::Double);
}

TEST_CASE("value codec round-trips strings, binaries and nested containers in member order", "[storage][codec]") {
    Value inner = Value::map();
    inner.set("z", Value(Bytes{0, 1, 2, 255}));
    inner.set("a", Value(Value::Array{Value(), Value(true), Value(2.5), Value("ü名")}));
    Value v = Value::map();
    v.set("second", inner);
    v.set("first", Value(Value::Array{inner, Value(Bytes{}), Value(std::string())}));
    const Value back = round_trip(v);
    CHECK(identical(back, v));
    REQUIRE(back.as_map().size() == 2);
    CHECK(back.as_map()[0].first == "second");  // insertion order, not sorted
    // identical() is stricter than ==: member order and number types count.
    Value reordered = Value::map();
    reordered.set("first", v.find("first") ? *v.find("first") : Value());
    reordered.set("second", inner);
    CHECK(reordered == v);
    CHECK_FALSE(identical(reordered, v));
    CHECK(Value(1) == Value(1.0));
    CHECK_FALSE(identical(Value(1), Value(1.0)));
}

TEST_CASE("value codec property: random values round-trip identically", "[storage][codec][property]") {
    testing::Generator gen(20261122);
    for (int i = 0; i < 5000; ++i) {
        const Value v = gen.value();
        const Value back = round_trip(v);
        if (!identical(back, v)) FAIL("value " << i << " changed in the round trip");
    }
}

TEST_CASE("value codec refuses values nested too deep and damaged blobs", "[storage][codec]") {
    // Exactly the limit is fine.
    Value ok = Value(1);
    for (std::size_t i = 0; i < kMaxValueDepth; ++i) ok = Value(Value::Array{std::move(ok)});
    CHECK(storable(ok));
    CHECK(identical(round_trip(ok), ok));

    const Value deep = testing::too_deep_value();
    CHECK_FALSE(storable(deep));
    try {
        encode_value(deep);
        FAIL("a too-deep value was encoded");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::Rejected);
        CHECK_THAT(e.what(), Catch::Contains("nested deeper than 256"));
    }

    Bytes bytes = encode_value(Value("hello"));
    Value out;
    std::string error;
    CHECK_FALSE(decode_value(std::span(bytes).first(3), out, error));
    CHECK_THAT(error, Catch::Contains("truncated"));
    bytes.push_back(0xC0);
    CHECK_FALSE(decode_value(bytes, out, error));
    CHECK_THAT(error, Catch::Contains("trailing"));
    const Bytes invalid = {0xC1};
    CHECK_FALSE(decode_value(invalid, out, error));
}
