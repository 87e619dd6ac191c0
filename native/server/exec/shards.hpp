// Partition-affine execution. Each of the 271 partitions belongs to exactly one
// shard (partition % shard count); a shard is one thread running one
// io_context, and the data of its partitions is touched on that thread only —
// so the write path takes no lock. Connections live on a shard too (their
// socket I/O and protocol state), chosen round robin at accept.
//
// Work for another shard is posted to its io_context (FIFO per sender, which
// keeps one connection's writes to a key in order). For tests and the fuzz
// target the shards can also run without threads: poll() drives every
// io_context on the caller's thread until nothing is left to do.
#pragma once

#include <topgun/partition.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace topgun::server {

class Shard {
public:
    explicit Shard(std::size_t index) : index_(index) {}
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;

    std::size_t index() const noexcept { return index_; }
    boost::asio::io_context& io() noexcept { return io_; }

    template <class F>
    void post(F&& f) {
        boost::asio::post(io_, std::forward<F>(f));
    }

    bool on_own_thread() const noexcept { return thread_.get_id() == std::this_thread::get_id(); }

private:
    friend class ShardSet;
    std::size_t index_;
    // The default concurrency hint: other shards post here from their threads
    // (hint 1 lost cross-thread wakeups under load in Boost 1.81).
    boost::asio::io_context io_;
    std::thread thread_;
};

class ShardSet {
public:
    explicit ShardSet(std::size_t count) {
        if (count == 0) count = 1;
        for (std::size_t i = 0; i < count; ++i) shards_.push_back(std::make_unique<Shard>(i));
    }
    ~ShardSet() { stop(); }

    std::size_t size() const noexcept { return shards_.size(); }
    Shard& operator[](std::size_t i) noexcept { return *shards_[i]; }

    static std::uint32_t partition_of_key(std::string_view key) { return partition_of(key); }
    std::size_t owner_of_partition(std::uint32_t partition) const noexcept { return partition % shards_.size(); }
    std::size_t owner_of(std::string_view key) const { return owner_of_partition(partition_of(key)); }

    // Round robin over shards for new connections.
    Shard& next_home() noexcept { return *shards_[next_++ % shards_.size()]; }

    // Starts one thread per shard; each runs until stop().
    void start() {
        for (auto& s : shards_) {
            guards_.emplace_back(boost::asio::make_work_guard(s->io_));
            s->thread_ = std::thread([shard = s.get()] { shard->io_.run(); });
        }
    }

    // Lets each io_context finish queued work, then joins.
    void stop() {
        guards_.clear();
        join();
    }

    // Abandons whatever is still queued or pending (sockets that did not close
    // in time), then joins.
    void halt() {
        guards_.clear();
        for (auto& s : shards_) s->io_.stop();
        join();
    }

    // Thread-less mode: runs ready handlers on every shard until all are idle.
    // Returns how many handlers ran.
    std::size_t poll() {
        std::size_t total = 0;
        for (;;) {
            std::size_t round = 0;
            for (auto& s : shards_) {
                if (s->io_.stopped()) s->io_.restart();
                round += s->io_.poll();
            }
            total += round;
            if (round == 0) return total;
        }
    }

private:
    void join() {
        for (auto& s : shards_) {
            if (s->thread_.joinable()) s->thread_.join();
        }
    }

    std::vector<std::unique_ptr<Shard>> shards_;
    std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
    std::size_t next_ = 0;
};

}  // namespace topgun::server
