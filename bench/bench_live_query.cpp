// Live query benchmarks: the cost of one map write with 1,000 standing
// queries attached to a map of 100,000 records, events included.
//
//   BM_MapSetNoQueries            the same writes with no registry (baseline)
//   BM_LiveQueries1000PerWrite    950 `owner == "u<i>"` top-10 by score desc,
//                                 40 score ranges top-20, 10 unbounded owner
//                                 queries; target ≤ 10 µs per write
//   BM_LiveQueries1000Ranges      1,000 score ranges top-10: no equality clause,
//                                 filed in the reverse index's interval index
//   BM_LiveQueries1000Unindexable 1,000 `name startsWith "item-<i>"` top-10: the
//                                 reverse index cannot help, every write
//                                 evaluates every predicate (worst case)
//   BM_LiveQueryAddRemove         subscribe (initial page) + unsubscribe
//   BM_LiveTextQueriesPerWrite    a write to a 10,000-document map with a
//                                 search index: Arg(0) 100 `match` top-10
//                                 queries (decided per document), Arg(1) 10
//                                 with a minScore (they search again and
//                                 re-check their matches on every write)
#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/query/live_query.hpp>
#include <topgun/search/map_index.hpp>

#include <benchmark/benchmark.h>

#include "query_builders.hpp"

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

using namespace topgun;
using topgun::testing::leaf;

namespace {

constexpr int kRecords = 100'000;
constexpr int kOwners = 1000;  // ~100 records per owner
constexpr int kScores = 1'000'000;
const char* const kStatuses[] = {"active", "archived", "draft", "deleted"};

Value record(std::mt19937& rng) {
    Value v = Value::map();
    v.set("owner", Value("u" + std::to_string(rng() % kOwners)));
    v.set("score", Value(static_cast<int>(rng() % kScores)));
    v.set("status", Value(kStatuses[rng() % 4]));
    v.set("name", Value("item-" + std::to_string(rng() % 100000)));
    return v;
}

protocol::Sort by_score(protocol::SortDirection direction) {
    protocol::Sort s;
    s.keys.push_back(protocol::SortField{"score", direction});
    return s;
}

protocol::Query owner_query(int owner, std::optional<std::uint32_t> limit) {
    protocol::Query q;
    q.predicate = leaf("eq", "owner", Value("u" + std::to_string(owner)));
    if (limit) {
        q.sort = by_score(protocol::SortDirection::Desc);
        q.limit = limit;
    }
    return q;
}

protocol::Query range_query(int low, int width, std::uint32_t limit) {
    protocol::Query q;
    q.predicate = leaf("between", "score", Value(Value::Array{Value(low), Value(low + width)}));
    q.sort = by_score(protocol::SortDirection::Asc);
    q.limit = limit;
    return q;
}

// A map, its standing queries, and a pool of writes to replay.
struct Setup {
    HLC hlc{"bench"};
    LWWMap map{hlc};
    std::unique_ptr<query::LiveQueryRegistry> live;
    std::size_t events = 0;
    std::vector<std::string> keys;
    std::vector<Value> writes;

    explicit Setup(int which) {
        std::mt19937 rng(42);
        for (int i = 0; i < kRecords; ++i) map.set("rec-" + std::to_string(i), record(rng));
        if (which > 0) {
            live = std::make_unique<query::LiveQueryRegistry>(
                map, [this](std::span<const query::LiveQueryEvent> e) { events += e.size(); });
        }
        if (which == 1) {
            for (int i = 0; i < 950; ++i) live->add(owner_query(i, 10));
            for (int i = 0; i < 40; ++i) live->add(range_query(i * 25'000, 5'000, 20));
            for (int i = 950; i < 960; ++i) live->add(owner_query(i, std::nullopt));
        } else if (which == 2) {
            for (int i = 0; i < 1000; ++i) live->add(range_query(i * 1'000, 500, 10));
        } else if (which == 3) {
            for (int i = 0; i < 1000; ++i) {
                protocol::Query q;
                q.predicate = leaf("startsWith", "name", Value("item-" + std::to_string(i)));
                q.sort = by_score(protocol::SortDirection::Desc);
                q.limit = 10;
                live->add(q);
            }
        }
        for (int i = 0; i < 8192; ++i) {
            keys.push_back("rec-" + std::to_string(rng() % kRecords));
            writes.push_back(record(rng));
        }
    }
};

Setup& setup(int which) {
    static std::unique_ptr<Setup> setups[4];
    if (!setups[which]) setups[which] = std::make_unique<Setup>(which);
    return *setups[which];
}

void run_writes(benchmark::State& state, int which) {
    Setup& s = setup(which);
    static std::size_t next[4] = {0, 0, 0, 0};  // where the previous run stopped
    const std::size_t events_before = s.events;
    const auto candidates_before = s.live ? s.live->stats().candidates : 0;
    std::size_t i = next[which];
    for (auto _ : state) {
        // Each pass over the pool pairs the keys with other values, so a
        // write never repeats the record's current value.
        const std::size_t w = i & 8191;
        s.map.set(s.keys[w], s.writes[(w + (i >> 13) + 1) & 8191]);
        ++i;
    }
    next[which] = i;
    const auto writes = static_cast<double>(state.iterations());
    state.counters["events/write"] = static_cast<double>(s.events - events_before) / writes;
    if (s.live) {
        state.counters["queries examined/write"] =
            static_cast<double>(s.live->stats().candidates - candidates_before) / writes;
        state.counters["check-always queries"] = static_cast<double>(s.live->checked_always());
    }
}

void BM_MapSetNoQueries(benchmark::State& state) { run_writes(state, 0); }
void BM_LiveQueries1000PerWrite(benchmark::State& state) { run_writes(state, 1); }
void BM_LiveQueries1000Ranges(benchmark::State& state) { run_writes(state, 2); }
void BM_LiveQueries1000Unindexable(benchmark::State& state) { run_writes(state, 3); }

// Subscribing scans the map once (the initial page); unsubscribing is cheap.
void BM_LiveQueryAddRemove(benchmark::State& state) {
    Setup& s = setup(1);
    int owner = 0;
    for (auto _ : state) {
        const auto added = s.live->add(owner_query(owner++ % kOwners, 10));
        benchmark::DoNotOptimize(added.initial.rows.data());
        s.live->remove(added.id);
    }
}

// Full-text live queries: documents of 8 words drawn from 200.
struct TextSetup {
    HLC hlc{"bench"};
    LWWMap map{hlc};
    search::MapSearchIndex body{map, std::vector<search::IndexedField>{{"body", 1.0}}};
    std::vector<std::string> keys;
    std::vector<Value> writes;
    std::unique_ptr<query::LiveQueryRegistry> live;
    std::size_t events = 0;

    static std::string word(std::size_t i) { return "w" + std::to_string(i); }
    static Value document(std::mt19937& rng) {
        std::string text;
        for (int w = 0; w < 8; ++w) text += (w ? " " : "") + word(rng() % 200);
        Value v = Value::map();
        v.set("body", Value(text));
        v.set("score", Value(static_cast<int>(rng() % 1000)));
        return v;
    }

    explicit TextSetup(bool min_score) {
        std::mt19937 rng(11);
        for (int i = 0; i < 10'000; ++i) {
            keys.push_back("doc-" + std::to_string(i));
            map.set(keys.back(), document(rng));
        }
        for (int i = 0; i < 8192; ++i) writes.push_back(document(rng));
        live = std::make_unique<query::LiveQueryRegistry>(
            map, [this](std::span<const query::LiveQueryEvent> e) { events += e.size(); });
        live->use_text_indexes([this](std::string_view) { return &body.index(); });
        for (int q = 0; q < (min_score ? 10 : 100); ++q) {
            protocol::PredicateNode match = testing::text_leaf("match", "body", word(static_cast<std::size_t>(q)));
            if (min_score) match.match_options = testing::obj({{"minScore", Value(2.0)}});
            protocol::Query query;
            query.predicate = match;
            query.sort = by_score(protocol::SortDirection::Desc);
            query.limit = 10;
            if (live->add(query).id == 0) std::abort();
        }
    }
};

void BM_LiveTextQueriesPerWrite(benchmark::State& state) {
    static TextSetup per_document(false);
    static TextSetup corpus(true);
    TextSetup& s = state.range(0) == 0 ? per_document : corpus;
    const std::size_t events_before = s.events;
    std::size_t i = 0;
    for (auto _ : state) {
        const std::size_t w = i & 8191;
        s.map.set(s.keys[w % s.keys.size()], s.writes[(w + (i >> 13) + 1) & 8191]);
        ++i;
    }
    state.counters["events/write"] =
        static_cast<double>(s.events - events_before) / static_cast<double>(state.iterations());
    state.SetLabel(state.range(0) == 0 ? "100 match queries" : "10 match queries with minScore");
}

}  // namespace

BENCHMARK(BM_MapSetNoQueries)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LiveQueries1000PerWrite)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LiveQueries1000Ranges)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LiveQueries1000Unindexable)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LiveQueryAddRemove)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LiveTextQueriesPerWrite)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
