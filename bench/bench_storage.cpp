// Storage benchmarks: SQLite batch writes, WriteBehind group commit under 8
// submitting threads, restart load, and PostgreSQL batch writes. Wall-clock
// rates (UseRealTime): the disk is part of what is measured.
//   ./build/release/bench/topgun-bench-storage
//   pg_virtualenv ./build/release/bench/topgun-bench-storage --benchmark_filter=Postgres
// Files go to $TMPDIR (default /tmp).
//
// Measured 2026-11-22 on the project's 2-core VM (shared, load ~1.5), g++ 12 -O3:
//   1M distinct keys, 1,000-put batches, keys in order:  495k/s Normal, 369k/s Full (target >= 300k/s)
//   ... the same keys shuffled (random B-tree pages):      29k/s Normal,  20k/s Full
//   random updates of a 1M-key table, batches 1k/8k/64k:   32k / 31k / 43k per s (64 MiB cache)
//   WriteBehind, 8 threads x 10-put batches, new keys:     284k/s Normal (p99 durable 30 ms), 239k/s Full (36 ms)
//   ... random updates over 10k keys:                      272k/s Normal, 227k/s Full
//   ... random updates over 1M keys:                        35k/s Normal,  31k/s Full (p99 ~ 0.4 s)
//   open (quick_check) + load of 1M records:               0.26 s + 0.77 s; file 152-163 MB
//   PostgreSQL 15 (pg_virtualenv), 1,000 / 8,192-put batches: 102k/s / 72k/s
#include "storage/store.hpp"
#include "storage/write_behind.hpp"

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace topgun;
using namespace topgun::storage;

namespace {

constexpr std::size_t kMillion = 1'000'000;
constexpr std::size_t kBatch = 1000;

std::string key_of(std::size_t i) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "user:%07zu", i);
    return buf;
}

// A user-like record whose value encodes to ~100 bytes.
Value sample_value(std::size_t i) {
    Value v = Value::map();
    v.set("name", "Alice Liddell " + std::to_string(i));
    v.set("email", "alice" + std::to_string(i) + "@example.com");
    v.set("age", static_cast<std::int64_t>(i % 90));
    v.set("active", i % 2 == 0);
    v.set("score", 0.5 + static_cast<double>(i % 1000));
    v.set("city", "Oxford");
    return v;
}

LwwPut sample_put(std::size_t key, std::size_t version) {
    return LwwPut{"users", key_of(key),
                  LWWRecord{sample_value(key), Timestamp{1'700'000'000'000ULL + version, 0, "node-a"}, std::nullopt}};
}

// A fresh database path per benchmark run; files removed at destruction.
class BenchFile {
public:
    explicit BenchFile(const std::string& name) {
        const char* tmp = std::getenv("TMPDIR");
        dir_ = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") / ("topgun-bench-" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / name).string();
        remove();
    }
    ~BenchFile() {
        remove();
        std::error_code ec;
        std::filesystem::remove(dir_, ec);
    }
    const std::string& path() const { return path_; }
    double size_mb() const {
        std::error_code ec;
        const auto main = std::filesystem::file_size(path_, ec);
        const auto wal = std::filesystem::file_size(path_ + "-wal", ec);
        return static_cast<double>(main + (ec ? 0 : wal)) / 1e6;
    }

private:
    void remove() {
        std::error_code ec;
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix, ec);
    }
    std::filesystem::path dir_;
    std::string path_;
};

SqliteOptions::Sync sync_of(std::int64_t arg) {
    return arg == 0 ? SqliteOptions::Sync::Normal : SqliteOptions::Sync::Full;
}

// Writes 1M distinct keys in 1,000 batches of 1,000 puts: keys in ascending
// order (arg 1 = 0) or shuffled (arg 1 = 1). Reports the file size at the end.
void BM_SqliteWrite1kPuts(benchmark::State& state) {
    BenchFile file("write.db");
    auto store = open_sqlite_store({.path = file.path(), .sync = sync_of(state.range(0))});
    std::vector<std::size_t> order(kMillion);
    for (std::size_t i = 0; i < kMillion; ++i) order[i] = i;
    if (state.range(1) == 1) std::shuffle(order.begin(), order.end(), std::mt19937_64(1));
    std::vector<Mutation> batch;
    for (std::size_t i = 0; i < kBatch; ++i) batch.push_back(sample_put(i, 0));
    std::size_t next = 0;
    for (auto _ : state) {
        state.PauseTiming();
        for (Mutation& m : batch) {
            auto& put = std::get<LwwPut>(m);
            const std::size_t k = order[next++ % kMillion];
            put.key = key_of(k);
            put.record.value.set("age", static_cast<std::int64_t>(k % 90));
        }
        state.ResumeTiming();
        store->write(batch);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
    store.reset();  // the last connection checkpoints and removes the WAL
    state.counters["file_MB"] = file.size_mb();
}
BENCHMARK(BM_SqliteWrite1kPuts)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"full", "shuffled"})
    ->Iterations(1000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

struct CountingSink final : LoadSink {
    std::size_t records = 0;
    std::size_t bytes = 0;
    void lww(std::string_view, std::string_view key, LWWRecord&& record) override {
        ++records;
        bytes += key.size() + record.value.size();
        benchmark::DoNotOptimize(record);
    }
    void or_key(std::string_view, std::string_view, std::vector<ORRecord>&& r) override { records += r.size(); }
    void or_tombstone(std::string_view, std::string_view) override { ++records; }
    void meta(std::string_view, std::string_view, std::span<const std::uint8_t>) override { ++records; }
};

// A database of `n` users written in ascending order (fast), for the update and
// load benchmarks; its write-ahead log is folded before it is returned (load does).
std::unique_ptr<Store> prefilled(const BenchFile& file, std::size_t n, SqliteOptions::Sync sync,
                                 std::size_t cache_mib = SqliteOptions{}.cache_mib) {
    auto store = open_sqlite_store({.path = file.path(), .sync = sync, .cache_mib = cache_mib});
    std::vector<Mutation> batch;
    for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(sample_put(i, 0));
        if (batch.size() == 10'000) {
            store->write(batch);
            batch.clear();
        }
    }
    store->write(batch);
    CountingSink folded;
    store->load(folded);
    return store;
}

// Updates of random existing keys in a 1M-key database, batches of arg 1,
// page cache of arg 2 MiB.
void BM_SqliteUpdateRandom1M(benchmark::State& state) {
    BenchFile file("update.db");
    auto store = prefilled(file, kMillion, sync_of(state.range(0)), static_cast<std::size_t>(state.range(2)));
    const auto batch_size = static_cast<std::size_t>(state.range(1));
    std::mt19937_64 rng(3);
    std::vector<Mutation> batch;
    for (std::size_t i = 0; i < batch_size; ++i) batch.push_back(sample_put(i, 1));
    std::size_t version = 1;
    for (auto _ : state) {
        state.PauseTiming();
        for (Mutation& m : batch) {
            auto& put = std::get<LwwPut>(m);
            put.key = key_of(rng() % kMillion);
            put.record.timestamp.millis = 1'700'000'000'000ULL + ++version;
        }
        state.ResumeTiming();
        store->write(batch);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}
BENCHMARK(BM_SqliteUpdateRandom1M)
    ->ArgsProduct({{0}, {1000, 8192, 65536}, {64, 256}})
    ->ArgNames({"full", "batch", "cache_mib"})
    ->Iterations(30)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Restart: open (with its quick_check) and load of 1M records, ~100-byte values.
void BM_SqliteOpenAndLoad1M(benchmark::State& state) {
    BenchFile file("load.db");
    prefilled(file, kMillion, SqliteOptions::Sync::Normal).reset();
    double open_s = 0, load_s = 0;
    for (auto _ : state) {
        const auto t0 = std::chrono::steady_clock::now();
        auto store = open_sqlite_store({.path = file.path()});
        const auto t1 = std::chrono::steady_clock::now();
        CountingSink sink;
        store->load(sink);
        const auto t2 = std::chrono::steady_clock::now();
        if (sink.records != kMillion) state.SkipWithError("wrong record count");
        open_s += std::chrono::duration<double>(t1 - t0).count();
        load_s += std::chrono::duration<double>(t2 - t1).count();
    }
    state.counters["open_s"] = open_s / static_cast<double>(state.iterations());
    state.counters["load_s"] = load_s / static_cast<double>(state.iterations());
    state.counters["file_MB"] = file.size_mb();
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kMillion));
}
BENCHMARK(BM_SqliteOpenAndLoad1M)->Iterations(3)->Unit(benchmark::kMillisecond);

// 8 threads submit 10-put batches through WriteBehind, each keeping at most 64
// submissions awaiting on_durable (like connections waiting for PERSISTED acks).
// Keys (arg 1): 0 = new keys per thread, "conn-<t>-<seq>" (the reference load
// harness's pattern); 10000 or 1000000 = random updates over that many existing
// keys. Reports mutations/s, the submit-to-durable latency (p50/p99), the
// store's commit latency and the mutations per commit.
void BM_WriteBehind8Threads(benchmark::State& state) {
    BenchFile file("wb.db");
    const auto keyspace = static_cast<std::size_t>(state.range(1));
    auto store = prefilled(file, keyspace, sync_of(state.range(0)));
    constexpr int kThreads = 8;
    constexpr int kWindow = 64;
    constexpr int kPerThread = 6000;  // submissions of 10 puts
    std::vector<double> latencies_ms;
    WriteBehind::Stats stats{};
    for (auto _ : state) {
        WriteBehind wb(*store, {}, [](const std::string&) {});
        std::mutex lat_mutex;
        latencies_ms.clear();
        latencies_ms.reserve(kThreads * kPerThread);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                std::mt19937_64 rng(static_cast<std::uint64_t>(t));
                std::mutex m;
                std::condition_variable cv;
                int outstanding = 0;
                std::vector<double> mine;
                mine.reserve(kPerThread);
                std::size_t seq = 0;
                for (int i = 0; i < kPerThread; ++i) {
                    std::vector<Mutation> batch;
                    batch.reserve(10);
                    for (int j = 0; j < 10; ++j) {
                        LwwPut put = sample_put(keyspace == 0 ? seq : rng() % keyspace, static_cast<std::size_t>(i));
                        if (keyspace == 0) put.key = "conn-" + std::to_string(t) + "-" + std::to_string(seq++);
                        batch.push_back(std::move(put));
                    }
                    {
                        std::unique_lock lock(m);
                        cv.wait(lock, [&] { return outstanding < kWindow; });
                        ++outstanding;
                    }
                    const auto at = std::chrono::steady_clock::now();
                    wb.submit(std::move(batch), [&, at](bool) {
                        const double ms =
                            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - at).count();
                        std::lock_guard lock(m);
                        mine.push_back(ms);
                        --outstanding;
                        cv.notify_one();
                    });
                }
                std::unique_lock lock(m);
                cv.wait(lock, [&] { return outstanding == 0; });
                std::lock_guard lat_lock(lat_mutex);
                latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
            });
        }
        for (auto& th : threads) th.join();
        wb.stop();
        stats = wb.stats();
    }
    std::sort(latencies_ms.begin(), latencies_ms.end());
    auto pct = [&](double p) {
        return latencies_ms[static_cast<std::size_t>(p * static_cast<double>(latencies_ms.size() - 1))];
    };
    state.counters["durable_p50_ms"] = pct(0.5);
    state.counters["durable_p99_ms"] = pct(0.99);
    state.counters["commit_avg_ms"] = stats.commit_latency_sum_ms / static_cast<double>(stats.commits);
    static_assert(WriteBehind::kLatencyBoundsMs[7] == 100);
    state.counters["commits_over_100ms"] = static_cast<double>(stats.commits - stats.commit_latency_le[7]);
    state.counters["commits"] = static_cast<double>(stats.commits);
    state.counters["muts_per_commit"] = static_cast<double>(stats.mutations) / static_cast<double>(stats.commits);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kThreads * kPerThread * 10);
}
BENCHMARK(BM_WriteBehind8Threads)
    ->ArgsProduct({{0, 1}, {0, 10'000, 1'000'000}})
    ->ArgNames({"full", "keys"})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// PostgreSQL batch upserts (run under pg_virtualenv): 100 batches of arg 0
// puts cycling over 200,000 keys (inserts first, updates once they wrap).
void BM_PostgresWrite(benchmark::State& state) {
    std::string url;
    for (const auto& [var, key] :
         {std::pair{"PGHOST", "host"}, std::pair{"PGPORT", "port"}, std::pair{"PGUSER", "user"},
          std::pair{"PGDATABASE", "dbname"}, std::pair{"PGPASSWORD", "password"}}) {
        if (const char* v = std::getenv(var)) url += std::string(key) + "='" + v + "' ";
    }
    if (std::getenv("PGHOST") == nullptr) {
        state.SkipWithError("PGHOST is not set: run under pg_virtualenv");
        for (auto _ : state) {
        }
        return;
    }
    auto store = open_postgres_store(url);
    const auto batch_size = static_cast<std::size_t>(state.range(0));
    std::vector<Mutation> batch;
    for (std::size_t i = 0; i < batch_size; ++i) batch.push_back(sample_put(i, 0));
    std::size_t next = 0, version = 0;
    for (auto _ : state) {
        state.PauseTiming();
        ++version;
        for (Mutation& m : batch) {
            auto& put = std::get<LwwPut>(m);
            put.key = key_of(next++ % 200'000);
            put.record.timestamp.millis = 1'700'000'000'000ULL + version;
        }
        state.ResumeTiming();
        store->write(batch);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}
BENCHMARK(BM_PostgresWrite)->Arg(1000)->Arg(8192)->Iterations(100)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
