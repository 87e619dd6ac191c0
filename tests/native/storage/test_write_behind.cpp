#include "storage/storage_testing.hpp"
#include "storage/store.hpp"
#include "storage/write_behind.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

using namespace topgun;
using namespace topgun::storage;
using namespace topgun::storage::testing;
using namespace std::chrono_literals;

namespace {

// A MemoryStore behind a scriptable front: writes can be held at a gate, made
// to fail (N times or forever), and every committed batch size is recorded.
class ScriptedStore final : public Store {
public:
    std::string_view backend() const noexcept override { return "scripted"; }
    bool durable() const noexcept override { return true; }

    void write(std::span<const Mutation> batch) override {
        {
            std::unique_lock lock(mutex_);
            ++attempts_;
            ++at_gate_;
            cv_.notify_all();
            cv_.wait(lock, [&] { return !gate_closed_; });
            --at_gate_;
            if (fail_forever_ || fail_next_ > 0) {
                if (fail_next_ > 0) --fail_next_;
                throw StoreError(StoreError::Kind::Transient, "scripted failure");
            }
        }
        inner_->write(batch);  // refuses a too-deep value (Rejected)
        std::lock_guard lock(mutex_);
        batch_sizes_.push_back(batch.size());
        committed_ += batch.size();
    }
    void load(LoadSink& sink) override { inner_->load(sink); }

    void close_gate() {
        std::lock_guard lock(mutex_);
        gate_closed_ = true;
    }
    void open_gate() {
        std::lock_guard lock(mutex_);
        gate_closed_ = false;
        cv_.notify_all();
    }
    // Blocks until a write is waiting at the closed gate.
    void wait_at_gate() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return at_gate_ > 0; });
    }
    void fail_next(int n) {
        std::lock_guard lock(mutex_);
        fail_next_ = n;
    }
    void fail_forever() {
        std::lock_guard lock(mutex_);
        fail_forever_ = true;
    }
    int attempts() {
        std::lock_guard lock(mutex_);
        return attempts_;
    }
    std::size_t committed() {
        std::lock_guard lock(mutex_);
        return committed_;
    }
    std::vector<std::size_t> batch_sizes() {
        std::lock_guard lock(mutex_);
        return batch_sizes_;
    }

private:
    std::unique_ptr<Store> inner_ = make_memory_store();
    std::mutex mutex_;
    std::condition_variable cv_;
    bool gate_closed_ = false;
    int at_gate_ = 0;
    int fail_next_ = 0;
    bool fail_forever_ = false;
    int attempts_ = 0;
    std::size_t committed_ = 0;
    std::vector<std::size_t> batch_sizes_;
};

std::vector<Mutation> puts(const std::string& prefix, std::size_t n, std::int64_t value = 0) {
    std::vector<Mutation> out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(LwwPut{"m", prefix + std::to_string(i),
                             LWWRecord{Value(value), Timestamp{static_cast<std::uint64_t>(value), 0, "n"}, {}}});
    }
    return out;
}

// Thread-safe record of callbacks and errors.
struct Log {
    std::mutex mutex;
    std::vector<std::pair<std::string, bool>> calls;
    std::vector<std::string> errors;

    WriteBehind::Callback callback(std::string name) {
        return [this, name = std::move(name)](bool ok) {
            std::lock_guard lock(mutex);
            calls.emplace_back(name, ok);
        };
    }
    std::function<void(const std::string&)> on_error() {
        return [this](const std::string& message) {
            std::lock_guard lock(mutex);
            errors.push_back(message);
        };
    }
    std::size_t size() {
        std::lock_guard lock(mutex);
        return calls.size();
    }
};

std::set<std::string> keys_of(Store& store) {
    std::set<std::string> keys;
    for (const auto& row : load_all(store).lww_rows) keys.insert(row.key);
    return keys;
}

}  // namespace

TEST_CASE("write-behind: callbacks run only after the commit, in order, and waiting submissions share one commit",
          "[storage][write-behind]") {
    ScriptedStore store;
    Log log;
    WriteBehind wb(store, {}, log.on_error());
    store.close_gate();
    std::atomic<bool> a_saw_data{false};
    wb.submit(puts("a", 1), [&](bool ok) {
        // Runs on the writer thread after the commit: the data is there.
        a_saw_data = ok && keys_of(store).count("a0") == 1;
        log.callback("a")(ok);
    });
    store.wait_at_gate();
    wb.submit(puts("b", 2), log.callback("b"));
    wb.submit(puts("c", 3), log.callback("c"));
    std::this_thread::sleep_for(50ms);
    CHECK(log.size() == 0);
    CHECK(store.committed() == 0);
    CHECK(wb.pending() == 6);
    store.open_gate();
    wb.flush();
    CHECK(a_saw_data);
    CHECK(log.calls == std::vector<std::pair<std::string, bool>>{{"a", true}, {"b", true}, {"c", true}});
    CHECK(store.batch_sizes() == std::vector<std::size_t>{1, 5});  // b and c: one transaction
    CHECK(wb.pending() == 0);
    CHECK(log.errors.empty());
    const WriteBehind::Stats stats = wb.stats();
    CHECK(stats.commits == 2);
    CHECK(stats.mutations == 6);
    CHECK(stats.failures == 0);
}

TEST_CASE("write-behind: groups never split a submission and respect max_batch", "[storage][write-behind]") {
    ScriptedStore store;
    WriteBehind wb(store, {.max_batch = 10}, {});
    store.close_gate();
    wb.submit(puts("first", 1));
    store.wait_at_gate();
    for (std::size_t n : {4, 4, 4, 25, 3}) wb.submit(puts("s" + std::to_string(n), n));
    store.open_gate();
    wb.flush();
    // [4,4] fit in 10; [4] alone since 25 would not fit; [25] alone, whole; [3].
    CHECK(store.batch_sizes() == std::vector<std::size_t>{1, 8, 4, 25, 3});
}

TEST_CASE("write-behind: a later submit of the same key wins after reload", "[storage][write-behind][sqlite]") {
    TempDir dir;
    const std::string path = dir.file("order.db");
    {
        auto store = open_sqlite_store({.path = path, .sync = SqliteOptions::Sync::Normal});
        WriteBehind wb(*store, {}, {});
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&wb, t] {
                for (std::int64_t v = 1; v <= 300; ++v) {
                    // The thread's own key and a second write of it in the same submission.
                    std::vector<Mutation> batch = puts("t" + std::to_string(t) + "-", 1, v * 10);
                    batch.push_back(puts("t" + std::to_string(t) + "-", 1, v * 10 + 1)[0]);
                    wb.submit(std::move(batch));
                }
            });
        }
        for (auto& th : threads) th.join();
        wb.flush();
        CHECK(wb.pending() == 0);
        CHECK(wb.stats().mutations == 4 * 300 * 2);
    }
    auto store = open_sqlite_store({.path = path});
    const Snapshot s = load_all(*store);
    REQUIRE(s.lww_rows.size() == 4);
    for (const auto& row : s.lww_rows) CHECK(row.record.value == Value(3001));
}

TEST_CASE("write-behind: flush and stop wait for everything submitted before", "[storage][write-behind]") {
    ScriptedStore store;
    Log log;
    {
        WriteBehind wb(store, {}, log.on_error());
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&wb, &log, t] {
                for (int i = 0; i < 200; ++i) {
                    const std::string prefix = std::to_string(t) + "-" + std::to_string(i) + "-";
                    wb.submit(puts(prefix, 10), log.callback(prefix));
                }
            });
        }
        for (auto& th : threads) th.join();
        wb.flush();
        CHECK(store.committed() == 16000);
        CHECK(wb.pending() == 0);
        CHECK(log.size() == 1600);
        // Some more, then stop without a flush: stop drains them.
        for (int i = 0; i < 50; ++i) wb.submit(puts("late" + std::to_string(i) + "-", 2), log.callback("late"));
        wb.stop();
        CHECK(store.committed() == 16100);
        const WriteBehind::Stats stats = wb.stats();
        CHECK(stats.mutations == 16100);
        CHECK(stats.commit_latency_sum_ms > 0);
        for (std::size_t i = 1; i < stats.commit_latency_le.size(); ++i) {
            CHECK(stats.commit_latency_le[i - 1] <= stats.commit_latency_le[i]);
        }
        CHECK(stats.commit_latency_le.back() <= stats.commits);
    }
    for (const auto& [name, ok] : log.calls) CHECK(ok);
    CHECK(log.size() == 1650);
    CHECK(keys_of(store).size() == 16100);
}

TEST_CASE("write-behind: a transient failure is retried with backoff and reported", "[storage][write-behind]") {
    ScriptedStore store;
    Log log;
    WriteBehind wb(store, {.retry_initial = 1ms, .retry_max = 4ms}, log.on_error());
    store.fail_next(3);
    wb.submit(puts("x", 5), log.callback("x"));
    wb.flush();
    CHECK(log.calls == std::vector<std::pair<std::string, bool>>{{"x", true}});
    CHECK(store.attempts() == 4);
    REQUIRE(log.errors.size() == 3);
    CHECK_THAT(log.errors[0], Catch::Contains("scripted failure") && Catch::Contains("retrying"));
    CHECK(wb.stats().failures == 3);
    CHECK(wb.stats().commits == 1);
    CHECK(keys_of(store).size() == 5);
}

TEST_CASE("write-behind: a refused submission fails alone, the rest of its group commits", "[storage][write-behind]") {
    ScriptedStore store;
    Log log;
    WriteBehind wb(store, {}, log.on_error());
    store.close_gate();
    wb.submit(puts("a", 1), log.callback("a"));
    store.wait_at_gate();
    wb.submit(puts("b", 2), log.callback("b"));
    wb.submit(std::vector<Mutation>{LwwPut{"m", "deep", LWWRecord{too_deep_value(), {}, {}}}, puts("c", 1)[0]},
              log.callback("bad"));
    wb.submit(puts("d", 2), log.callback("d"));
    store.open_gate();
    wb.flush();
    CHECK(log.calls ==
          std::vector<std::pair<std::string, bool>>{{"a", true}, {"b", true}, {"bad", false}, {"d", true}});
    CHECK(keys_of(store) == std::set<std::string>{"a0", "b0", "b1", "d0", "d1"});
    CHECK(wb.stats().dropped == 2);
    CHECK(wb.pending() == 0);
    bool refused = false, dropped = false;
    for (const std::string& e : log.errors) {
        refused |= e.find("refused") != std::string::npos && e.find("nested deeper") != std::string::npos;
        dropped |= e.find("was not persisted") != std::string::npos;
    }
    CHECK(refused);
    CHECK(dropped);
}

TEST_CASE("write-behind: stop gives up on a failing store within the bound", "[storage][write-behind]") {
    ScriptedStore store;
    Log log;
    store.fail_forever();
    auto wb = std::make_unique<WriteBehind>(store, WriteBehind::Options{.retry_initial = 10ms, .retry_max = 100ms},
                                            log.on_error());
    wb->submit(puts("a", 3), log.callback("a"));
    wb->submit(puts("b", 4), log.callback("b"));
    std::this_thread::sleep_for(50ms);
    const auto start = std::chrono::steady_clock::now();
    wb->stop(300ms);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed >= 300ms);
    CHECK(elapsed < 300ms + 100ms + 1s);  // the bound, one backoff step, slack for a loaded machine
    CHECK(log.calls == std::vector<std::pair<std::string, bool>>{{"a", false}, {"b", false}});
    CHECK(wb->pending() == 0);
    CHECK(wb->stats().dropped == 7);
    CHECK(wb->stats().failures >= 3);
    CHECK(store.committed() == 0);
    // After stop: refused at once, on this thread.
    bool called = false, result = true;
    wb->submit(puts("late", 1), [&](bool ok) {
        called = true;
        result = ok;
    });
    CHECK(called);
    CHECK_FALSE(result);
    wb->flush();  // nothing pending: returns
    wb->stop();   // idempotent
    wb.reset();
}

TEST_CASE("write-behind: max_delay lingers for company, and flush or a full batch cuts it short",
          "[storage][write-behind]") {
    ScriptedStore store;
    WriteBehind wb(store, {.max_delay = 10s, .max_batch = 4}, {});
    wb.submit(puts("a", 1));
    std::this_thread::sleep_for(100ms);
    CHECK(store.attempts() == 0);  // still waiting for company
    wb.submit(puts("b", 1));
    wb.flush();
    CHECK(store.batch_sizes() == std::vector<std::size_t>{2});
    // A full batch does not wait.
    wb.submit(puts("c", 4));
    for (int i = 0; i < 500 && store.committed() < 6; ++i) std::this_thread::sleep_for(10ms);
    CHECK(store.committed() == 6);
}

TEST_CASE("write-behind: a throwing callback is reported and the writer goes on", "[storage][write-behind]") {
    ScriptedStore store;
    Log log;
    WriteBehind wb(store, {}, log.on_error());
    wb.submit(puts("a", 1), [](bool) { throw std::runtime_error("callback bug"); });
    wb.submit(puts("b", 1), log.callback("b"));
    wb.flush();
    CHECK(log.calls == std::vector<std::pair<std::string, bool>>{{"b", true}});
    REQUIRE(log.errors.size() == 1);
    CHECK_THAT(log.errors[0], Catch::Contains("callback bug"));
}
