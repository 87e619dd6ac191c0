// Core benchmarks (single thread). Targets are in bench/README.md; run with
//   ./build/release/bench/topgun-bench-core
#include <topgun/topgun.hpp>

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace topgun;

namespace {

constexpr std::size_t kMillion = 1'000'000;

std::string key_of(std::size_t i) { return "user:" + std::to_string(i); }

// The realistic ~110-byte CLIENT_OP the reference client sends for one PUT.
protocol::ClientOpMessage sample_op() {
    Value value = Value::map();
    value.set("name", "Alice Liddell");
    value.set("age", 30);
    value.set("active", true);
    protocol::ClientOpMessage op;
    op.id = "1042";
    op.map_name = "users";
    op.key = "user:123456";
    op.op_type = protocol::OpType::Put;
    op.record = protocol::LWWRecordData{std::move(value), Timestamp{1700000000000, 3, "4f6c-node-a"}, {}};
    return op;
}

void BM_LwwMergeInto1MKeyMap(benchmark::State& state) {
    HLC clock("bench");
    LWWMap map(clock);
    for (std::size_t i = 0; i < kMillion; ++i) {
        map.merge(key_of(i), LWWRecord{Value(static_cast<std::int64_t>(i)), Timestamp{1000, 0, "seed"}, std::nullopt});
    }
    // Newer remote records for random keys, prepared outside the timed loop.
    std::mt19937_64 rng(1);
    std::vector<std::pair<std::string, LWWRecord>> remote;
    remote.reserve(kMillion);
    for (std::size_t i = 0; i < kMillion; ++i) {
        remote.emplace_back(key_of(rng() % kMillion),
                            LWWRecord{Value(static_cast<std::int64_t>(i)), Timestamp{2000 + i, 0, "peer"}, std::nullopt});
    }
    std::size_t next = 0;
    for (auto _ : state) {
        const auto& [key, record] = remote[next];
        benchmark::DoNotOptimize(map.merge(key, record));
        if (++next == remote.size()) {
            state.PauseTiming();
            for (auto& r : remote) r.second.timestamp.millis += kMillion;
            next = 0;
            state.ResumeTiming();
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LwwMergeInto1MKeyMap)->Unit(benchmark::kNanosecond);

void BM_OrMapAddRemove(benchmark::State& state) {
    HLC clock("bench");
    ORMap map(clock);
    std::size_t i = 0;
    for (auto _ : state) {
        const std::string key = key_of(i % 10'000);
        const Value v(static_cast<std::int64_t>(i));
        map.add(key, v);
        benchmark::DoNotOptimize(map.remove(key, v));
        ++i;
    }
    state.SetItemsProcessed(state.iterations() * 2);  // one add + one remove
}
BENCHMARK(BM_OrMapAddRemove);

// A keyed tree update: key lookup in the standalone tree plus the trie update.
void BM_MerkleIncrementalUpdate(benchmark::State& state) {
    merkle::MerkleTree tree;
    std::vector<std::string> keys;
    keys.reserve(kMillion);
    for (std::size_t i = 0; i < kMillion; ++i) {
        keys.push_back(key_of(i));
        tree.update(keys.back(), static_cast<std::uint32_t>(i));
    }
    std::mt19937 rng(2);
    std::uint32_t h = 0;
    for (auto _ : state) {
        tree.update(keys[rng() % kMillion], ++h);
    }
    benchmark::DoNotOptimize(tree.root_hash());
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MerkleIncrementalUpdate);

// The Merkle part of a change alone: what LWWMap::merge spends on its tree once
// it has found the record (old and new item hash known).
void BM_MerkleTrieUpdatePerChangedKey(benchmark::State& state) {
    merkle::HashTrie trie;
    std::vector<std::string> keys;
    std::vector<std::uint32_t> routes, items;
    keys.reserve(kMillion);
    for (std::size_t i = 0; i < kMillion; ++i) {
        keys.push_back(key_of(i));
        routes.push_back(fnv1a(keys.back()));
        items.push_back(static_cast<std::uint32_t>(i));
    }
    for (std::size_t i = 0; i < kMillion; ++i) trie.upsert(&keys[i], routes[i], std::nullopt, items[i]);
    std::mt19937 rng(3);
    for (auto _ : state) {
        const std::size_t i = rng() % kMillion;
        const std::uint32_t next = items[i] * 2654435761u + 1;
        trie.upsert(&keys[i], routes[i], items[i], next);
        items[i] = next;
    }
    benchmark::DoNotOptimize(trie.root_hash());
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MerkleTrieUpdatePerChangedKey);

void BM_MerkleFullBuild1M(benchmark::State& state) {
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < kMillion; ++i) keys.push_back(key_of(i));
    for (auto _ : state) {
        merkle::MerkleTree tree;
        tree.reserve(kMillion);
        for (std::size_t i = 0; i < kMillion; ++i) {
            tree.update(keys[i], merkle::lww_item_hash(keys[i], 1700000000000 + i, 0, "node-1"));
        }
        benchmark::DoNotOptimize(tree.root_hash());
    }
}
BENCHMARK(BM_MerkleFullBuild1M)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_DecodeClientOp(benchmark::State& state) {
    const Bytes frame = protocol::encode_message(sample_op());
    for (auto _ : state) {
        auto decoded = protocol::decode_message(frame);
        benchmark::DoNotOptimize(decoded);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["frame_bytes"] = static_cast<double>(frame.size());
}
BENCHMARK(BM_DecodeClientOp);

// The same op whose value is a scalar: isolates the cost of decoding the
// dynamic user value (three heap allocations for a small map).
void BM_DecodeClientOpScalarValue(benchmark::State& state) {
    auto op = sample_op();
    op.record.value.value = Value(30);
    const Bytes frame = protocol::encode_message(op);
    for (auto _ : state) {
        auto decoded = protocol::decode_message(frame);
        benchmark::DoNotOptimize(decoded);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["frame_bytes"] = static_cast<double>(frame.size());
}
BENCHMARK(BM_DecodeClientOpScalarValue);

void BM_EncodeClientOp(benchmark::State& state) {
    const protocol::Message op = sample_op();
    msgpack::Writer w(256);
    for (auto _ : state) {
        w.clear();
        protocol::encode_message(w, op);
        benchmark::DoNotOptimize(w.bytes().data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeClientOp);

// crdt-benchmarks B3.1 shape: 1,549 replicas each set one key (the same key),
// then every replica's record is merged into one.
void BM_B3_1_ConcurrentSetThenMerge(benchmark::State& state) {
    constexpr int kReplicas = 1549;
    for (auto _ : state) {
        std::vector<std::unique_ptr<HLC>> clocks;
        std::vector<LWWRecord> records;
        clocks.reserve(kReplicas);
        records.reserve(kReplicas);
        for (int i = 0; i < kReplicas; ++i) {
            clocks.push_back(std::make_unique<HLC>("r" + std::to_string(i)));
            LWWMap replica(*clocks.back());
            records.push_back(replica.set("v", Value(i)));
        }
        HLC target_clock("target");
        LWWMap target(target_clock);
        for (const auto& r : records) target.merge("v", r);
        benchmark::DoNotOptimize(target.get("v"));
    }
}
BENCHMARK(BM_B3_1_ConcurrentSetThenMerge)->Unit(benchmark::kMillisecond);

// Heap bytes per LWW entry beyond the key and value bytes themselves, at 1M entries.
void BM_LwwMemoryPerEntry(benchmark::State& state) {
    for (auto _ : state) {
        HLC clock("bench");
        const std::size_t before = mallinfo2().uordblks;
        std::size_t payload = 0;
        {
            LWWMap map(clock);
            for (std::size_t i = 0; i < kMillion; ++i) {
                std::string key = key_of(i);
                payload += key.size();
                map.merge(key, LWWRecord{Value(static_cast<std::int64_t>(i)), Timestamp{1000 + i, 0, "4f6c1a2e-9d3b-4c5a-8e7f-0a1b2c3d4e5f"}, std::nullopt});
            }
            const std::size_t after = mallinfo2().uordblks;
            state.counters["bytes_per_entry_overhead"] =
                static_cast<double>(after - before - payload) / static_cast<double>(kMillion);
        }
    }
}
BENCHMARK(BM_LwwMemoryPerEntry)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
