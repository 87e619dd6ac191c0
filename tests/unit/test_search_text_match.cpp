// Full-text predicate nodes (match, matchPhrase, matchPrefix) answered from
// BM25 indexes kept in step with the queried map.
#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/query/query_engine.hpp>
#include <topgun/query/text_match.hpp>
#include <topgun/search/edit_distance.hpp>
#include <topgun/search/map_index.hpp>

#include <catch2/catch.hpp>

#include "query_builders.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <span>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace topgun;
using protocol::PredicateNode;
using protocol::Query;
using query::Predicate;
using search::MapSearchIndex;
using topgun::testing::leaf;
using topgun::testing::obj;
using topgun::testing::text_leaf;

namespace {

using Keys = std::vector<std::string>;

Value arr(std::initializer_list<Value> items) { return Value(Value::Array(items)); }

PredicateNode node(std::string op, std::vector<PredicateNode> children) {
    PredicateNode n;
    n.op = std::move(op);
    n.children = std::move(children);
    return n;
}

// A readable form of a tree, for failure messages.
std::string describe(const PredicateNode& n) {
    std::string out = n.op + "(";
    if (n.attribute) out += *n.attribute + " ";
    if (n.query) out += "'" + *n.query + "'";
    if (n.prefix) out += "'" + *n.prefix + "'";
    if (n.slop) out += " slop " + std::to_string(*n.slop);
    if (const Value* o = n.match_options.get()) {
        if (const Value* op = o->find("operator")) out += " " + op->as_string();
        if (const Value* f = o->find("fuzziness")) out += " fuzzy " + std::to_string(f->as_int());
    }
    if (n.value.present()) out += std::to_string(n.value.value.as_int());
    if (n.children) {
        for (const auto& c : *n.children) out += " " + describe(c);
    }
    return out + ")";
}

Keys keys_of(const query::QueryResult& r) {
    Keys out;
    for (const auto& row : r.rows) out.push_back(row.key);
    return out;
}

// A map with one index per text attribute, and the resolver over them.
struct Corpus {
    HLC hlc{"n1"};
    LWWMap map{hlc};
    std::unique_ptr<MapSearchIndex> body =
        std::make_unique<MapSearchIndex>(map, std::vector<search::IndexedField>{{"body", 1.0}});
    std::unique_ptr<MapSearchIndex> title =
        std::make_unique<MapSearchIndex>(map, std::vector<search::IndexedField>{{"title", 1.0}});

    query::TextIndexResolver resolver() const {
        return [this](std::string_view attribute) -> const search::Bm25Index* {
            if (attribute == "body") return &body->index();
            if (attribute == "title") return &title->index();
            return nullptr;
        };
    }

    query::QueryResult run(const PredicateNode& p) const {
        Query q;
        q.predicate = p;
        query::QueryOptions options;
        options.text_indexes = resolver();
        return query::execute(map, q, options);
    }

    Keys keys(const PredicateNode& p) const {
        const auto r = run(p);
        INFO(r.error.value_or(""));
        REQUIRE_FALSE(r.error);
        return keys_of(r);
    }
};

}  // namespace

TEST_CASE("text match: match, matchPhrase and matchPrefix inside and/or/not trees", "[search][text-match]") {
    Corpus c;
    c.map.set("a", obj({{"title", "Quick start"}, {"body", "the quick brown fox jumps"}, {"n", 1}}));
    c.map.set("b", obj({{"title", "Lazy dogs"}, {"body", "a lazy dog sleeps all day"}, {"n", 2}}));
    c.map.set("c", obj({{"title", "Foxes"}, {"body", arr({"brown bears", "quick foxes"})}, {"n", 3}}));
    c.map.set("d", obj({{"title", "Applications"}, {"body", "apple pie and application servers"}, {"n", 1}}));
    c.map.set("e", obj({{"n", 1}}));  // no text at all

    CHECK(c.keys(text_leaf("match", "body", "quick")) == Keys{"a", "c"});
    CHECK(c.keys(text_leaf("match", "body", "FOX dog")) == Keys{"a", "b"});  // any word, case-folded
    CHECK(c.keys(text_leaf("match", "body", "zebra")).empty());
    CHECK(c.keys(text_leaf("match", "title", "dogs")) == Keys{"b"});  // the title index, not the body's

    // A phrase does not cross the strings of an array: "brown bears" / "quick foxes".
    CHECK(c.keys(text_leaf("matchPhrase", "body", "quick brown")) == Keys{"a"});
    CHECK(c.keys(text_leaf("matchPhrase", "body", "brown quick")).empty());
    CHECK(c.keys(text_leaf("matchPhrase", "body", "bears quick")).empty());
    auto sloppy = text_leaf("matchPhrase", "body", "quick fox");
    CHECK(c.keys(sloppy).empty());
    sloppy.slop = 1;  // one word (brown) between
    CHECK(c.keys(sloppy) == Keys{"a"});

    // The last word is a prefix; earlier words are whole terms.
    CHECK(c.keys(text_leaf("matchPrefix", "body", "app")) == Keys{"d"});
    CHECK(c.keys(text_leaf("matchPrefix", "body", "sleeps fo")) == Keys{"a", "b", "c"});
    auto capped = text_leaf("matchPrefix", "body", "app");
    capped.max_expansions = 0;
    CHECK(c.keys(capped).empty());

    // Combined with ordinary leaves.
    CHECK(c.keys(node("and", {text_leaf("match", "body", "quick"), leaf("eq", "n", Value(1))})) == Keys{"a"});
    CHECK(c.keys(node("or", {text_leaf("matchPhrase", "body", "lazy dog"), leaf("eq", "n", Value(3))})) ==
          Keys{"b", "c"});
    CHECK(c.keys(node("not", {text_leaf("match", "body", "quick")})) == Keys{"b", "d", "e"});
    CHECK(c.keys(node("and", {leaf("eq", "n", Value(1)), node("not", {text_leaf("matchPrefix", "title", "qu")})})) ==
          Keys{"d", "e"});
    CHECK(c.keys(node("or", {text_leaf("match", "title", "foxes"), text_leaf("match", "body", "apple")})) ==
          Keys{"c", "d"});

    // Sorted and limited like any other query.
    Query q;
    q.predicate = text_leaf("match", "body", "quick lazy apple");
    q.sort = protocol::Sort{{{"n", protocol::SortDirection::Desc}}};
    q.limit = 2;
    query::QueryOptions options;
    options.text_indexes = c.resolver();
    const auto r = query::execute(c.map, q, options);
    CHECK(keys_of(r) == Keys{"c", "b"});
    CHECK(r.has_more);
}

TEST_CASE("text match: scatter/gather parts answer full-text leaves from their own indexes", "[search][text-match][dag]") {
    // One corpus over every record, and the same records split over two
    // parts that each index only their own.
    Corpus whole;
    std::array<Corpus, 2> split;
    const char* const bodies[] = {"the quick brown fox", "a lazy dog",        "quick foxes and bears",
                                  "brown bread",         "the quick brown dog", "foxes run quick"};
    for (std::size_t i = 0; i < std::size(bodies); ++i) {
        const std::string key = "k" + std::to_string(i);
        const Value doc = obj({{"body", bodies[i]}, {"n", static_cast<int>(i)}});
        whole.map.set(key, doc);
        split[i % 2].map.set(key, doc);
    }
    std::vector<query::QueryPart> parts;
    for (const Corpus& c : split) parts.push_back(query::QueryPart{&c.map, nullptr, c.resolver()});

    for (const PredicateNode& p : {text_leaf("match", "body", "quick"), text_leaf("match", "body", "dog bread"),
                                   text_leaf("matchPhrase", "body", "quick brown"),
                                   node("and", {text_leaf("match", "body", "foxes"), leaf("gt", "n", Value(2))})}) {
        INFO(describe(p));
        Query q;
        q.predicate = p;
        q.sort = protocol::Sort{{{"n", protocol::SortDirection::Asc}}};
        const auto gathered = query::execute(std::span<const query::QueryPart>(parts), q);
        REQUIRE_FALSE(gathered.error);
        Keys expected = whole.keys(p);
        std::sort(expected.begin(), expected.end());
        CHECK(keys_of(gathered) == expected);  // sorted by n, which follows the key here
        CHECK_FALSE(keys_of(gathered).empty());
    }

    // A part without indexes of its own is answered by the query's.
    std::vector<query::QueryPart> mixed{parts[0], query::QueryPart{&split[1].map, nullptr, {}}};
    Query q;
    q.predicate = text_leaf("match", "body", "quick");
    q.sort = protocol::Sort{{{"n", protocol::SortDirection::Asc}}};
    query::QueryOptions options;
    options.text_indexes = split[1].resolver();
    CHECK(keys_of(query::execute(std::span<const query::QueryPart>(mixed), q, options)) == Keys{"k0", "k2", "k4", "k5"});
    // Without one, such a part is an error, as a single map is.
    CHECK(query::execute(std::span<const query::QueryPart>(mixed), q).error);
}

TEST_CASE("text match: matchOptions operator, fuzziness, minScore and boost", "[search][text-match]") {
    Corpus c;
    c.map.set("a", obj({{"body", "red apple"}}));
    c.map.set("b", obj({{"body", "green apple pie"}}));
    c.map.set("c", obj({{"body", "red car"}}));
    c.map.set("d", obj({{"body", "aple"}}));

    auto m = text_leaf("match", "body", "red apple");
    CHECK(c.keys(m) == Keys{"a", "b", "c"});
    m.match_options = obj({{"operator", "and"}});
    CHECK(c.keys(m) == Keys{"a"});
    m.match_options = obj({{"operator", "or"}});
    CHECK(c.keys(m) == Keys{"a", "b", "c"});

    auto typo = text_leaf("match", "body", "apl");
    CHECK(c.keys(typo).empty());
    typo.match_options = obj({{"fuzziness", 2}});  // apl → aple (1 edit), apple (2)
    CHECK(c.keys(typo) == Keys{"a", "b", "d"});
    typo.match_options = obj({{"fuzziness", 1.0}});  // a whole double is fine
    CHECK(c.keys(typo) == Keys{"d"});

    // minScore applies to the boosted score: keep exactly the documents a
    // search scores at least minScore / boost.
    const auto scored = c.body->index().search("red apple", {.limit = 10});
    REQUIRE(scored.size() == 3);
    const double threshold = scored[1].score;  // the second best is kept, the third not
    REQUIRE(scored[2].score < threshold);
    Keys expected = {scored[0].key, scored[1].key};
    std::sort(expected.begin(), expected.end());
    m.match_options = obj({{"minScore", threshold}});
    CHECK(c.keys(m) == expected);
    m.match_options = obj({{"minScore", threshold * 2}, {"boost", 2.0}});
    CHECK(c.keys(m) == expected);
    m.match_options = obj({{"minScore", threshold * 2}, {"boost", 1.0}});
    CHECK(c.keys(m).size() < expected.size());
    m.match_options = obj({{"minScore", 0.001}, {"boost", 0}});  // every score becomes 0
    CHECK(c.keys(m).empty());

    // TextMatches reports the boosted score per node and key.
    const auto p = Predicate::compile(node("or", {text_leaf("match", "body", "car"), m}));
    REQUIRE(p);
    const auto matches = query::TextMatches::run(*p, c.resolver());
    REQUIRE(matches);
    REQUIRE(matches->size() == 2);
    CHECK(matches->score(0, "c") == c.body->index().search("car")[0].score);
    CHECK_FALSE(matches->score(0, "a"));
    CHECK_FALSE(matches->score(1, "a"));  // boost 0 is below minScore 0.001
    CHECK_FALSE(matches->score(7, "c"));  // no such node
}

TEST_CASE("text match: malformed options are compile errors", "[search][text-match]") {
    const auto error_of = [](const PredicateNode& n) {
        std::string error;
        CHECK_FALSE(Predicate::compile(n, &error));
        return error;
    };
    auto m = text_leaf("match", "body", "x");
    m.match_options = Value("fast");
    CHECK(error_of(m) == "predicate: matchOptions must be a map");
    m.match_options = obj({{"operator", "xor"}});
    CHECK(error_of(m) == "predicate: matchOptions.operator must be \"and\" or \"or\"");
    m.match_options = obj({{"fuzziness", 3}});
    CHECK(error_of(m) == "predicate: matchOptions.fuzziness must be 0, 1 or 2");
    m.match_options = obj({{"fuzziness", 0.5}});
    CHECK(error_of(m) == "predicate: matchOptions.fuzziness must be 0, 1 or 2");
    m.match_options = obj({{"boost", -1}});
    CHECK(error_of(m) == "predicate: matchOptions.boost must not be negative");
    m.match_options = obj({{"minScore", "high"}});
    CHECK(error_of(node("and", {leaf("eq", "n", 1), m})) ==
          "predicate.children[1]: matchOptions.minScore must be a finite number");
    m.match_options = protocol::Nullable<Value>::nil();  // nil: the defaults
    CHECK(Predicate::compile(m));

    // Nodes are numbered in tree order.
    const auto p = Predicate::compile(
        node("or", {text_leaf("match", "a", "x"), node("not", {text_leaf("matchPhrase", "b", "y z")}),
                    text_leaf("matchPrefix", "c", "w")}));
    REQUIRE(p);
    CHECK(p->text_node_count() == 3);
    CHECK(p->root().children[1].children[0].text_slot == 1);
    CHECK(p->root().children[2].text_slot == 2);
}

TEST_CASE("text match: a missing index is a clear error", "[search][text-match]") {
    Corpus c;
    c.map.set("a", obj({{"body", "hello"}, {"other", "hello"}}));
    Query q;
    q.predicate = text_leaf("match", "body", "hello");
    auto r = query::execute(c.map, q);  // no resolver
    CHECK(r.rows.empty());
    CHECK(r.error == "predicate: full-text ops need a search index");

    q.predicate = node("and", {text_leaf("match", "body", "hello"), text_leaf("matchPhrase", "other", "hello")});
    query::QueryOptions options;
    options.text_indexes = c.resolver();
    r = query::execute(c.map, q, options);
    CHECK(r.rows.empty());
    CHECK(r.error == "predicate: no search index for attribute \"other\" (op \"matchPhrase\")");

    // Without full-text nodes the resolver is not needed, and evaluate() keeps
    // answering false for full-text nodes without a matcher.
    const auto p = Predicate::compile(text_leaf("match", "body", "hello"));
    REQUIRE(p);
    CHECK_FALSE(p->evaluate(obj({{"body", "hello"}})));
    CHECK_FALSE(p->evaluate(obj({{"body", "hello"}}), "a", nullptr));
}

TEST_CASE("text match: results follow the map as it changes", "[search][text-match]") {
    Corpus c;
    const auto m = text_leaf("match", "body", "kiwi");
    CHECK(c.keys(m).empty());
    c.map.set("a", obj({{"body", "kiwi"}}));
    c.map.set("b", obj({{"body", "mango"}}));
    CHECK(c.keys(m) == Keys{"a"});
    c.map.set("b", obj({{"body", "kiwi mango"}}));
    CHECK(c.keys(m) == Keys{"a", "b"});
    c.map.remove("a");
    CHECK(c.keys(m) == Keys{"b"});
    // A remote record merged in.
    c.map.merge("z", LWWRecord{obj({{"body", "a kiwi"}}), Timestamp{c.hlc.now().millis + 10, 0, "n2"}, std::nullopt});
    CHECK(c.keys(m) == Keys{"b", "z"});
    // A tombstone merged in.
    c.map.merge("b", LWWRecord{Value(), Timestamp{c.hlc.now().millis + 20, 0, "n2"}, std::nullopt});
    CHECK(c.keys(m) == Keys{"z"});
    c.map.clear();
    CHECK(c.keys(m).empty());
    CHECK(c.body->index().size() == 0);
}

namespace {

// An oracle for full-text nodes that does not use the index: the record's
// strings under the attribute, tokenised as the index tokenises them.
struct Oracle {
    search::Tokenizer tokenizer;

    std::vector<std::vector<std::string>> texts(const Value& record, const std::string& attribute) const {
        std::vector<std::vector<std::string>> out;
        const Value* v = query::FieldPath(attribute).resolve(record);
        if (v == nullptr) return out;
        std::vector<std::string_view> strings;
        search::collect_strings(*v, strings);
        for (const auto s : strings) out.push_back(tokenizer.tokenize(s));
        return out;
    }

    bool has_term(const std::vector<std::vector<std::string>>& texts,
                  const std::function<bool(const std::string&)>& f) const {
        for (const auto& t : texts) {
            if (std::any_of(t.begin(), t.end(), f)) return true;
        }
        return false;
    }

    // Tokens in order with at most `slop` extra words in between (brute force).
    static bool phrase_at(const std::vector<std::string>& tokens, const std::vector<std::string>& phrase,
                          std::size_t from, std::size_t word, std::size_t extra, std::size_t slop) {
        if (word == phrase.size()) return true;
        for (std::size_t i = from; i < tokens.size(); ++i) {
            const std::size_t gap = word == 0 ? 0 : i - from;
            if (extra + gap > slop) break;
            if (tokens[i] == phrase[word] && phrase_at(tokens, phrase, i + 1, word + 1, extra + gap, slop)) return true;
        }
        return false;
    }

    bool matches(const Predicate::Node& n, const Value& record) const {
        using Op = Predicate::Op;
        const auto texts_ = texts(record, n.attribute.text());
        const std::vector<std::string> words = search::Tokenizer::split(n.text);
        if (n.op == Op::MatchPhrase) {
            const std::vector<std::string> phrase = tokenizer.tokenize(n.text);
            if (phrase.empty()) return false;
            for (const auto& t : texts_) {
                if (phrase_at(t, phrase, 0, 0, 0, n.text_options.slop)) return true;
            }
            return false;
        }
        std::size_t matched = 0;
        std::size_t scored = 0;
        for (std::size_t w = 0; w < words.size(); ++w) {
            const bool prefix = n.op == Op::MatchPrefix && w + 1 == words.size();
            const auto term = tokenizer.analyze(words[w]);
            if (!term && !prefix) continue;
            ++scored;
            const bool hit = has_term(texts_, [&](const std::string& t) {
                if (term && t == *term) return true;
                if (prefix && (t.starts_with(words[w]) || (term && t.starts_with(*term)))) return true;
                return term && n.text_options.fuzziness > 0 &&
                       search::bounded_edit_distance(std::u32string(term->begin(), term->end()),
                                                     std::u32string(t.begin(), t.end()),
                                                     n.text_options.fuzziness) <= n.text_options.fuzziness;
            });
            matched += hit ? 1 : 0;
        }
        return n.text_options.all_terms ? scored > 0 && matched == scored : matched > 0;
    }

    bool eval(const Predicate::Node& n, const Value& record) const {
        using Op = Predicate::Op;
        switch (n.op) {
            case Op::And:
                return std::all_of(n.children.begin(), n.children.end(),
                                   [&](const auto& c) { return eval(c, record); });
            case Op::Or:
                return std::any_of(n.children.begin(), n.children.end(),
                                   [&](const auto& c) { return eval(c, record); });
            case Op::Not:
                return n.children.empty() || !eval(n.children[0], record);
            case Op::Match:
            case Op::MatchPhrase:
            case Op::MatchPrefix:
                return matches(n, record);
            case Op::Eq: {
                const Value* v = n.attribute.resolve(record);
                return v != nullptr && Predicate::loose_equal(*v, n.value);
            }
            default:
                FAIL("unexpected op");
                return false;
        }
    }
};

}  // namespace

TEST_CASE("text match: property: random trees of full-text and ordinary leaves equal an index-free oracle",
          "[search][text-match]") {
    // ASCII words: the oracle's u32 conversion is byte-wise.
    const std::vector<std::string> vocabulary = {"red",  "read", "bed",  "apple", "apply", "ape", "pie",
                                                 "pies", "car",  "cart", "cat",   "dog",   "dot"};
    const std::uint32_t seed = GENERATE(take(6, random(1u, 1000000u)));
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const auto words = [&](std::size_t max) {
        std::string s;
        const std::size_t count = 1 + pick(max);
        for (std::size_t i = 0; i < count; ++i) s += (i ? " " : "") + vocabulary[pick(vocabulary.size())];
        return s;
    };
    const std::function<PredicateNode(int)> random_tree = [&](int depth) -> PredicateNode {
        const std::size_t kind = depth >= 3 ? 3 + pick(4) : pick(7);
        if (kind < 3) {
            static const char* combinators[] = {"and", "or", "not"};
            std::vector<PredicateNode> children;
            const std::size_t n = kind == 2 ? 1 : 1 + pick(3);
            for (std::size_t i = 0; i < n; ++i) children.push_back(random_tree(depth + 1));
            return node(combinators[kind], std::move(children));
        }
        if (kind == 3) return leaf("eq", "n", Value(static_cast<int>(pick(3))));
        static const char* ops[] = {"match", "matchPhrase", "matchPrefix"};
        const char* attribute = pick(2) ? "body" : "title";  // drawn apart: argument order is unspecified
        PredicateNode t = text_leaf(ops[kind - 4], attribute, words(3));
        if (t.op == "matchPhrase") {
            if (pick(2)) t.slop = static_cast<std::uint32_t>(pick(3));
        } else {
            Value options = Value::map();
            if (pick(3) == 0) options.set("operator", "and");
            if (pick(3) == 0) options.set("fuzziness", static_cast<int>(1 + pick(2)));
            if (options.size() > 0) t.match_options = options;
            if (t.op == "matchPrefix" && pick(2)) {
                std::string& p = *t.prefix;  // cut the last word short
                const std::size_t last = p.rfind(' ') == std::string::npos ? 0 : p.rfind(' ') + 1;
                p.resize(last + 1 + pick(p.size() - last));
            }
        }
        return t;
    };

    Corpus c;
    const Oracle oracle;
    for (int step = 0; step < 60; ++step) {
        const std::string key = "k" + std::to_string(pick(25));
        if (pick(5) == 0) {
            c.map.remove(key);
        } else {
            Value v = Value::map();
            if (pick(4) != 0) v.set("title", words(3));
            if (pick(5) != 0) v.set("body", pick(3) == 0 ? arr({Value(words(4)), Value(words(4))}) : Value(words(6)));
            v.set("n", static_cast<int>(pick(3)));
            c.map.set(key, std::move(v));
        }
        for (int round = 0; round < 5; ++round) {
            const PredicateNode tree = random_tree(0);
            const auto compiled = Predicate::compile(tree);
            REQUIRE(compiled);
            Keys expected;
            c.map.for_each([&](std::string_view k, const Value& v) {
                if (oracle.eval(compiled->root(), v)) expected.emplace_back(k);
            });
            std::sort(expected.begin(), expected.end());
            INFO("step " << step << " round " << round << ": " << describe(tree));
            CHECK(c.keys(tree) == expected);
        }
    }
}
