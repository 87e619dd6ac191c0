// WriteBehind: group commit on one writer thread in front of a Store.
//
// The server's workers submit the mutations of each applied write and go on;
// the writer thread commits them and reports back (on_durable), which is when a
// PERSISTED ack may go out. Group commit: while one transaction commits, new
// submissions queue up, and the next transaction takes all of them (up to
// max_batch mutations). So under load transactions grow by themselves and the
// per-commit cost (fsync, round trips) is shared, while a lone write at low load
// is committed at once.
//
// Why commit as soon as the writer is free (max_delay = 0 by default): waiting
// for company only adds latency at low load, and under load the queue fills
// while the previous commit runs anyway. A positive max_delay lets the writer,
// once free, wait up to that long (from the oldest queued submission's arrival)
// for a fuller group: fewer commits for a disk or network where each costs much.
//
// Guarantees:
//  - One submit() is never split across transactions: it is atomic.
//  - Commits, and on_durable calls, follow submission order; a later submit of
//    the same key wins.
//  - A failing commit keeps its data and is retried with exponential backoff
//    (on_error reports every failure); its callbacks wait. Nothing is dropped
//    silently: a submission ends with on_durable(true) once committed, or
//    on_durable(false) when the store refuses it for good (StoreError::Rejected:
//    the group is then retried one submission at a time, so only the offending
//    one fails) or when stop() gives up.
#pragma once

#include "storage/store.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace topgun::storage {

class WriteBehind {
public:
    struct Options {
        // The longest the free writer waits for more submissions before it
        // commits a group smaller than max_batch; 0 commits at once (see above).
        std::chrono::milliseconds max_delay{0};
        // Mutations per transaction at most (a single larger submission still
        // goes whole, alone).
        std::size_t max_batch = 8192;
        // Backoff between attempts of a failing commit: doubles up to retry_max.
        std::chrono::milliseconds retry_initial{10};
        std::chrono::milliseconds retry_max{1000};
    };
    using Callback = std::function<void(bool ok)>;

    // `on_error` is called on the writer thread with a description of every
    // failed commit attempt and of every submission that ends with ok=false.
    WriteBehind(Store& store, Options options, std::function<void(const std::string&)> on_error);
    ~WriteBehind();  // stop()
    WriteBehind(const WriteBehind&) = delete;
    WriteBehind& operator=(const WriteBehind&) = delete;

    // Thread-safe, never blocks on I/O. `on_durable(ok)` runs on the writer
    // thread once the transaction holding these mutations committed (ok=true),
    // or when they can never be (ok=false, see above). After stop() a submission
    // is refused: on_durable(false) runs at once on the caller's thread.
    void submit(std::vector<Mutation> batch, Callback on_durable = {});

    // Blocks until everything submitted before the call has ended (committed, or
    // failed for good). Not from an on_durable callback (that would deadlock).
    void flush();

    // Commits what is queued, then joins the writer. A healthy store is drained
    // however long that takes; when the store is still failing `give_up_after`
    // from now, the writer gives up at its next failed attempt (or at once if it
    // is waiting to retry): the remaining submissions end with on_durable(false)
    // and stop returns. (A single Store::write call that hangs is bounded by the
    // backend's own timeouts, not by this.) Idempotent.
    void stop(std::chrono::milliseconds give_up_after = std::chrono::seconds(5));

    // Mutations submitted and not yet ended (the server sheds load on it).
    std::size_t pending() const noexcept { return pending_.load(std::memory_order_relaxed); }

    // Upper bounds of the commit latency buckets, in milliseconds (Prometheus `le`).
    static constexpr std::array<double, 12> kLatencyBoundsMs = {0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};

    struct Stats {
        std::uint64_t commits = 0;    // transactions committed
        std::uint64_t mutations = 0;  // mutations committed
        std::uint64_t failures = 0;   // failed commit attempts (each retry counts)
        std::uint64_t dropped = 0;    // mutations that ended with ok=false
        // Store::write duration of the committed transactions, cumulative as
        // Prometheus wants it: commit_latency_le[i] = commits that took <=
        // kLatencyBoundsMs[i]; `commits` is the +Inf bucket and the count.
        std::array<std::uint64_t, kLatencyBoundsMs.size()> commit_latency_le{};
        double commit_latency_sum_ms = 0;
    };
    Stats stats() const;

private:
    using Clock = std::chrono::steady_clock;

    struct Submission {
        std::vector<Mutation> mutations;  // moved into the group's batch when it has several
        std::size_t count;
        Callback on_durable;
        Clock::time_point at;
    };
    enum class Outcome { Committed, Rejected, Abandoned };

    void run();
    std::vector<Submission> next_group();
    bool commit_group(std::vector<Submission>& group);  // false: abandoned
    Outcome commit_with_retry(std::span<const Mutation> batch);
    void finish(Submission& s, bool ok);
    void report(const std::string& message);

    Store& store_;
    const Options options_;
    const std::function<void(const std::string&)> on_error_;

    mutable std::mutex mutex_;
    std::condition_variable work_cv_;  // writer: work arrived, flush requested, stopping, abandon
    std::condition_variable done_cv_;  // flush/stop: submissions ended, writer exited
    std::deque<Submission> queue_;
    std::size_t queued_mutations_ = 0;
    std::uint64_t submitted_ = 0;  // submissions accepted
    std::uint64_t finished_ = 0;   // submissions ended, in order
    std::size_t flush_waiters_ = 0;
    bool stopping_ = false;  // no more submissions; drain and exit
    bool abandon_ = false;   // stop() gave up: fail what is left
    bool exited_ = false;
    std::atomic<std::size_t> pending_{0};

    mutable std::mutex stats_mutex_;
    Stats stats_;

    std::mutex stop_mutex_;  // serialises stop() callers
    std::thread writer_;
};

}  // namespace topgun::storage
