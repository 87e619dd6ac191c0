// Full-text search benchmarks (single thread): indexing rate, top-10 query
// latency percentiles, memory per document and live-search fan-out, over a
// synthetic corpus of 100k documents of 40-60 words drawn from a Zipf(1)
// vocabulary of 50k words (as natural text is). Targets: index ≥ 50k docs/s;
// top-10 two-word queries p50 < 1 ms, p99 < 5 ms; memory and live search
// reported. Latency percentiles are computed here over the individual queries
// (wall clock and this thread's CPU time, which a shared machine disturbs
// less). Run with
//   ./build/release/bench/topgun-bench-search
#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/search/bm25.hpp>
#include <topgun/search/live_search.hpp>
#include <topgun/search/map_index.hpp>

#include <benchmark/benchmark.h>
#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace topgun;

namespace {

constexpr std::size_t kDocs = 100'000;
constexpr std::size_t kWordsPerDoc = 50;
constexpr std::size_t kVocabulary = 50'000;

// Distinct pronounceable words of 3..10 letters; rank 0 is the most frequent.
std::vector<std::string> make_vocabulary() {
    static constexpr char consonants[] = "bcdfghjklmnprstvwz";
    static constexpr char vowels[] = "aeiou";
    std::mt19937_64 rng(7);
    std::vector<std::string> words;
    std::vector<std::string> seen;
    words.reserve(kVocabulary);
    while (words.size() < kVocabulary) {
        const std::size_t length = 3 + rng() % 8;
        std::string w;
        for (std::size_t i = 0; i < length; ++i) {
            w += i % 2 == 0 ? consonants[rng() % (sizeof(consonants) - 1)] : vowels[rng() % (sizeof(vowels) - 1)];
        }
        words.push_back(std::move(w));
    }
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    std::shuffle(words.begin(), words.end(), rng);
    while (words.size() < kVocabulary) words.push_back("extra" + std::to_string(words.size()));
    return words;
}

// Samples word ranks with P(rank r) ∝ 1 / (r + 1).
class Zipf {
public:
    explicit Zipf(std::size_t n) : cdf_(n) {
        double total = 0;
        for (std::size_t r = 0; r < n; ++r) cdf_[r] = total += 1.0 / static_cast<double>(r + 1);
        for (double& c : cdf_) c /= total;
    }
    template <class Rng>
    std::size_t operator()(Rng& rng) const {
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        return static_cast<std::size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
    }

private:
    std::vector<double> cdf_;
};

struct Corpus {
    std::vector<std::string> vocabulary = make_vocabulary();
    Zipf zipf{kVocabulary};
    std::vector<std::string> keys;
    std::vector<std::string> texts;

    Corpus() {
        std::mt19937_64 rng(11);
        keys.reserve(kDocs);
        texts.reserve(kDocs);
        for (std::size_t d = 0; d < kDocs; ++d) {
            keys.push_back("doc:" + std::to_string(d));
            texts.push_back(random_text(rng, kWordsPerDoc - 10 + rng() % 21));  // 40..60 words
        }
    }

    template <class Rng>
    std::string random_text(Rng& rng, std::size_t words) const {
        std::string text;
        for (std::size_t i = 0; i < words; ++i) {
            if (i) text += ' ';
            text += vocabulary[zipf(rng)];
        }
        return text;
    }
};

const Corpus& corpus() {
    static const Corpus c;
    return c;
}

void index_corpus(search::Bm25Index& index) {
    const Corpus& c = corpus();
    for (std::size_t d = 0; d < kDocs; ++d) index.add_or_update(c.keys[d], c.texts[d]);
}

const search::Bm25Index& shared_index() {
    static const std::unique_ptr<search::Bm25Index> index = [] {
        auto i = std::make_unique<search::Bm25Index>();
        index_corpus(*i);
        return i;
    }();
    return *index;
}

// This thread's CPU time: on a shared machine wall-clock latencies include
// time spent descheduled, so percentiles are reported both ways.
double thread_cpu_us() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[at];
}

void BM_Index100kDocs(benchmark::State& state) {
    corpus();
    for (auto _ : state) {
        search::Bm25Index index;
        index_corpus(index);
        benchmark::DoNotOptimize(index.term_count());
        state.PauseTiming();
        { search::Bm25Index gone = std::move(index); }  // freeing is not indexing
        state.ResumeTiming();
    }
    state.counters["docs_per_s"] =
        benchmark::Counter(static_cast<double>(kDocs * state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Index100kDocs)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_IndexMemoryPerDoc(benchmark::State& state) {
    corpus();
    for (auto _ : state) {
        const std::size_t before = mallinfo2().uordblks;
        auto index = std::make_unique<search::Bm25Index>();
        index_corpus(*index);
        const std::size_t after = mallinfo2().uordblks;
        state.counters["bytes_per_doc"] = static_cast<double>(after - before) / static_cast<double>(kDocs);
        state.counters["terms"] = static_cast<double>(index->term_count());
        state.PauseTiming();
        index.reset();
        state.ResumeTiming();
    }
}
BENCHMARK(BM_IndexMemoryPerDoc)->Unit(benchmark::kMillisecond)->Iterations(1);

// Top-10 over the 100k documents for random two-word queries. Zipf: words drawn
// as the documents draw them (so common words come up often, the hard case);
// Uniform: words drawn uniformly from the vocabulary (mostly rare words).
template <bool ZipfWords>
void BM_Top10TwoTermQuery(benchmark::State& state) {
    const Corpus& c = corpus();
    const search::Bm25Index& index = shared_index();
    std::mt19937_64 rng(ZipfWords ? 3 : 5);
    std::vector<std::string> queries;
    for (std::size_t i = 0; i < 4096; ++i) {
        const auto pick = [&] { return ZipfWords ? c.zipf(rng) : static_cast<std::size_t>(rng() % kVocabulary); };
        queries.push_back(c.vocabulary[pick()] + " " + c.vocabulary[pick()]);
    }
    std::vector<double> wall;
    std::vector<double> cpu;
    std::size_t next = 0;
    std::size_t hits = 0;
    std::vector<search::SearchResult> results;  // outside the loop: g++ 12 misreads its lifetime (-Wuse-after-free)
    for (auto _ : state) {
        const auto start = std::chrono::steady_clock::now();
        const double cpu_start = thread_cpu_us();
        results = index.search(queries[next]);
        cpu.push_back(thread_cpu_us() - cpu_start);
        wall.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
        hits += results.size();
        next = (next + 1) % queries.size();
    }
    state.counters["p50_us"] = percentile(wall, 0.50);
    state.counters["p99_us"] = percentile(wall, 0.99);
    state.counters["cpu_p50_us"] = percentile(cpu, 0.50);
    state.counters["cpu_p99_us"] = percentile(cpu, 0.99);
    state.counters["hits"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK_TEMPLATE(BM_Top10TwoTermQuery, true)->Name("BM_Top10TwoTermQuery/zipf")->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_Top10TwoTermQuery, false)->Name("BM_Top10TwoTermQuery/uniform")->Unit(benchmark::kMicrosecond);

// One word with a typo (a letter replaced), fuzzy 1 and 2, and a 3-letter
// prefix: fuzzy matching scans the whole 50k-term dictionary (with a length
// filter and a banded edit distance), prefix matching a dictionary range.
void BM_FuzzyAndPrefixQuery(benchmark::State& state) {
    const Corpus& c = corpus();
    const search::Bm25Index& index = shared_index();
    const auto mode = state.range(0);  // 1, 2: fuzzy edits; 0: prefix
    std::mt19937_64 rng(9);
    std::vector<std::string> queries;
    for (std::size_t i = 0; i < 1024; ++i) {
        std::string w = c.vocabulary[c.zipf(rng)];
        if (mode == 0) {
            w.resize(std::min<std::size_t>(w.size(), 3));
        } else {
            w[rng() % w.size()] = static_cast<char>('a' + rng() % 26);
        }
        queries.push_back(w);
    }
    search::SearchOptions options;
    options.fuzzy = static_cast<std::size_t>(mode);
    options.prefix = mode == 0;
    std::vector<double> cpu;
    std::vector<search::SearchResult> results;
    std::size_t next = 0;
    for (auto _ : state) {
        const double start = thread_cpu_us();
        results = index.search(queries[next], options);
        cpu.push_back(thread_cpu_us() - start);
        next = (next + 1) % queries.size();
    }
    state.counters["cpu_p50_us"] = percentile(cpu, 0.50);
    state.counters["cpu_p99_us"] = percentile(cpu, 0.99);
}
BENCHMARK(BM_FuzzyAndPrefixQuery)->ArgName("fuzzy")->Arg(1)->Arg(2)->Arg(0)->Unit(benchmark::kMicrosecond);

// One record of a 100k-record map rewritten with new text (as a client's
// write would), with 100 live top-10 subscriptions of random two-word Zipf
// queries on the map's index: the index update plus every subscription's work.
void BM_LiveSearchOneChange100Subscriptions(benchmark::State& state) {
    const Corpus& c = corpus();
    HLC hlc("bench");
    LWWMap map(hlc);
    for (std::size_t d = 0; d < kDocs; ++d) map.set(c.keys[d], Value(c.texts[d]));
    search::MapSearchIndex index(map);
    search::LiveSearch live(index);
    std::mt19937_64 rng(17);
    std::size_t events = 0;
    for (int i = 0; i < 100; ++i) {
        const std::string query = c.vocabulary[c.zipf(rng)] + " " + c.vocabulary[c.zipf(rng)];
        live.subscribe(query, {}, [&](const search::SearchEvent&) { ++events; });
    }
    std::vector<std::pair<std::size_t, std::string>> writes;
    for (std::size_t i = 0; i < 2048; ++i) writes.emplace_back(rng() % kDocs, c.random_text(rng, 40 + rng() % 21));
    const search::LiveSearchStats before = live.stats();
    std::vector<double> wall;
    std::size_t next = 0;
    for (auto _ : state) {
        const auto& [doc, text] = writes[next];
        const auto start = std::chrono::steady_clock::now();
        map.set(c.keys[doc], Value(text));
        wall.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
        next = (next + 1) % writes.size();
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["p50_us"] = percentile(wall, 0.50);
    state.counters["p99_us"] = percentile(wall, 0.99);
    state.counters["searches_per_change"] = static_cast<double>(live.stats().searches - before.searches) / n;
    state.counters["drift_searches_per_change"] =
        static_cast<double>(live.stats().drift_searches - before.drift_searches) / n;
    state.counters["events_per_change"] = static_cast<double>(events) / n;
    state.counters["in_place_per_change"] = static_cast<double>(live.stats().in_place - before.in_place) / n;
}
BENCHMARK(BM_LiveSearchOneChange100Subscriptions)->Unit(benchmark::kMicrosecond);

// The index update alone, for comparison: the same writes without subscriptions.
void BM_MapIndexOneChange(benchmark::State& state) {
    const Corpus& c = corpus();
    HLC hlc("bench");
    LWWMap map(hlc);
    for (std::size_t d = 0; d < kDocs; ++d) map.set(c.keys[d], Value(c.texts[d]));
    search::MapSearchIndex index(map);
    std::mt19937_64 rng(17);
    std::vector<std::pair<std::size_t, std::string>> writes;
    for (std::size_t i = 0; i < 2048; ++i) writes.emplace_back(rng() % kDocs, c.random_text(rng, 40 + rng() % 21));
    std::size_t next = 0;
    for (auto _ : state) {
        const auto& [doc, text] = writes[next];
        map.set(c.keys[doc], Value(text));
        next = (next + 1) % writes.size();
    }
}
BENCHMARK(BM_MapIndexOneChange)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
