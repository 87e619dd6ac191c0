// Server-side steps of a QUERY_SUB snapshot, in one process and one thread,
// so each step can be timed (bench/query-load.sh measures the whole round trip
// through a running server and its client):
//   shards   each of two shards builds its window over its half of the map
//            (in the server they run in parallel, on their own workers);
//   home     the subscriber's merge stage fills its mirror with both shards'
//            rows and builds the client's window and page;
//   encode   the QUERY_RESP frame.
// 10k records of {owner, n, body}, as topgun-bench --owners 10 --group-queries
// writes them, and the query with no filter (every row). The server runs on
// jemalloc; preload it for the same allocator (with glibc malloc, page faults
// of the fresh 1.2 MB frame alone add ~1.5 ms):
//   LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ./build/release/bench/topgun-bench-server
//
// Measured 2026-12-07 on the project's 2-core VM, jemalloc: 11.4 ms per
// snapshot, of which shards 3.7 ms, home 5.4 - 5.5 ms, encode 0.6 ms (the rest
// frees the subscription and the frame).
#include "service/access_policy.hpp"
#include "service/crdt_service.hpp"
#include "service/shard_queries.hpp"
#include "session/query_subscription.hpp"

#include <topgun/protocol/codec.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace {

using namespace topgun;
using Clock = std::chrono::steady_clock;

double millis(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// Record i of the benchmarks' maps: {owner: u<i % 10>, n: i % 100, body: 80 bytes}.
Value bench_record(int i) {
    static const std::string body(80, 'x');
    Value v = Value::map();
    v.set("owner", Value("u" + std::to_string(i % 10)));
    v.set("n", Value(static_cast<std::int64_t>(i % 100)));
    v.set("body", Value(body));
    return v;
}

void BM_QuerySubSnapshot10k(benchmark::State& state) {
    constexpr int kRecords = 10'000;
    HLC clock0("shard-0"), clock1("shard-1");
    LWWMap part0(clock0), part1(clock1);
    for (int i = 0; i < kRecords; ++i) (i % 2 == 0 ? part0 : part1).set("k" + std::to_string(i), bench_record(i));
    server::ShardQueries shard0, shard1;
    double shards = 0, home = 0, encode = 0;
    std::size_t bytes = 0;
    std::uint64_t subscription = 0;
    for (auto _ : state) {
        const protocol::Query query;
        const auto start = Clock::now();
        server::QuerySubscription sub("q", query, std::nullopt, 2, [](protocol::QueryUpdate) {});
        ++subscription;
        auto rows0 =
            shard0.add(part0, "m", sub.shard_query(), sub.shard_options(std::nullopt), {1, 0, subscription}, nullptr);
        auto rows1 =
            shard1.add(part1, "m", sub.shard_query(), sub.shard_options(std::nullopt), {1, 0, subscription}, nullptr);
        const auto shards_done = Clock::now();
        sub.on_shard_rows(0, std::move(rows0.initial.rows));
        const std::optional<protocol::QueryResp> resp = sub.on_shard_rows(1, std::move(rows1.initial.rows));
        const auto home_done = Clock::now();
        if (!resp || resp->results.size() != kRecords) {
            state.SkipWithError("the snapshot lost rows");
            break;
        }
        const Bytes frame = protocol::encode_message(*resp);
        const auto encoded = Clock::now();
        bytes = frame.size();
        shards += millis(start, shards_done);
        home += millis(shards_done, home_done);
        encode += millis(home_done, encoded);
        state.PauseTiming();
        shard0.remove(subscription);
        shard1.remove(subscription);
        state.ResumeTiming();
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["shards_ms"] = shards / n;
    state.counters["home_ms"] = home / n;
    state.counters["encode_ms"] = encode / n;
    state.counters["frame_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_QuerySubSnapshot10k)->Unit(benchmark::kMillisecond);

// A shard's first rows for a selective live query (n == 7: 1 % of 500k
// records): the core registry scanning the map itself (0), against the
// shard's DAG plan (ShardQueries::add, query::for_each_match) scanning with
// prefetch (1) or reading a hash index's candidates (2). Measured 2026-12-07,
// jemalloc, medians of 3: 21.9 ms, 18.9 ms, 3.1 ms.
void BM_ShardFirstRows500k(benchmark::State& state) {
    constexpr int kRecords = 500'000;
    HLC clock("shard");
    LWWMap map(clock);
    for (int i = 0; i < kRecords; ++i) map.set("k" + std::to_string(i), bench_record(i));
    query::IndexSet indexes(map);
    if (state.range(0) == 2) indexes.add_hash("n");
    protocol::Query query;
    query.predicate = protocol::PredicateNode{.op = "eq", .attribute = "n", .value = Value(std::int64_t{7})};
    query::LiveQueryRegistry registry(map, [](std::span<const query::LiveQueryEvent>) {});
    server::ShardQueries shard;
    std::uint64_t subscription = 0;
    std::size_t rows = 0;
    for (auto _ : state) {
        if (state.range(0) == 0) {
            const query::LiveQueryAdded added = registry.add(query);
            rows = added.initial.rows.size();
            state.PauseTiming();
            registry.remove(added.id);
        } else {
            ++subscription;
            const query::LiveQueryAdded added =
                shard.add(map, "m", query, {}, {1, 0, subscription}, state.range(0) == 2 ? &indexes : nullptr);
            rows = added.initial.rows.size();
            state.PauseTiming();
            shard.remove(subscription);
        }
        if (rows != kRecords / 100) state.SkipWithError("wrong rows");
        state.ResumeTiming();
    }
}
BENCHMARK(BM_ShardFirstRows500k)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// One OP_BATCH of 10 LWW puts ({owner, body} values, as topgun-bench writes
// them) applied on a shard of 100k records: without a map holder (0), and
// with one, whose SERVER_BATCH_EVENT frame the write then builds (1). The
// difference is what the write path pays per batch for the holder's events
// (the copies of the batch's ops into it included in both). Measured
// 2026-12-08, jemalloc, random interleaving: 10.6 - 11.3 us and 12.3 - 13.0 us.
void BM_ApplyBatch10(benchmark::State& state) {
    constexpr int kKeys = 100'000;
    server::OrTagRegistry or_tags;
    server::ShardState shard("bench", {}, or_tags);
    const server::PolicyStore policies({});
    HLC writer("writer");
    const std::string body(80, 'x');
    auto op = [&](int i) {
        Value v = Value::map();
        v.set("owner", Value("u" + std::to_string(i % 1000)));
        v.set("body", Value(body));
        protocol::ClientOp o;
        o.id = std::to_string(i);
        o.map_name = "items";
        o.key = "k" + std::to_string(i % kKeys);
        o.record = protocol::LWWRecordData{std::move(v), writer.now(), {}};
        return o;
    };
    {
        std::vector<protocol::ClientOp> fill;
        for (int i = 0; i < kKeys; ++i) fill.push_back(op(i));
        server::WriteOutcome out;
        out.collect_events = out.collect_mutations = false;
        out.policies = &policies;
        server::apply_ops(shard, fill, out);
    }
    std::vector<std::vector<protocol::ClientOp>> batches(1000);
    int next = 0;
    for (auto& b : batches) {
        for (int i = 0; i < 10; ++i) b.push_back(op(next++ * 7919));
    }
    std::size_t frame_bytes = 0;
    std::size_t round = 0;
    for (auto _ : state) {
        std::vector<protocol::ClientOp> ops = batches[round++ % batches.size()];
        for (protocol::ClientOp& o : ops) o.record.value.timestamp = writer.now();  // newer: it applies
        server::WriteOutcome out;
        out.collect_events = state.range(0) == 1;
        out.collect_mutations = false;
        out.policies = &policies;
        server::apply_ops(shard, ops, out);
        if (out.collect_events) {
            if (out.events.size() != 1) state.SkipWithError("the batch's events are not in one frame");
            frame_bytes = out.events.front().batch.frame().size();
        }
        benchmark::DoNotOptimize(out);
    }
    state.counters["frame_bytes"] = static_cast<double>(frame_bytes);
}
BENCHMARK(BM_ApplyBatch10)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
