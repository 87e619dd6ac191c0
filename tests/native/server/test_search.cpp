// Full-text search over the wire (PROTOCOL.md §9.1) on a node whose maps are
// spread over four shards. The oracle is the core's index over one map holding
// the same records, each top-level member a field as the server indexes them:
// one index per map means the same statistics, so the same hits, ranks and
// scores, boosts included.
#include "in_process.hpp"

#include <topgun/search/map_index.hpp>

#include <map>
#include <memory>
#include <random>
#include <set>

using namespace topgun;
using namespace topgun::protocol;
using namespace topgun::server;
using namespace topgun::server::testing;

namespace {

const std::vector<std::string> kWords = {"apple", "banana", "cherry", "delta", "echo", "falcon", "grape", "harbor"};

Value doc(std::mt19937& rng) {
    std::string title, body;
    for (int i = 0; i < 3; ++i) title += kWords[rng() % kWords.size()] + " ";
    for (int i = 0; i < 8; ++i) body += kWords[rng() % kWords.size()] + " ";
    Value v = Value::map();
    v.set("title", Value(title));
    v.set("body", Value(body));
    v.set("n", Value(static_cast<std::int64_t>(rng() % 100)));
    return v;
}

class Corpus {
public:
    Corpus() : map_(clock_), index_(map_, {}, {}, search::TextFields::ByMember) {}
    void set(const std::string& key, const Value& v) { map_.set(key, v); }
    void remove(const std::string& key) { map_.remove(key); }
    std::vector<search::SearchResult> search(const std::string& q, std::size_t limit = 10,
                                             std::vector<search::FieldBoost> boosts = {}) const {
        search::SearchOptions o;
        o.limit = limit;
        o.boosts = std::move(boosts);
        return index_.index().search(q, o);
    }

private:
    HLC clock_{"oracle"};
    LWWMap map_;
    search::MapSearchIndex index_;
};

class Writer {
public:
    Writer(TestClient& client, Corpus& corpus) : client_(client), corpus_(corpus) {}
    void put(const std::string& key, const Value& v) {
        corpus_.set(key, v);
        client_.send(OpBatch{{put_op(std::to_string(++ids_), "docs", key, v, stamp(now_millis(), ++counter_, "w"))}, {}, {}});
    }
    void remove(const std::string& key) {
        corpus_.remove(key);
        client_.send(OpBatch{{remove_op(std::to_string(++ids_), "docs", key, stamp(now_millis(), ++counter_, "w"))}, {}, {}});
    }

private:
    TestClient& client_;
    Corpus& corpus_;
    std::uint64_t ids_ = 0;
    std::uint32_t counter_ = 0;
};

void check_same(const std::vector<SearchResultEntry>& got, const std::vector<search::SearchResult>& expected) {
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("hit " << i);
        CHECK(got[i].key == expected[i].key);
        CHECK(got[i].score == Approx(expected[i].score).epsilon(1e-9));
        CHECK(got[i].matched_terms == expected[i].matched_terms);
    }
}

// A node of four shards, a client whose writes the oracle sees too, and a client that searches.
struct Searching {
    InProcessServer server{test_config(4)};
    std::unique_ptr<TestClient> writer_client = server.connect();
    std::unique_ptr<TestClient> reader = server.connect();
    Corpus corpus;
    Writer writer{*writer_client, corpus};
};

}  // namespace

TEST_CASE("SEARCH ranks the whole map as one index would, over every shard, with the values", "[server][search]") {
    Searching f;
    auto& [server, writer_client, reader, corpus, writer] = f;
    std::mt19937 rng(7);
    std::map<std::string, Value> docs;
    for (int i = 0; i < 80; ++i) {
        const std::string key = "d" + std::to_string(i);
        docs[key] = doc(rng);
        writer.put(key, docs[key]);
    }
    writer_client->take();

    for (const std::string q : {"apple", "banana cherry", "harbor falcon grape", "zebra"}) {
        INFO(q);
        reader->send(Search{"r-" + q, "docs", q, SearchOptions{5, {}, {}}});
        const SearchResp resp = reader->take_one<SearchResp>();
        CHECK(resp.request_id == "r-" + q);
        check_same(resp.results, corpus.search(q, 5));
        CHECK(resp.total_count == resp.results.size());
        for (const auto& hit : resp.results) CHECK(hit.value == docs[hit.key]);
    }

    // The index follows later writes and removes.
    writer.put("fresh", [] {
        Value v = Value::map();
        v.set("title", Value("zebra zebra"));
        return v;
    }());
    writer.remove("d3");
    reader->send(Search{"z", "docs", "zebra", {}});
    auto resp = reader->take_one<SearchResp>();
    REQUIRE(resp.results.size() == 1);
    CHECK(resp.results[0].key == "fresh");
    reader->send(Search{"all", "docs", "apple banana cherry delta echo falcon grape harbor", SearchOptions{200, {}, {}}});
    resp = reader->take_one<SearchResp>();
    check_same(resp.results, corpus.search("apple banana cherry delta echo falcon grape harbor", 200));
    for (const auto& hit : resp.results) CHECK(hit.key != "d3");

    reader->send(Search{"bad", "_topgun_x", "apple", {}});
    CHECK(reader->take_one<SearchResp>().error.has_value());

    // Boosts weigh the members they name; unknown names change nothing.
    for (const auto& [title, body] : {std::pair{5.0, 1.0}, std::pair{1.0, 5.0}, std::pair{0.5, 2.0}}) {
        INFO("title " << title << ", body " << body);
        reader->send(Search{"boost", "docs", "cherry delta",
                            SearchOptions{8, {}, StringMap<double>{{"title", title}, {"body", body}, {"nope", 9.0}}}});
        check_same(reader->take_one<SearchResp>().results,
                   corpus.search("cherry delta", 8, {{"title", title}, {"body", body}}));
    }
}

TEST_CASE("SEARCH boost ranks a match in the boosted member first", "[server][search]") {
    Searching f;
    auto& [server, writer_client, reader, corpus, writer] = f;
    const auto record = [](std::string title, std::string body) {
        Value v = Value::map();
        v.set("title", Value(std::move(title)));
        v.set("body", Value(std::move(body)));
        return v;
    };
    // "kiwi" once in a title, and twice in a short body: the body wins unboosted.
    writer.put("in-title", record("kiwi tart", "a long body of words about other fruit and baking"));
    writer.put("in-body", record("dessert", "kiwi kiwi"));
    for (int i = 0; i < 6; ++i) writer.put("other" + std::to_string(i), record("plum cake", "plum plum pie"));
    writer_client->take();
    const auto ranked = [&](std::optional<StringMap<double>> boost) {
        f.reader->send(Search{"k", "docs", "kiwi", SearchOptions{10, {}, std::move(boost)}});
        std::vector<std::string> keys;
        for (const auto& hit : f.reader->take_one<SearchResp>().results) keys.push_back(hit.key);
        return keys;
    };
    CHECK(ranked(std::nullopt) == std::vector<std::string>{"in-body", "in-title"});
    CHECK(ranked(StringMap<double>{{"title", 10.0}}) == std::vector<std::string>{"in-title", "in-body"});
    CHECK(ranked(StringMap<double>{{"body", 10.0}}) == std::vector<std::string>{"in-body", "in-title"});
}

TEST_CASE("SEARCH_SUB: the initial hits, then ENTER/UPDATE/LEAVE keep the client's window equal to a fresh search",
          "[server][search][property]") {
    const auto seed = static_cast<std::uint32_t>(GENERATE(take(3, random(1, 1000000))));
    CAPTURE(seed);
    std::mt19937 rng(seed);
    Searching f;
    auto& [server, writer_client, reader, corpus, writer] = f;
    for (int i = 0; i < 30; ++i) writer.put("d" + std::to_string(i), doc(rng));

    const std::string q = "cherry falcon";
    reader->send(SearchSub{{"s1", "docs", q, SearchOptions{6, {}, {}}}});
    const SearchResp initial = reader->take_one<SearchResp>();
    CHECK(initial.request_id == "s1");
    check_same(initial.results, corpus.search(q, 6));
    std::map<std::string, double> view;
    for (const auto& hit : initial.results) view[hit.key] = hit.score;

    for (int step = 0; step < 80; ++step) {
        const std::string key = "d" + std::to_string(rng() % 40);
        if (rng() % 5 == 0) {
            writer.remove(key);
        } else {
            writer.put(key, doc(rng));
        }
        for (const SearchUpdate& u : reader->take_all<SearchUpdate>()) {
            CHECK(u.subscription_id == "s1");
            if (u.change_type == ChangeType::Leave) {
                CHECK(view.erase(u.key) == 1);
            } else {
                CHECK(!u.value.is_nil());
                view[u.key] = u.score;
            }
        }
        // The window's keys are exact; a score is the one last sent (the core re-sends
        // scores only when a change could reorder the window, live_search.hpp).
        std::set<std::string> expected, shown;
        for (const auto& hit : corpus.search(q, 6)) expected.insert(hit.key);
        for (const auto& [hit, score] : view) shown.insert(hit);
        INFO("step " << step);
        REQUIRE(shown == expected);
    }

    reader->send(SearchUnsub{"s1"});
    writer.put("late", [] {
        Value v = Value::map();
        v.set("title", Value("cherry cherry falcon falcon"));
        return v;
    }());
    CHECK(reader->take_all<SearchUpdate>().empty());
    CHECK(reader->take().empty());  // SEARCH_UNSUB is not answered
}

TEST_CASE("A search subscriber that disconnects is dropped; others keep their updates", "[server][search]") {
    InProcessServer server(test_config(4));
    auto writer_client = server.connect();
    auto leaving = server.connect();
    auto staying = server.connect();
    Corpus corpus;
    Writer writer(*writer_client, corpus);
    leaving->send(SearchSub{{"s", "docs", "apple", {}}});
    staying->send(SearchSub{{"s", "docs", "apple", {}}});  // the same id on another connection is another subscription
    CHECK(leaving->take_one<SearchResp>().results.empty());
    CHECK(staying->take_one<SearchResp>().results.empty());
    leaving->disconnect();
    server.poll();
    Value v = Value::map();
    v.set("title", Value("apple pie"));
    writer.put("pie", v);
    const auto updates = staying->take_all<SearchUpdate>();
    REQUIRE(updates.size() == 1);
    CHECK(updates[0].key == "pie");
    CHECK(updates[0].change_type == ChangeType::Enter);
    CHECK(updates[0].value == v);
}

TEST_CASE("A write to a record in a search window is an UPDATE with the new value, even at the same score",
          "[server][search]") {
    InProcessServer server(test_config(4));
    auto writer_client = server.connect();
    auto subscriber = server.connect();
    Corpus corpus;
    Writer writer(*writer_client, corpus);
    auto note = [](std::string title, std::int64_t stars) {
        Value v = Value::map();
        v.set("title", Value(std::move(title)));
        v.set("stars", Value(stars));
        return v;
    };
    writer.put("only", note("keyboard review", 3));
    subscriber->send(SearchSub{{"s", "docs", "keyboard", {}}});
    const auto initial = subscriber->take_one<SearchResp>();
    REQUIRE(initial.results.size() == 1);

    writer.put("only", note("keyboard review", 5));  // same text: same score, same terms
    const auto update = subscriber->take_one<SearchUpdate>();
    CHECK(update.change_type == ChangeType::Update);
    CHECK(update.key == "only");
    CHECK(update.score == Approx(initial.results[0].score));
    CHECK(update.value == note("keyboard review", 5));

    writer.put("other", note("gardening", 1));  // outside every window: nothing
    CHECK(subscriber->take_all<SearchUpdate>().empty());
}
