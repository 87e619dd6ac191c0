// Query engine benchmarks (issue targets in bench/README.md): one million
// records of about 100 bytes, single thread.
#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/msgpack/reader.hpp>
#include <topgun/msgpack/writer.hpp>
#include <topgun/query/index_set.hpp>
#include <topgun/query/query_engine.hpp>

#include <benchmark/benchmark.h>

#include "query_builders.hpp"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

using namespace topgun;
using topgun::testing::leaf;

namespace {

constexpr int kRecords = 1'000'000;
constexpr int kOwners = 100'000;  // ~10 records per owner
const char* const kStatuses[] = {"active", "archived", "draft", "deleted"};

// {id, owner, price, status, name, score}: ~100 bytes as MsgPack.
Value record(int i, std::mt19937& rng) {
    Value v = Value::map();
    v.set("id", Value(i));
    v.set("owner", Value("user-" + std::to_string(rng() % kOwners)));
    v.set("price", Value(static_cast<double>(rng() % 1'000'000) / 100.0));
    v.set("status", Value(kStatuses[rng() % 4]));
    v.set("name", Value("item-" + std::to_string(i) + "-description"));
    v.set("score", Value(static_cast<int>(rng() % 1000)));
    return v;
}

struct Dataset {
    HLC hlc{"bench"};
    LWWMap map{hlc};
    std::unique_ptr<query::IndexSet> indexes;

    // The records are decoded from their MsgPack, one after another, as a
    // server or a replica stores them: how values were built decides where
    // their pieces sit on the heap, and a scan's cost follows it (maps grown
    // member by member and stored as built scan ~50 % slower).
    explicit Dataset(bool with_indexes) {
        std::mt19937 rng(42);
        msgpack::Writer wire;
        std::vector<std::size_t> ends;
        ends.reserve(kRecords);
        for (int i = 0; i < kRecords; ++i) {
            wire.value(record(i, rng));
            ends.push_back(wire.size());
        }
        const std::span<const std::uint8_t> bytes = wire.bytes();
        std::size_t begin = 0;
        for (int i = 0; i < kRecords; ++i) {
            Value decoded;
            msgpack::Error error;
            if (!msgpack::decode(bytes.subspan(begin, ends[i] - begin), decoded, error)) std::abort();
            begin = ends[i];
            map.set("rec-" + std::to_string(i), std::move(decoded));
        }
        if (with_indexes) {
            indexes = std::make_unique<query::IndexSet>(map);
            indexes->add_hash("owner");
            indexes->add_ordered("price");
        }
    }
};

Dataset& indexed() {
    static Dataset d(true);
    return d;
}
Dataset& plain() {
    static Dataset d(false);
    return d;
}

// Indexed queries return their page by reference (execute_page); Arg(1)
// copies the rows out (execute), which costs more than the lookup itself.
template <class MakeQuery>
void run_indexed(benchmark::State& state, MakeQuery&& make_query) {
    Dataset& d = indexed();
    const bool copy_rows = state.range(0) != 0;
    std::size_t rows = 0;
    for (auto _ : state) {
        const protocol::Query q = make_query();
        const query::QueryOptions options{.indexes = d.indexes.get()};
        if (copy_rows) {
            const auto r = query::execute(d.map, q, options);
            rows += r.rows.size();
            benchmark::DoNotOptimize(r);
        } else {
            const auto page = query::execute_page(d.map, q, options);
            rows += page.rows.size();
            benchmark::DoNotOptimize(page);
        }
    }
    state.counters["rows/query"] = static_cast<double>(rows) / static_cast<double>(state.iterations());
    state.SetLabel(copy_rows ? "rows copied" : "rows by reference");
}

void BM_QueryIndexedEquality(benchmark::State& state) {
    std::mt19937 rng(1);
    run_indexed(state, [&] {
        protocol::Query q;
        q.where = protocol::StringMap<Value>{{"owner", Value("user-" + std::to_string(rng() % kOwners))}};
        return q;
    });
}
BENCHMARK(BM_QueryIndexedEquality)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_QueryOrderedRange100Sorted(benchmark::State& state) {
    std::mt19937 rng(2);
    run_indexed(state, [&] {
        const double low = static_cast<double>(rng() % 9000);
        protocol::Query q;
        q.predicate = leaf("between", "price", Value(Value::Array{Value(low), Value(low + 500)}));
        q.sort = protocol::Sort{{protocol::SortField{"price", protocol::SortDirection::Asc}}};
        q.limit = 100;
        return q;
    });
}
BENCHMARK(BM_QueryOrderedRange100Sorted)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_QueryFullScan3Clauses(benchmark::State& state) {
    Dataset& d = plain();
    protocol::Query q;
    q.predicate = protocol::PredicateNode{
        .op = "and",
        .children = std::vector<protocol::PredicateNode>{leaf("gt", "price", Value(5000)),
                                                         leaf("eq", "status", Value("active")),
                                                         leaf("startsWith", "name", Value("item-1"))}};
    std::size_t rows = 0;
    for (auto _ : state) {
        const auto page = query::execute_page(d.map, q, {.max_records = kRecords});
        rows = page.rows.size();
        benchmark::DoNotOptimize(page);
    }
    state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_QueryFullScan3Clauses)->Unit(benchmark::kMillisecond);

void BM_QueryGroupBy3Aggregates(benchmark::State& state) {
    Dataset& d = plain();
    using F = protocol::AggregateFunction;
    protocol::Query q;
    q.group_by = std::vector<std::string>{"status"};
    q.aggregations = std::vector<protocol::Aggregation>{{F::Sum, "price"}, {F::Avg, "score"}, {F::Max, "price"}};
    for (auto _ : state) {
        const auto page = query::execute_page(d.map, q);
        benchmark::DoNotOptimize(page);
    }
}
BENCHMARK(BM_QueryGroupBy3Aggregates)->Unit(benchmark::kMillisecond);

// What a hash and an ordered index add to each write.
void BM_IndexMaintenancePerWrite(benchmark::State& state) {
    const bool with_indexes = state.range(0) != 0;
    Dataset& d = with_indexes ? indexed() : plain();
    std::mt19937 rng(3);
    for (auto _ : state) {
        const int i = static_cast<int>(rng() % kRecords);
        d.map.set("rec-" + std::to_string(i), record(i, rng));
    }
    state.SetLabel(with_indexes ? "hash(owner) + ordered(price)" : "no indexes");
}
BENCHMARK(BM_IndexMaintenancePerWrite)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
