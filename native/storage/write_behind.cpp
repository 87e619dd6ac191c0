// Group commit on a writer thread (see write_behind.hpp).
#include "storage/write_behind.hpp"

#include <algorithm>
#include <exception>
#include <iterator>

namespace topgun::storage {

WriteBehind::WriteBehind(Store& store, Options options, std::function<void(const std::string&)> on_error)
    : store_(store), options_(options), on_error_(std::move(on_error)) {
    writer_ = std::thread([this] { run(); });
}

WriteBehind::~WriteBehind() { stop(); }

void WriteBehind::submit(std::vector<Mutation> batch, Callback on_durable) {
    const std::size_t n = batch.size();
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            queue_.push_back(Submission{std::move(batch), n, std::move(on_durable), Clock::now()});
            queued_mutations_ += n;
            ++submitted_;
            pending_.fetch_add(n, std::memory_order_relaxed);
            work_cv_.notify_one();
            return;
        }
    }
    if (on_durable) on_durable(false);
}

void WriteBehind::flush() {
    std::unique_lock lock(mutex_);
    const std::uint64_t target = submitted_;
    ++flush_waiters_;
    work_cv_.notify_one();  // a lingering writer commits at once
    done_cv_.wait(lock, [&] { return finished_ >= target; });
    --flush_waiters_;
}

void WriteBehind::stop(std::chrono::milliseconds give_up_after) {
    std::lock_guard stop_lock(stop_mutex_);
    if (!writer_.joinable()) return;
    std::unique_lock lock(mutex_);
    stopping_ = true;
    work_cv_.notify_one();
    if (!done_cv_.wait_for(lock, give_up_after, [&] { return exited_; })) {
        abandon_ = true;
        work_cv_.notify_one();
    }
    lock.unlock();
    writer_.join();
}

WriteBehind::Stats WriteBehind::stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
}

void WriteBehind::run() {
    for (;;) {
        std::vector<Submission> group = next_group();
        if (group.empty()) break;
        if (!commit_group(group)) {
            // stop() gave up on a failing store: what is still queued ends now.
            std::unique_lock lock(mutex_);
            std::deque<Submission> left = std::move(queue_);
            queue_.clear();
            queued_mutations_ = 0;
            lock.unlock();
            for (Submission& s : left) finish(s, false);
            break;
        }
    }
    std::lock_guard lock(mutex_);
    exited_ = true;
    done_cv_.notify_all();
}

// The next submissions to commit together; empty when the writer should exit.
std::vector<WriteBehind::Submission> WriteBehind::next_group() {
    std::unique_lock lock(mutex_);
    work_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return {};  // stopping, and everything is committed
    if (options_.max_delay.count() > 0) {
        const Clock::time_point deadline = queue_.front().at + options_.max_delay;
        work_cv_.wait_until(lock, deadline,
                            [&] { return queued_mutations_ >= options_.max_batch || flush_waiters_ > 0 || stopping_; });
    }
    std::vector<Submission> group;
    std::size_t total = 0;
    while (!queue_.empty()) {
        const std::size_t n = queue_.front().count;
        if (!group.empty() && total + n > options_.max_batch) break;
        total += n;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
    }
    queued_mutations_ -= total;
    return group;
}

bool WriteBehind::commit_group(std::vector<Submission>& group) {
    // One transaction for the whole group. A single submission is written in
    // place; several are moved into one batch, each keeping its range in it.
    std::vector<Mutation> joined;
    std::span<const Mutation> batch = group.front().mutations;
    if (group.size() > 1) {
        std::size_t total = 0;
        for (const Submission& s : group) total += s.count;
        joined.reserve(total);
        for (Submission& s : group) std::move(s.mutations.begin(), s.mutations.end(), std::back_inserter(joined));
        batch = joined;
    }
    const Outcome outcome = commit_with_retry(batch);
    if (outcome == Outcome::Committed) {
        for (Submission& s : group) finish(s, true);
        return true;
    }
    if (outcome == Outcome::Rejected && group.size() > 1) {
        // Something in the group can never be stored: isolate it by committing
        // each submission alone, so the others still go through.
        std::size_t offset = 0;
        for (std::size_t i = 0; i < group.size(); ++i) {
            const Outcome alone = commit_with_retry(batch.subspan(offset, group[i].count));
            offset += group[i].count;
            if (alone == Outcome::Abandoned) {
                for (std::size_t j = i; j < group.size(); ++j) finish(group[j], false);
                return false;
            }
            finish(group[i], alone == Outcome::Committed);
        }
        return true;
    }
    for (Submission& s : group) finish(s, false);
    return outcome != Outcome::Abandoned;
}

WriteBehind::Outcome WriteBehind::commit_with_retry(std::span<const Mutation> batch) {
    std::chrono::milliseconds backoff = options_.retry_initial;
    for (;;) {
        const Clock::time_point start = Clock::now();
        try {
            store_.write(batch);
            const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
            std::lock_guard lock(stats_mutex_);
            ++stats_.commits;
            stats_.mutations += batch.size();
            stats_.commit_latency_sum_ms += ms;
            for (std::size_t i = 0; i < kLatencyBoundsMs.size(); ++i) {
                if (ms <= kLatencyBoundsMs[i]) ++stats_.commit_latency_le[i];
            }
            return Outcome::Committed;
        } catch (const StoreError& e) {
            {
                std::lock_guard lock(stats_mutex_);
                ++stats_.failures;
            }
            if (e.kind() == StoreError::Kind::Rejected) {
                report(std::string("commit of ") + std::to_string(batch.size()) + " mutations refused: " + e.what());
                return Outcome::Rejected;
            }
            report(std::string("commit of ") + std::to_string(batch.size()) + " mutations failed (retrying in " +
                   std::to_string(backoff.count()) + " ms): " + e.what());
        } catch (const std::exception& e) {
            {
                std::lock_guard lock(stats_mutex_);
                ++stats_.failures;
            }
            report(std::string("commit of ") + std::to_string(batch.size()) + " mutations failed (retrying in " +
                   std::to_string(backoff.count()) + " ms): " + e.what());
        }
        std::unique_lock lock(mutex_);
        if (work_cv_.wait_for(lock, backoff, [&] { return abandon_; })) return Outcome::Abandoned;
        backoff = std::min(backoff * 2, options_.retry_max);
    }
}

void WriteBehind::finish(Submission& s, bool ok) {
    const std::size_t n = s.count;
    if (!ok) {
        {
            std::lock_guard lock(stats_mutex_);
            stats_.dropped += n;
        }
        report("a submission of " + std::to_string(n) + " mutations was not persisted");
    }
    pending_.fetch_sub(n, std::memory_order_relaxed);
    if (s.on_durable) {
        try {
            s.on_durable(ok);
        } catch (const std::exception& e) {
            report(std::string("on_durable callback threw: ") + e.what());
        } catch (...) {
            report("on_durable callback threw");
        }
    }
    std::lock_guard lock(mutex_);
    ++finished_;
    done_cv_.notify_all();
}

void WriteBehind::report(const std::string& message) {
    if (!on_error_) return;
    try {
        on_error_(message);
    } catch (...) {
        // A failing logger must not take the writer down.
    }
}

}  // namespace topgun::storage
