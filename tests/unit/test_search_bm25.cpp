#include <topgun/detail/utf8.hpp>
#include <topgun/search/bm25.hpp>
#include <topgun/search/edit_distance.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace topgun;
using search::Bm25Index;
using search::SearchOptions;
using search::SearchResult;
using Keys = std::vector<std::string>;
using Words = std::vector<std::string>;

namespace {

Keys keys_of(const std::vector<SearchResult>& results) {
    Keys out;
    for (const auto& r : results) out.push_back(r.key);
    return out;
}

SearchOptions prefix_options() {
    SearchOptions o;
    o.prefix = true;
    return o;
}

SearchOptions fuzzy_options(std::size_t edits) {
    SearchOptions o;
    o.fuzzy = edits;
    return o;
}

// N = 3 documents of 4, 3 and 3 terms: avgdl = 10/3.
Bm25Index tiny_corpus() {
    Bm25Index index;
    index.add_or_update("a", "The quick brown fox");
    index.add_or_update("b", "the lazy dog");
    index.add_or_update("c", "quick, quick dog!");
    return index;
}

}  // namespace

TEST_CASE("bm25 scores match hand-computed values", "[search]") {
    const Bm25Index index = tiny_corpus();
    // "quick": n = 2, idf = ln(1 + (3 − 2 + 0.5)/(2 + 0.5)) = ln 1.6.
    // a: tf 1, len 4, 1 − b + b·len/avg = 0.25 + 0.75·1.2 = 1.15 → ln1.6 · 2.2 / (1 + 1.2·1.15) = ln1.6 · 2.2/2.38
    // c: tf 2, len 3, 0.25 + 0.75·0.9 = 0.925 → ln1.6 · 4.4 / (2 + 1.2·0.925) = ln1.6 · 4.4/3.11
    const double idf = std::log(1.6);
    const double quick_a = idf * 2.2 / 2.38;
    const double quick_c = idf * 4.4 / 3.11;
    CHECK(quick_a == Approx(0.434453).epsilon(1e-5));
    auto results = index.search("quick");
    REQUIRE(keys_of(results) == Keys{"c", "a"});
    CHECK(results[0].score == Approx(quick_c).epsilon(1e-12));
    CHECK(results[1].score == Approx(quick_a).epsilon(1e-12));
    CHECK(results[0].matched_terms == Words{"quick"});

    // "dog" scores b and c equally (tf 1, len 3): ties order by key.
    const double dog = idf * 2.2 / 2.11;
    results = index.search("DOG");
    REQUIRE(keys_of(results) == Keys{"b", "c"});
    CHECK(results[0].score == Approx(dog).epsilon(1e-12));
    CHECK(results[1].score == Approx(dog).epsilon(1e-12));

    // Words are summed, and a repeated word counts once.
    results = index.search("quick dog quick");
    REQUIRE(keys_of(results) == Keys{"c", "b", "a"});  // dog (0.490) outscores a's quick (0.434)
    CHECK(results[0].score == Approx(quick_c + dog).epsilon(1e-12));
    CHECK(results[0].matched_terms == Words{"dog", "quick"});
    CHECK(results[1].score == Approx(dog).epsilon(1e-12));
    CHECK(results[2].score == Approx(quick_a).epsilon(1e-12));

    // "the": n = 2 as well; "fox": n = 1, idf = ln(1 + 2.5/1.5).
    results = index.search("fox");
    REQUIRE(results.size() == 1);
    CHECK(results[0].score == Approx(std::log(1.0 + 2.5 / 1.5) * 2.2 / 2.38).epsilon(1e-12));
    CHECK(index.search("missing").empty());
    CHECK(index.search("").empty());
}

TEST_CASE("bm25 k1 and b are configurable", "[search]") {
    Bm25Index index(search::TokenizerOptions{}, search::Bm25Options{2.0, 0.0});
    index.add_or_update("a", "x y y");
    index.add_or_update("b", "z");
    // b = 0: no length normalisation; tf 2 → 2·3 / (2 + 2).
    const auto results = index.search("y");
    REQUIRE(results.size() == 1);
    CHECK(results[0].score == Approx(std::log(1.0 + 1.5 / 1.5) * 6.0 / 4.0).epsilon(1e-12));
}

TEST_CASE("bm25 limit and min_score", "[search]") {
    const Bm25Index index = tiny_corpus();
    SearchOptions o;
    o.limit = 2;
    CHECK(keys_of(index.search("quick dog", o)) == Keys{"c", "b"});
    o.limit = 0;
    CHECK(index.search("quick dog", o).empty());
    o.limit = 10;
    o.min_score = std::log(1.6) * 2.2 / 2.38;  // exactly a's score: kept (>=)
    CHECK(keys_of(index.search("quick dog", o)) == Keys{"c", "b", "a"});
    o.min_score = 0.45;
    CHECK(keys_of(index.search("quick dog", o)) == Keys{"c", "b"});
    o.min_score = 100;
    CHECK(index.search("quick dog", o).empty());
}

TEST_CASE("bm25 update and remove", "[search]") {
    Bm25Index index = tiny_corpus();
    CHECK(index.size() == 3);
    index.add_or_update("a", "slow green turtle");
    CHECK(keys_of(index.search("quick")) == Keys{"c"});
    CHECK(keys_of(index.search("turtle")) == Keys{"a"});
    CHECK(index.remove("c"));
    CHECK_FALSE(index.remove("c"));
    CHECK_FALSE(index.contains("c"));
    CHECK(index.search("quick").empty());
    CHECK(index.size() == 2);
    // Terms no document holds leave the dictionary.
    CHECK(index.term_count() == 6);  // slow green turtle the lazy dog
    // A moved index keeps working (documents hold dictionary iterators).
    Bm25Index moved = std::move(index);
    CHECK(keys_of(moved.search("turtle")) == Keys{"a"});
    moved.remove("a");
    moved.remove("b");
    CHECK(moved.term_count() == 0);
    CHECK(moved.search("dog").empty());
    moved.add_or_update("b", "dog");
    CHECK(keys_of(moved.search("dog")) == Keys{"b"});
}

TEST_CASE("bm25 field boosts", "[search]") {
    Bm25Index index;
    index.set_field_boost("title", 2.0);
    index.add_or_update("x", {{"title", "Apple"}, {"body", "banana"}});
    index.add_or_update("y", {{"title", "banana"}, {"body", "apple"}});
    // Per field: N = 2, n = 1, idf = ln 2; every length equals its average.
    auto results = index.search("apple");
    REQUIRE(keys_of(results) == Keys{"x", "y"});
    CHECK(results[0].score == Approx(2.0 * std::log(2.0)).epsilon(1e-12));
    CHECK(results[1].score == Approx(std::log(2.0)).epsilon(1e-12));
    index.set_field_boost("body", 3.0);
    CHECK(keys_of(index.search("apple")) == Keys{"y", "x"});
}

TEST_CASE("bm25 prefix search expands the last word", "[search]") {
    Bm25Index index;
    index.add_or_update("1", "application server");
    index.add_or_update("2", "apple pie");
    index.add_or_update("3", "red apricot");
    CHECK(index.search("app").empty());
    CHECK(keys_of(index.search("app", prefix_options())) == Keys{"1", "2"});
    auto results = index.search("red ap", prefix_options());
    REQUIRE(results.size() == 3);
    CHECK(results[0].key == "3");
    CHECK(results[0].matched_terms == Words{"apricot", "red"});
    // Only the last word is a prefix.
    CHECK(keys_of(index.search("ap red", prefix_options())) == Keys{"3"});

    // With stemming the index holds stems: the raw and the stemmed prefix both
    // match, but a partial word longer than the stem ("runn" vs "run") does not.
    Bm25Index english(search::TokenizerOptions::english());
    english.add_or_update("r", "running dogs");
    CHECK(keys_of(english.search("ru", prefix_options())) == Keys{"r"});
    CHECK(keys_of(english.search("running", prefix_options())) == Keys{"r"});
    CHECK(english.search("runn", prefix_options()).empty());
}

TEST_CASE("bm25 fuzzy search", "[search]") {
    Bm25Index index;
    index.add_or_update("1", "apple");
    index.add_or_update("2", "maple syrup");
    index.add_or_update("3", "banana");
    CHECK(index.search("aple").empty());
    // aple → apple and maple, one edit each, weighted 1/2.
    auto results = index.search("aple", fuzzy_options(1));
    REQUIRE(keys_of(results) == Keys{"1", "2"});
    CHECK(results[0].score == Approx(0.5 * index.search("apple")[0].score).epsilon(1e-12));
    CHECK(results[0].matched_terms == Words{"apple"});
    // A transposition costs two edits.
    CHECK(index.search("aplpe", fuzzy_options(1)).empty());
    results = index.search("aplpe", fuzzy_options(2));  // maple: delete m, insert p
    REQUIRE(keys_of(results) == Keys{"1", "2"});
    CHECK(results[0].score == Approx(index.search("apple")[0].score / 3.0).epsilon(1e-12));
    // Exact matches outrank fuzzy ones; max edits is clamped to 2.
    CHECK(keys_of(index.search("apple", fuzzy_options(5))) == Keys{"1", "2"});
    SearchOptions capped = fuzzy_options(1);
    capped.max_expansions = 1;
    CHECK(keys_of(index.search("aple", capped)) == Keys{"1"});
}

TEST_CASE("bm25 fuzzy expansion: property: the dictionary walk finds exactly the terms within the edits", "[search]") {
    // Short words over a small alphabet (ASCII and multi-byte letters), so
    // that many terms share prefixes and many lie within two edits.
    const std::vector<std::string> letters = {"a", "b", "c", "\xC3\xA9" /* é */, "\xCF\x89" /* ω */, "\xE1\xB8\x81" /* ḁ */};
    std::mt19937 rng(11);
    const auto word = [&](std::size_t max_length) {
        std::string w;
        const std::size_t n = 1 + rng() % max_length;
        for (std::size_t i = 0; i < n; ++i) w += letters[rng() % letters.size()];
        return w;
    };
    const auto code_points = [](const std::string& s) {
        std::u32string out;
        for (std::size_t pos = 0; pos < s.size();) {
            const auto [c, len] = topgun::detail::decode_utf8(s, pos);
            out += c;
            pos += len;
        }
        return out;
    };
    for (int round = 0; round < 20; ++round) {
        Bm25Index index;
        std::set<std::string> dictionary;
        for (int doc = 0; doc < 60; ++doc) {
            std::string text;
            for (int w = 0; w < 4; ++w) {
                const std::string t = word(6);
                dictionary.insert(t);
                text += t + " ";
            }
            index.add_or_update("d" + std::to_string(doc), text);
        }
        REQUIRE(index.term_count() == dictionary.size());
        for (int q = 0; q < 30; ++q) {
            const std::string query = word(7);
            for (std::size_t edits : {1, 2}) {
                SearchOptions o = fuzzy_options(edits);
                o.limit = 1000;
                o.max_expansions = 1000;
                std::set<std::string> matched;
                for (const SearchResult& r : index.search(query, o)) matched.insert(r.matched_terms.begin(), r.matched_terms.end());
                std::set<std::string> expected;
                for (const std::string& t : dictionary) {
                    if (search::bounded_edit_distance(code_points(query), code_points(t), edits) <= edits) expected.insert(t);
                }
                INFO("query " << query << ", edits " << edits);
                CHECK(matched == expected);
            }
        }
    }
}

TEST_CASE("bm25 phrase search", "[search]") {
    Bm25Index index;
    index.add_or_update("1", "the quick brown fox");
    index.add_or_update("2", "brown quick fox");
    index.add_or_update("3", {{"a", "quick"}, {"b", "brown"}});
    index.add_or_update("4", {{"a", "quick"}, {"a", "brown"}});
    auto results = index.search_phrase("Quick brown");
    REQUIRE(keys_of(results) == Keys{"1"});
    CHECK(results[0].matched_terms == Words{"brown", "quick"});
    for (const auto& plain : index.search("quick brown")) {
        if (plain.key == "1") CHECK(results[0].score == Approx(plain.score).epsilon(1e-12));
    }
    CHECK(keys_of(index.search_phrase("quick fox")) == Keys{"2"});
    CHECK(keys_of(index.search_phrase("quick brown fox")) == Keys{"1"});
    CHECK(index.search_phrase("fox quick").empty());
    CHECK(index.search_phrase("quick unknown").empty());
    CHECK(index.search_phrase("").empty());
    Keys brown = keys_of(index.search_phrase("brown"));
    std::sort(brown.begin(), brown.end());
    CHECK(brown == Keys{"1", "2", "3", "4"});

    // Dropped stop words keep their place.
    Bm25Index english(search::TokenizerOptions::english());
    english.add_or_update("a", "King of the Hill");
    english.add_or_update("b", "hill king");
    english.add_or_update("c", "king hill");
    english.add_or_update("d", "kings on a hill");
    CHECK(keys_of(english.search_phrase("king of the hills")) == Keys{"a", "d"});
    CHECK(keys_of(english.search_phrase("king hill")) == Keys{"c"});
}

TEST_CASE("bm25 incremental index equals a rebuilt one", "[search]") {
    const std::vector<std::string> vocabulary = {"alpha", "beta", "gamma", "delta", "alphabet", "betamax", "gamut",
                                                 "the", "ALPHA", "Beta,"};
    std::mt19937 rng(20261122);
    const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const auto random_text = [&] {
        std::string text;
        const std::size_t words = pick(7);
        for (std::size_t i = 0; i < words; ++i) text += vocabulary[pick(vocabulary.size())] + " ";
        return text;
    };
    const std::vector<std::string> queries = {"alpha", "beta gamma", "alp", "gam", "alpah", "betamx delta", "the alpha",
                                              "alpha beta", "delta delta gamut"};

    for (int round = 0; round < 8; ++round) {
        const search::TokenizerOptions tokenizer =
            round % 2 == 0 ? search::TokenizerOptions{} : search::TokenizerOptions::english();
        Bm25Index incremental(tokenizer);
        incremental.set_field_boost("title", 2.5);
        std::map<std::string, std::pair<std::string, std::string>> final_docs;
        for (int step = 0; step < 150; ++step) {
            const std::string key = "k" + std::to_string(pick(12));
            if (pick(4) == 0) {
                CHECK(incremental.remove(key) == (final_docs.erase(key) == 1));
            } else {
                const std::string title = random_text();
                const std::string body = random_text();
                incremental.add_or_update(key, {{"title", title}, {"body", body}});
                final_docs[key] = {title, body};
            }
        }
        Bm25Index rebuilt(tokenizer);
        rebuilt.set_field_boost("title", 2.5);
        // Reverse order, body first: different doc and field ids than the incremental index.
        for (auto it = final_docs.rbegin(); it != final_docs.rend(); ++it) {
            rebuilt.add_or_update(it->first, {{"body", it->second.second}, {"title", it->second.first}});
        }
        REQUIRE(incremental.size() == rebuilt.size());
        CHECK(incremental.term_count() == rebuilt.term_count());

        std::vector<SearchOptions> variants(4);
        variants[1].prefix = true;
        variants[2].fuzzy = 1;
        variants[3].fuzzy = 2;
        variants[3].prefix = true;
        for (auto& v : variants) v.limit = 100;
        for (const auto& q : queries) {
            for (const auto& v : variants) {
                const auto a = incremental.search(q, v);
                const auto b = rebuilt.search(q, v);
                INFO("round " << round << " query " << q);
                REQUIRE(a.size() == b.size());
                for (std::size_t i = 0; i < a.size(); ++i) {
                    CHECK(a[i].key == b[i].key);
                    CHECK(std::abs(a[i].score - b[i].score) <= 1e-9);
                    CHECK(a[i].matched_terms == b[i].matched_terms);
                }
            }
            const auto a = incremental.search_phrase(q, variants[0]);
            const auto b = rebuilt.search_phrase(q, variants[0]);
            REQUIRE(a.size() == b.size());
            for (std::size_t i = 0; i < a.size(); ++i) {
                CHECK(a[i].key == b[i].key);
                CHECK(std::abs(a[i].score - b[i].score) <= 1e-9);
            }
        }
    }
}

TEST_CASE("bm25 pruned top-k equals the exhaustive ranking, scores bit for bit", "[search]") {
    // Zipf-like word frequencies, so that some words are everywhere and others rare.
    std::vector<std::string> vocabulary;
    for (int i = 0; i < 40; ++i) vocabulary.push_back("w" + std::to_string(i));
    for (std::uint32_t seed = 1; seed <= 12; ++seed) {
        INFO("seed " << seed);
        std::mt19937 rng(seed);
        const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
        const auto zipf_word = [&] {
            std::size_t r = 0;
            while (r + 1 < vocabulary.size() && pick(4) != 0) r = r * 2 + 1 + pick(2);
            return vocabulary[std::min(r, vocabulary.size() - 1)];
        };
        const auto text = [&](std::size_t max) {
            std::string s;
            for (std::size_t i = pick(max + 1); i > 0; --i) s += zipf_word() + " ";
            return s;
        };
        Bm25Index index;
        index.set_field_boost("title", 1.0 + static_cast<double>(pick(3)));
        for (int d = 0; d < 300; ++d) {
            const std::string key = "d" + std::to_string(pick(250));
            if (pick(10) == 0) {
                index.remove(key);
            } else {
                index.add_or_update(key, {{"title", text(4)}, {"body", text(30)}});
            }
        }
        for (int q = 0; q < 200; ++q) {
            std::string query;
            for (std::size_t i = 2 + pick(4); i > 0; --i)
                query += (pick(5) == 0 ? vocabulary[pick(40)] : zipf_word()) + " ";
            if (pick(6) == 0) query += "missing ";
            SearchOptions o;
            o.limit = 1 + pick(20);
            if (pick(4) == 0) o.min_score = static_cast<double>(pick(30)) / 10.0;
            o.all_words = pick(5) == 0;
            if (pick(3) == 0) o.boosts = {{"body", static_cast<double>(pick(4)) / 2.0}};
            INFO("query " << query << " limit " << o.limit << " min " << o.min_score << " all " << o.all_words);

            std::vector<std::pair<double, std::string>> all;
            index.match(query, o).for_each([&](std::string_view k, double s) { all.emplace_back(s, std::string(k)); });
            std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
                return a.first != b.first ? a.first > b.first : a.second < b.second;
            });
            if (all.size() > o.limit) all.resize(o.limit);
            const auto results = index.search(query, o);
            REQUIRE(results.size() == all.size());
            for (std::size_t i = 0; i < all.size(); ++i) {
                CHECK(results[i].key == all[i].second);
                CHECK(results[i].score == all[i].first);  // exactly
            }
        }
    }
}
