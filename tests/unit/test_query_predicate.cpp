#include <topgun/query/field_path.hpp>
#include <topgun/query/predicate.hpp>

#include <catch2/catch.hpp>

#include "query_builders.hpp"

#include <random>
#include <string>

using namespace topgun;
using protocol::PredicateNode;
using query::Predicate;

using topgun::testing::leaf;

namespace {

PredicateNode leaf_nil(std::string op, std::string attribute) {
    PredicateNode n;
    n.op = std::move(op);
    n.attribute = std::move(attribute);
    n.value = protocol::Nullable<Value>::nil();
    return n;
}

PredicateNode node(std::string op, std::vector<PredicateNode> children) {
    PredicateNode n;
    n.op = std::move(op);
    n.children = std::move(children);
    return n;
}

Value arr(std::initializer_list<Value> items) { return Value(Value::Array(items)); }

Predicate compiled(const PredicateNode& n) {
    std::string error;
    auto p = Predicate::compile(n, &error);
    INFO(error);
    REQUIRE(p.has_value());
    return *p;
}

bool eval(const PredicateNode& n, const Value& record, const Value* auth = nullptr) {
    return compiled(n).evaluate(record, auth);
}

std::string compile_error(const PredicateNode& n) {
    std::string error;
    CHECK_FALSE(Predicate::compile(n, &error).has_value());
    return error;
}

Value sample() {
    Value r = Value::map();
    r.set("name", "Alice");
    r.set("age", 30);
    r.set("score", 4.5);
    r.set("active", true);
    r.set("tags", arr({"a", "b", 3}));
    r.set("nothing", nullptr);
    Value address = Value::map();
    address.set("city", "Berlin");
    r.set("address", address);
    return r;
}

}  // namespace

TEST_CASE("Field paths resolve through maps only", "[query]") {
    const Value r = sample();
    CHECK(query::resolve_path(r, "address.city")->as_string() == "Berlin");
    CHECK(query::resolve_path(r, "address.zip") == nullptr);
    CHECK(query::resolve_path(r, "name.length") == nullptr);  // non-map intermediate
    CHECK(query::resolve_path(r, "tags.0") == nullptr);
    CHECK(query::resolve_path(r, "") == &r);
    CHECK(query::FieldPath("address.city").resolve(r)->as_string() == "Berlin");
    CHECK(query::FieldPath("age.x").resolve(r) == nullptr);
    CHECK(query::FieldPath("nothing").resolve(r)->is_nil());
}

TEST_CASE("Comparison ops follow the reference semantics", "[query]") {
    const Value r = sample();
    CHECK(eval(leaf("eq", "age", 30.0), r));  // int vs double as numbers
    CHECK(eval(leaf("eq", "name", "Alice"), r));
    CHECK_FALSE(eval(leaf("eq", "name", "alice"), r));
    CHECK_FALSE(eval(leaf("eq", "age", "30"), r));  // no string/number coercion
    CHECK(eval(leaf("eq", "active", true), r));
    CHECK_FALSE(eval(leaf("eq", "active", 1), r));
    CHECK(eval(leaf("eq", "tags", arr({"a", "b", 3})), r));  // structural
    CHECK(eval(leaf("neq", "age", 31), r));
    CHECK_FALSE(eval(leaf("neq", "age", 30), r));
    CHECK(eval(leaf("neq", "age", "30"), r));
    CHECK(eval(leaf("gt", "age", 29.5), r));
    CHECK_FALSE(eval(leaf("gt", "age", 30), r));
    CHECK(eval(leaf("gte", "age", 30), r));
    CHECK(eval(leaf("lt", "score", 5), r));
    CHECK(eval(leaf("lte", "score", 4.5), r));
    CHECK(eval(leaf("gt", "name", "Aardvark"), r));  // bytewise strings
    CHECK(eval(leaf("lt", "name", "alice"), r));     // 'A' < 'a'
    // Ordering across incompatible types, and of booleans, is false either way.
    for (const char* op : {"gt", "gte", "lt", "lte"}) {
        INFO(op);
        CHECK_FALSE(eval(leaf(op, "age", "30"), r));
        CHECK_FALSE(eval(leaf(op, "active", false), r));
        CHECK_FALSE(eval(leaf(op, "tags", arr({"a"})), r));
        CHECK_FALSE(eval(leaf(op, "age", std::nan("")), r));
    }
    CHECK(eval(leaf("eq", "address.city", "Berlin"), r));  // nested path
    CHECK_FALSE(eval(leaf("eq", "name.first", "Alice"), r));
}

TEST_CASE("Missing and nil attributes fail every leaf but the null checks", "[query]") {
    const Value r = sample();
    for (const char* attr : {"missing", "nothing", "address.missing", "name.x"}) {
        INFO(attr);
        for (const char* op : {"eq", "neq", "gt", "gte", "lt", "lte", "like", "regex", "in", "contains", "containsAll",
                               "containsAny", "startsWith", "endsWith"}) {
            INFO(op);
            CHECK_FALSE(eval(leaf(op, attr, "x"), r));
        }
        CHECK_FALSE(eval(leaf("between", attr, arr({1, 2})), r));
        CHECK(eval(leaf("isNull", attr, nullptr), r));
        CHECK_FALSE(eval(leaf("isNotNull", attr, nullptr), r));
    }
    PredicateNode is_null;
    is_null.op = "isNull";
    is_null.attribute = "name";
    CHECK_FALSE(eval(is_null, r));
    is_null.op = "isNotNull";
    CHECK(eval(is_null, r));
    // An explicit nil value makes the leaf false, neq included.
    CHECK_FALSE(eval(leaf_nil("eq", "nothing"), r));
    CHECK_FALSE(eval(leaf_nil("neq", "age"), r));
}

TEST_CASE("String, set and range ops", "[query]") {
    const Value r = sample();
    CHECK(eval(leaf("like", "name", "al%"), r));  // case-insensitive
    CHECK(eval(leaf("like", "name", "_LIC_"), r));
    CHECK_FALSE(eval(leaf("like", "name", "lic"), r));  // anchored
    CHECK(eval(leaf("like", "name", "%i%e"), r));
    CHECK_FALSE(eval(leaf("like", "age", "30"), r));
    CHECK(eval(leaf("like", "address.city", "b%N"), r));
    CHECK(Predicate::like_match(Predicate::like_pattern("a.c"), "a.c"));
    CHECK_FALSE(Predicate::like_match(Predicate::like_pattern("a.c"), "abc"));  // '.' is literal
    CHECK(Predicate::like_match(Predicate::like_pattern("_"), "é"));

    CHECK(eval(leaf("regex", "name", "^A.i"), r));
    CHECK(eval(leaf("regex", "name", "ice"), r));  // unanchored
    CHECK_FALSE(eval(leaf("regex", "name", "ALICE"), r));
    CHECK(eval(leaf("regex", "name", "(?i)ALICE"), r));
    CHECK_FALSE(eval(leaf("regex", "age", "30"), r));

    CHECK(eval(leaf("in", "age", arr({1, 30.0, "x"})), r));
    CHECK_FALSE(eval(leaf("in", "age", arr({1, "30"})), r));
    CHECK(eval(leaf("in", "tags", "b"), r));  // array actual, scalar value
    CHECK(eval(leaf("in", "tags", 3.0), r));
    CHECK_FALSE(eval(leaf("in", "name", "Alice"), r));  // both scalars

    CHECK(eval(leaf("between", "age", arr({30, 40})), r));
    CHECK(eval(leaf("between", "age", arr({20, 30.0})), r));
    CHECK_FALSE(eval(leaf("between", "age", arr({31, 40})), r));
    CHECK(eval(leaf("between", "name", arr({"A", "B"})), r));
    CHECK_FALSE(eval(leaf("between", "name", arr({1, 100})), r));

    CHECK(eval(leaf("containsAll", "tags", arr({"a", 3})), r));
    CHECK_FALSE(eval(leaf("containsAll", "tags", arr({"a", "z"})), r));
    CHECK(eval(leaf("containsAll", "tags", arr({})), r));
    CHECK(eval(leaf("containsAll", "tags", "b"), r));
    CHECK_FALSE(eval(leaf("containsAll", "name", "A"), r));
    CHECK(eval(leaf("containsAny", "tags", arr({"z", "b"})), r));
    CHECK_FALSE(eval(leaf("containsAny", "tags", arr({})), r));
    CHECK_FALSE(eval(leaf("containsAny", "tags", "z"), r));

    CHECK(eval(leaf("contains", "name", "lic"), r));
    CHECK_FALSE(eval(leaf("contains", "name", "LIC"), r));
    CHECK(eval(leaf("contains", "tags", 3), r));
    CHECK_FALSE(eval(leaf("contains", "age", 3), r));

    CHECK(eval(leaf("startsWith", "name", "Al"), r));
    CHECK_FALSE(eval(leaf("startsWith", "name", "al"), r));
    CHECK(eval(leaf("endsWith", "name", "ce"), r));
    CHECK_FALSE(eval(leaf("endsWith", "age", "0"), r));
}

TEST_CASE("Combinators, valueRef and where", "[query]") {
    const Value r = sample();
    CHECK(eval(node("and", {leaf("eq", "age", 30), leaf("eq", "name", "Alice")}), r));
    CHECK_FALSE(eval(node("and", {leaf("eq", "age", 30), leaf("eq", "name", "Bob")}), r));
    CHECK(eval(node("or", {leaf("eq", "age", 1), leaf("eq", "name", "Alice")}), r));
    CHECK_FALSE(eval(node("or", {}), r));
    CHECK(eval(node("and", {}), r));
    CHECK(eval(node("not", {}), r));
    CHECK(eval(node("not", {leaf("eq", "age", 1)}), r));
    CHECK(eval(node("not", {leaf("eq", "missing", 1)}), r));  // not of a false leaf

    Value auth = Value::map();
    auth.set("id", "Alice");
    auth.set("roles", arr({"admin"}));
    PredicateNode owner = leaf("eq", "name", "nobody");
    owner.value_ref = "auth.id";  // takes precedence over value
    CHECK(eval(owner, r, &auth));
    CHECK_FALSE(eval(owner, r));  // no principal
    owner.value_ref = "auth.missing";
    CHECK_FALSE(eval(owner, r, &auth));
    PredicateNode self = leaf("eq", "address.city", nullptr);
    self.value = protocol::Nullable<Value>();
    self.value_ref = "data.address.city";
    CHECK(eval(self, r));
    PredicateNode ref_regex;
    ref_regex.op = "regex";
    ref_regex.attribute = "name";
    ref_regex.value_ref = "auth.id";
    CHECK(eval(ref_regex, r, &auth));
    auth.set("id", "(");  // invalid at evaluation time: no match
    CHECK_FALSE(eval(ref_regex, r, &auth));

    protocol::Query q;
    CHECK(Predicate::from_query(q)->evaluate(r));  // no filter
    q.where = protocol::StringMap<Value>{{"name", "Alice"}, {"age", 30.0}};
    CHECK(Predicate::from_query(q)->evaluate(r));
    q.where->push_back({"address.city", "Paris"});
    CHECK_FALSE(Predicate::from_query(q)->evaluate(r));
    q.predicate = leaf("eq", "name", "Alice");  // predicate wins over where
    CHECK(Predicate::from_query(q)->evaluate(r));
}

TEST_CASE("Full-text ops need a search index", "[query]") {
    PredicateNode m;
    m.op = "match";
    m.attribute = "body";
    m.query = "hello world";
    const Predicate p = compiled(node("or", {leaf("eq", "x", 1), m}));
    CHECK(p.needs_search_index());
    CHECK(p.root().children[1].text == "hello world");
    Value r = Value::map();
    r.set("body", "hello world");
    CHECK_FALSE(p.evaluate(r));
    CHECK_FALSE(compiled(leaf("eq", "x", 1)).needs_search_index());
    m.query.reset();
    CHECK(compile_error(m) == "predicate: op \"match\" needs a query");
    m.op = "matchPrefix";
    m.prefix = "hel";
    CHECK(compiled(m).needs_search_index());
}

TEST_CASE("Malformed predicate trees give errors with paths", "[query]") {
    CHECK(compile_error(node("and", {leaf("eq", "a", 1), leaf("gtx", "a", 1)})) ==
          "predicate.children[1]: op \"gtx\" is not supported");
    PredicateNode no_attr;
    no_attr.op = "eq";
    no_attr.value = Value(1);
    CHECK(compile_error(node("or", {node("not", {no_attr})})) ==
          "predicate.children[0].children[0]: op \"eq\" needs an attribute");
    PredicateNode no_value;
    no_value.op = "gt";
    no_value.attribute = "a";
    CHECK(compile_error(no_value) == "predicate: op \"gt\" needs a value or valueRef");
    CHECK(compile_error(leaf("between", "a", arr({1}))) == "predicate: op \"between\" needs a value [low, high]");
    CHECK(compile_error(leaf("between", "a", 5)) == "predicate: op \"between\" needs a value [low, high]");
    CHECK(compile_error(leaf("like", "a", 5)) == "predicate: op \"like\" needs a string value");
    CHECK(compile_error(leaf("startsWith", "a", arr({}))) == "predicate: op \"startsWith\" needs a string value");
    CHECK(compile_error(leaf("regex", "a", "(unclosed")).rfind("predicate: invalid regex: regex: unclosed group", 0) ==
          0);
    CHECK(compile_error(leaf("eq", "", 1)) == "predicate: op \"eq\" has an empty attribute");
    PredicateNode bad_ref = leaf("eq", "a", 1);
    bad_ref.value_ref = "user.id";
    CHECK(compile_error(bad_ref) == "predicate: valueRef \"user.id\" must be \"auth.<path>\" or \"data.<path>\"");

    PredicateNode deep = leaf("eq", "a", 1);
    for (int i = 1; i < Predicate::max_depth; ++i) deep = node("not", {deep});
    CHECK(Predicate::compile(deep).has_value());  // exactly at the limit
    deep = node("not", {deep});
    CHECK(compile_error(deep).find("nested deeper than 256") != std::string::npos);
}

TEST_CASE("Random predicates: not and and/or agree with manual combination", "[query]") {
    std::mt19937 rng(12345);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    auto scalar = [&]() -> Value {
        switch (pick(5)) {
            case 0: return Value(pick(10) - 5);
            case 1: return Value(pick(10) / 2.0 - 2.5);
            case 2: return Value(std::string(1, static_cast<char>('a' + pick(4))));
            case 3: return Value(pick(2) == 0);
            default: return arr({Value(pick(4)), Value(std::string(1, static_cast<char>('a' + pick(4))))});
        }
    };
    const char* ops[] = {"eq", "neq", "gt", "gte", "lt", "lte", "in", "between", "contains", "containsAll",
                         "containsAny", "startsWith", "endsWith", "like", "regex"};
    auto random_leaf = [&](const std::string& attr) {
        const std::string op = ops[pick(15)];
        Value v = scalar();
        if (op == "between") v = arr({scalar(), scalar()});
        if (op == "like" || op == "regex" || op == "startsWith" || op == "endsWith") {
            v = Value(std::string(1, static_cast<char>('a' + pick(4))) + (op == "like" ? "%" : ""));
        }
        return leaf(op, attr, v);
    };
    for (int i = 0; i < 2000; ++i) {
        Value r = Value::map();
        r.set("x", scalar());
        r.set("y", scalar());
        const PredicateNode p = random_leaf("x");
        const PredicateNode q = random_leaf(pick(2) == 0 ? "y" : "missing");
        const bool pv = eval(p, r), qv = eval(q, r);
        INFO("iteration " << i);
        CHECK(eval(node("not", {p}), r) == !pv);
        CHECK(eval(node("and", {p, q}), r) == (pv && qv));
        CHECK(eval(node("or", {p, q}), r) == (pv || qv));
        CHECK(eval(node("not", {node("and", {p, q})}), r) == eval(node("or", {node("not", {p}), node("not", {q})}), r));
    }
}
