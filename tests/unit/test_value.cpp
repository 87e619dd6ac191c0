#include <topgun/value.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

using namespace topgun;

TEST_CASE("Value holds every kind and copies deeply", "[value]") {
    Value m = Value::map();
    m.set("name", "Alice");
    m.set("age", 30);
    m.set("tags", Value(Value::Array{Value("a"), Value(true), Value()}));
    m.set("bin", Value(Bytes{1, 2, 3}));
    m.set("ratio", 0.5);

    Value copy = m;
    copy.find("name")->as_string() = "Bob";
    CHECK(m.find("name")->as_string() == "Alice");
    CHECK(m.find("age")->as_int() == 30);
    CHECK(m.find("tags")->size() == 3);
    CHECK(m.find("bin")->as_binary() == Bytes{1, 2, 3});
    CHECK(m.find("missing") == nullptr);
    CHECK(m.as_map().front().first == "name");  // insertion order kept

    Value moved = std::move(copy);
    CHECK(copy.is_nil());  // NOLINT(bugprone-use-after-move): moved-from is nil by contract
    CHECK(moved.find("name")->as_string() == "Bob");
}

TEST_CASE("Integers have one representation", "[value]") {
    CHECK(Value(5u).type() == Value::Type::Int);
    CHECK(Value(std::uint64_t{1} << 63).type() == Value::Type::UInt);
    CHECK(Value(-1).type() == Value::Type::Int);
}

TEST_CASE("Value equality uses JS number semantics and ignores member order", "[value]") {
    CHECK(Value(42) == Value(42.0));
    CHECK(Value(42) != Value(42.5));
    CHECK(Value(std::uint64_t{1} << 63) == Value(9223372036854775808.0));
    CHECK(Value(INT64_MAX) != Value(9223372036854775808.0));
    Value a = Value::map(), b = Value::map();
    a.set("x", 1);
    a.set("y", 2);
    b.set("y", 2);
    b.set("x", 1);
    CHECK(a == b);
    CHECK(Value("1") != Value(1));
    CHECK(Value() != Value(false));
}

TEST_CASE("Value order is total and consistent", "[value]") {
    std::vector<Value> vs = {Value(),           Value(true),     Value(false),     Value(-3),
                             Value(2.5),        Value(INT64_MIN), Value(UINT64_MAX), Value(std::nan("")),
                             Value("b"),        Value("a"),      Value(Bytes{1}),  Value(Value::Array{Value(1)}),
                             Value::map(),      Value(1e300),    Value(-1e300),    Value(Value::Array{})};
    std::sort(vs.begin(), vs.end(), [](const Value& x, const Value& y) { return Value::compare(x, y) < 0; });
    CHECK(vs[0].is_nil());
    CHECK(vs[1].is_bool());
    CHECK_FALSE(vs[1].as_bool());
    // Numbers ascend, NaN last among them.
    CHECK(vs[3].as_double() == -1e300);
    CHECK(vs[4].as_int() == INT64_MIN);
    CHECK(std::isnan(vs[9].as_double()));
    CHECK(vs[10].as_string() == "a");
    CHECK(vs.back().is_map());

    // Antisymmetry and transitivity over a random sample.
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        const Value& x = vs[rng() % vs.size()];
        const Value& y = vs[rng() % vs.size()];
        const Value& z = vs[rng() % vs.size()];
        CHECK(Value::compare(x, y) == -Value::compare(y, x));
        if (Value::compare(x, y) <= 0 && Value::compare(y, z) <= 0) CHECK(Value::compare(x, z) <= 0);
    }
}
