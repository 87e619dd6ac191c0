// DAG executor benchmarks (single thread). Target: a 4-stage pipeline moves
// >= 10 M items/s over 1M items in a Release build. Each iteration builds the
// graph and runs it to the end, so building is included. Run with
//   ./build/release/bench/topgun-bench-dag
#include <topgun/dag/executor.hpp>
#include <topgun/dag/graph.hpp>
#include <topgun/dag/processors.hpp>
#include <topgun/value.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace topgun;

namespace {

constexpr std::int64_t kItems = 1'000'000;

// source of 1M ints -> map -> filter -> sink; arg: queue capacity.
void BM_DagPipeline4Stage1M(benchmark::State& state) {
    const auto capacity = static_cast<std::size_t>(state.range(0));
    std::int64_t checksum = 0;
    for (auto _ : state) {
        dag::Graph<std::int64_t> g;
        std::int64_t next = 0;
        auto src = g.add("numbers", dag::from_generator<std::int64_t>([&next]() -> std::optional<std::int64_t> {
            if (next == kItems) return std::nullopt;
            return next++;
        }));
        auto map = g.add("map", dag::map<std::int64_t>([](std::int64_t x) { return 3 * x + 1; }));
        auto filter = g.add("filter", dag::filter<std::int64_t>([](const std::int64_t& x) { return x % 4 != 0; }));
        std::int64_t sum = 0;
        auto sink = g.add("sink", dag::for_each<std::int64_t>([&sum](std::int64_t x) { sum += x; }));
        g.connect(src, map, capacity);
        g.connect(map, filter, capacity);
        g.connect(filter, sink, capacity);
        dag::Executor<std::int64_t> exec(std::move(g), {.batch = capacity});
        if (exec.run() != dag::Status::Done) state.SkipWithError("pipeline did not finish");
        checksum += sum;
    }
    benchmark::DoNotOptimize(checksum);
    state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_DagPipeline4Stage1M)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond);

// The same shape over scan rows: a key view and a pointer to a stored value.
struct Row {
    std::string_view key;
    const Value* value = nullptr;
};

void BM_DagPipeline4Stage1MRows(benchmark::State& state) {
    const auto capacity = static_cast<std::size_t>(state.range(0));
    std::vector<std::string> keys;
    std::vector<Value> values;
    keys.reserve(kItems);
    values.reserve(kItems);
    for (std::int64_t i = 0; i < kItems; ++i) {
        keys.push_back("user:" + std::to_string(i));
        values.emplace_back(i);
    }
    std::size_t checksum = 0;
    for (auto _ : state) {
        dag::Graph<Row> g;
        std::size_t next = 0;
        auto scan = g.add("scan", dag::from_generator<Row>([&]() -> std::optional<Row> {
            if (next == keys.size()) return std::nullopt;
            const std::size_t i = next++;
            return Row{keys[i], &values[i]};
        }));
        auto where = g.add("where", dag::filter<Row>([](const Row& r) {
            return r.value->is_integer() && r.value->as_int() % 2 == 0;
        }));
        auto project = g.add("project", dag::map<Row>([](Row r) {
            r.key.remove_prefix(5);  // drop "user:"
            return r;
        }));
        std::size_t bytes = 0;
        auto sink = g.add("sink", dag::for_each<Row>([&bytes](Row r) { bytes += r.key.size(); }));
        g.connect(scan, where, capacity);
        g.connect(where, project, capacity);
        g.connect(project, sink, capacity);
        dag::Executor<Row> exec(std::move(g), {.batch = capacity});
        if (exec.run() != dag::Status::Done) state.SkipWithError("pipeline did not finish");
        checksum += bytes;
    }
    benchmark::DoNotOptimize(checksum);
    state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_DagPipeline4Stage1MRows)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond);

// Scatter/gather: 8 partition sources of 125K ints -> per-source filter ->
// merge -> sink; 1M items in all.
void BM_DagScatterGather8x125K(benchmark::State& state) {
    constexpr int kSources = 8;
    std::int64_t checksum = 0;
    for (auto _ : state) {
        dag::Graph<std::int64_t> g;
        std::vector<std::int64_t> next(kSources, 0);
        auto merge = g.add("merge", dag::merge<std::int64_t>());
        std::int64_t sum = 0;
        auto sink = g.add("sink", dag::for_each<std::int64_t>([&sum](std::int64_t x) { sum += x; }));
        g.connect(merge, sink);
        for (int s = 0; s < kSources; ++s) {
            std::int64_t* cursor = &next[static_cast<std::size_t>(s)];
            auto src = g.add("partition", dag::from_generator<std::int64_t>([cursor]() -> std::optional<std::int64_t> {
                if (*cursor == kItems / kSources) return std::nullopt;
                return (*cursor)++;
            }));
            auto partial =
                g.add("partial", dag::filter<std::int64_t>([](const std::int64_t& x) { return x % 3 != 0; }));
            g.connect(src, partial);
            g.connect(partial, merge);
        }
        dag::Executor<std::int64_t> exec(std::move(g));
        if (exec.run() != dag::Status::Done) state.SkipWithError("graph did not finish");
        checksum += sum;
    }
    benchmark::DoNotOptimize(checksum);
    state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_DagScatterGather8x125K)->Unit(benchmark::kMillisecond);

// Baseline: the 4-stage int pipeline as one plain loop, no graph.
void BM_DirectLoop1M(benchmark::State& state) {
    std::int64_t checksum = 0;
    for (auto _ : state) {
        std::int64_t sum = 0;
        for (std::int64_t i = 0; i < kItems; ++i) {
            const std::int64_t x = 3 * i + 1;
            if (x % 4 != 0) sum += x;
        }
        benchmark::DoNotOptimize(sum);
        checksum += sum;
    }
    benchmark::DoNotOptimize(checksum);
    state.SetItemsProcessed(state.iterations() * kItems);
}
BENCHMARK(BM_DirectLoop1M)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
