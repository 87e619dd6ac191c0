// One server node without its sockets: the shards and their data, the
// per-shard connection hubs, storage (write-behind over a Store), the JWT
// verifier and the counters /metrics will read. The network layer creates a
// Connection per WebSocket and hands it frames; tests and the fuzz target do
// the same with an in-memory transport and thread-less shards.
#pragma once

#include "config.hpp"
#include "exec/shards.hpp"
#include "service/access_policy.hpp"
#include "service/event_journal.hpp"
#include "service/lock_table.hpp"
#include "service/shard_state.hpp"
#include "session/shard_hub.hpp"
#include "session/transport.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace topgun::auth {
class JwtVerifier;
}
namespace topgun::storage {
class Store;
class WriteBehind;
}  // namespace topgun::storage

namespace topgun::server {

class MapSearch;
struct RoutedSearchUpdates;

// A latency histogram updated from any thread: per-bucket counts (not
// cumulative; the exposition makes them so), their sum and count.
struct LatencyHistogram {
    // The storage commit histogram's bounds (WriteBehind), so both read alike.
    static constexpr std::array<double, 12> kBoundsMs = {0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};
    std::array<std::atomic<std::uint64_t>, kBoundsMs.size() + 1> buckets{};  // the last one is +Inf
    std::atomic<std::uint64_t> sum_us{0};

    void observe(std::chrono::steady_clock::duration d) {
        const double ms = std::chrono::duration<double, std::milli>(d).count();
        std::size_t i = 0;
        while (i < kBoundsMs.size() && ms > kBoundsMs[i]) ++i;
        buckets[i].fetch_add(1, std::memory_order_relaxed);
        sum_us.fetch_add(static_cast<std::uint64_t>(ms * 1000), std::memory_order_relaxed);
    }
};

struct NodeMetrics {
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::int64_t> connections_active{0};
    std::atomic<std::uint64_t> ops_applied{0};
    std::atomic<std::uint64_t> ops_rejected{0};
    std::atomic<std::uint64_t> frames_malformed{0};
    std::atomic<std::uint64_t> frames_rate_limited{0};
    std::atomic<std::uint64_t> writes_shed{0};
    std::atomic<std::uint64_t> slow_consumers_dropped{0};
    std::atomic<std::int64_t> writes_in_flight{0};  // write batches accepted, not yet acked
    std::array<std::atomic<std::uint64_t>, 4> ops_by_type{};  // ops handled on the shards, by protocol::OpType
    LatencyHistogram write_latency;  // a write batch from arrival to its OP_ACK
};

enum class Lifecycle { Starting, Ready, Draining, Stopped };
std::string_view to_string(Lifecycle l) noexcept;

class Node {
public:
    // `store` is null for the memory backend (nothing to persist); `verifier`
    // is null in no-auth mode.
    Node(ServerConfig config, std::unique_ptr<storage::Store> store, std::unique_ptr<auth::JwtVerifier> verifier);
    ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    const ServerConfig& config() const noexcept { return config_; }
    ShardSet& shards() noexcept { return shards_; }
    ShardState& state(std::size_t shard) noexcept { return *states_[shard]; }
    OrTagRegistry& or_tags() noexcept { return or_tags_; }
    ShardHub& hub(std::size_t shard) noexcept { return *hubs_[shard]; }
    const auth::JwtVerifier* verifier() const noexcept { return verifier_.get(); }
    storage::WriteBehind* persistence() noexcept { return write_behind_.get(); }
    bool durable() const noexcept { return write_behind_ != nullptr; }
    NodeMetrics& metrics() noexcept { return metrics_; }
    EventJournal& journal() noexcept { return journal_; }
    PolicyStore& access() noexcept { return access_; }
    IndexCatalog& index_catalog() noexcept { return index_catalog_; }
    std::uint64_t next_connection_id() noexcept { return ++connection_ids_; }
    std::uint64_t next_subscription_id() noexcept { return ++subscription_ids_; }
    Lifecycle lifecycle() const noexcept { return lifecycle_.load(std::memory_order_relaxed); }
    void set_lifecycle(Lifecycle l) noexcept { lifecycle_.store(l, std::memory_order_relaxed); }
    std::chrono::steady_clock::time_point started_at() const noexcept { return started_at_; }

    // The port clients reach (PARTITION_MAP endpoints), known once bound.
    std::uint16_t public_port() const noexcept { return public_port_.load(std::memory_order_relaxed); }
    void set_public_port(std::uint16_t port) noexcept { public_port_.store(port, std::memory_order_relaxed); }

    // Streams the store into the shards (before start). Returns records loaded.
    std::size_t load();

    // Periodic tasks (the reaper, TTL sweep and tombstone GC) and, unless told
    // otherwise, one thread per shard. Without threads (tests, the fuzz target)
    // poll() runs whatever is ready.
    void start(bool threads = true);
    std::size_t poll() { return shards_.poll(); }
    // One TTL sweep (and tombstone GC when due) over every shard; runs on shard 0.
    void run_maintenance();

    // Closes every connection with a close frame; waits at most `grace` for the
    // frames to go out.
    void close_all_connections(std::chrono::milliseconds grace);
    // Flushes storage and joins the threads.
    void stop();

    // A connection holds a map on some shard (lets writers skip encoding
    // events nobody reads).
    bool has_holders() const noexcept {
        return std::any_of(hubs_.begin(), hubs_.end(), [](const auto& h) { return h->listened(Channel::MapHolders); });
    }

    // Sends frames, in order, to every subscriber of `name` on `channel`, on
    // every shard, but connection `exclude`. Frames from one shard reach each
    // subscriber in the order they were delivered.
    void deliver(Channel channel, const std::string& name, std::vector<SharedFrame> frames, std::uint64_t exclude);
    void deliver_to_all(SharedFrame frame);

    // Runs request(MapSearch&) on the shard owning map `map`'s search index
    // (`map`'s owner), building the index first when this is the map's first
    // search: every shard then feeds it its records and their changes.
    void with_map_search(const std::string& map, std::function<void(MapSearch&)> request);
    // Drops a closed connection's search subscriptions on the maps named.
    void drop_search_subscriptions(std::uint64_t connection, const std::vector<std::string>& maps);

    // Runs a lock operation on shard `shard` (the caller is on it; a lock name
    // lives on the shard that owns it), sends its notices to their connections
    // and re-arms the shard's lock timer for the next TTL or wait deadline.
    template <class Op>
    void with_locks(std::size_t shard, Op op) {
        deliver_lock_notices(op(*lock_tables_[shard], LockTable::Clock::now()));
        arm_lock_timer(shard);
    }

    // Runs `work(ShardState&)` on every shard, then `done(results)` (results
    // in shard order) on shard `home`.
    template <class Work, class Done>
    void scatter(std::size_t home, Work work, Done done) {
        using Result = decltype(work(state(0)));
        struct Gather {
            std::vector<Result> results;
            std::size_t remaining;
            Done done;
        };
        const std::size_t n = shards_.size();
        auto gather = std::make_shared<Gather>(Gather{std::vector<Result>(n), n, std::move(done)});
        for (std::size_t s = 0; s < n; ++s) {
            shards_[s].post([this, s, home, work, gather] {
                Result r = work(state(s));
                shards_[home].post([s, gather, r = std::move(r)]() mutable {
                    gather->results[s] = std::move(r);
                    if (--gather->remaining == 0) gather->done(gather->results);
                });
            });
        }
    }

private:
    void schedule_maintenance();
    void deliver_lock_notices(std::vector<LockNotice> notices);
    // Sends shard `shard`'s pending live-query events to their home shards.
    void flush_query_events(std::size_t shard);
    // Sends shard `shard`'s pending changes of searched maps to their indexes.
    void flush_search_feeds(std::size_t shard);
    void deliver_search_updates(std::vector<RoutedSearchUpdates> routed);
    void arm_lock_timer(std::size_t shard);

    ServerConfig config_;
    ShardSet shards_;
    OrTagRegistry or_tags_;  // before the shards' states, which refer to it
    std::vector<std::unique_ptr<ShardState>> states_;
    std::vector<std::unique_ptr<ShardHub>> hubs_;
    std::vector<std::unique_ptr<LockTable>> lock_tables_;
    EventJournal journal_;
    PolicyStore access_;
    IndexCatalog index_catalog_;
    // Per shard: the search indexes of the maps whose names it owns.
    std::vector<detail::StringHashMap<std::unique_ptr<MapSearch>>> searches_;
    std::vector<std::unique_ptr<boost::asio::steady_timer>> lock_timers_;
    std::unique_ptr<storage::Store> store_;
    std::unique_ptr<storage::WriteBehind> write_behind_;
    std::unique_ptr<auth::JwtVerifier> verifier_;
    std::vector<std::unique_ptr<boost::asio::steady_timer>> timers_;
    std::vector<std::shared_ptr<std::function<void()>>> reapers_;  // the periodic tasks' re-arming closures
    NodeMetrics metrics_;
    std::atomic<std::uint64_t> connection_ids_{0};
    std::atomic<std::uint64_t> subscription_ids_{0};
    std::atomic<std::uint16_t> public_port_{0};
    std::atomic<Lifecycle> lifecycle_{Lifecycle::Starting};
    std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_gc_;
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace topgun::server
