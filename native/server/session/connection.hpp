// One client connection's protocol state machine (PROTOCOL.md §1.3–1.5, §5,
// §6, §8, §10, §12): the auth phase, heartbeat, rate limiting, write routing
// to the shards that own the keys, acks in order, Merkle sync sessions, live
// queries, topics, locks and counters.
// It runs on its home shard's thread and talks to the socket only through a
// Transport, so the same code serves the WebSocket, tests and the fuzz target.
#pragma once

#include "auth/jwt.hpp"
#include "service/access_policy.hpp"
#include "service/event_journal.hpp"
#include "session/token_bucket.hpp"
#include "session/transport.hpp"

#include <topgun/detail/string_map.hpp>
#include <topgun/merkle/hash_trie.hpp>
#include <topgun/protocol/cluster.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/journal.hpp>
#include <topgun/protocol/messaging.hpp>
#include <topgun/protocol/query.hpp>
#include <topgun/protocol/search.hpp>
#include <topgun/protocol/sync.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>


namespace topgun::server {

class Node;
class QuerySubscription;
struct PendingWrite;
struct DeviceBinding;
struct ShardQueryEvent;

class Connection : public std::enable_shared_from_this<Connection> {
public:
    using Clock = std::chrono::steady_clock;

    Connection(Node& node, std::size_t home_shard, Transport& transport, std::string remote);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    std::uint64_t id() const noexcept { return id_; }
    std::size_t home() const noexcept { return home_; }
    const std::string& remote() const noexcept { return remote_; }
    bool authenticated() const noexcept { return phase_ == Phase::Ready; }
    // The authenticated caller; null when anonymous (no-auth mode).
    const std::shared_ptr<const auth::Principal>& caller() const noexcept { return caller_; }

    // Registers with the home hub and greets (AUTH_REQUIRED in JWT mode).
    void start();
    // One binary frame from the client.
    void on_frame(std::span<const std::uint8_t> frame);
    // A text frame: not part of the protocol (logged and dropped).
    void on_text_frame();
    // The socket is gone: forget every subscription; late results are dropped.
    void on_closed();
    // The transport is being destroyed without a close (shutdown): stop using it.
    void detach() noexcept { transport_ = nullptr; }
    // Auth deadline and idle timeout (called by the shard's reaper).
    void tick(Clock::time_point now);

    // Queues a frame unless the connection is closed.
    void send(SharedFrame frame);
    // Acks, in arrival order, every write whose parts have all reported.
    void complete_writes();
    void close(std::uint16_t code, std::string_view reason);

    // A shard's events for one of this connection's live queries.
    void on_query_events(std::size_t shard, std::uint64_t subscription, std::vector<ShardQueryEvent>& events);

private:
    enum class Phase { AwaitingAuth, Ready, Closed };

    template <class M>
    void reply(const M& message);
    void error(std::uint32_t code, std::string message);

    void handle_frame(std::span<const std::uint8_t> frame, bool inside_batch);
    void handle_batch(std::span<const std::uint8_t> data);
    static bool valid_name(std::string_view name);
    bool valid_topic(std::string_view topic);
    void handle_lock_request(protocol::LockRequest request);
    void handle_lock_release(protocol::LockRelease release);

    void handle_write(std::vector<protocol::ClientOp> ops, std::optional<protocol::WriteConcern> requested);

    void handle_sync_init(bool is_or, const std::string& map_name);
    void handle_bucket_request(bool is_or, const std::string& map_name, const std::string& path);
    // Builds this connection's snapshot of a map's tree (from every shard), then calls `then`.
    void with_session(bool is_or, const std::string& map_name, std::function<void(const merkle::HashTrie&)> then);
    void hold(const std::string& map_name);
    void handle_or_push(protocol::ORMapPushDiff push);
    void handle_or_diff_request(protocol::ORMapDiffRequest request);
    // COUNTER_REQUEST (remote = null) or COUNTER_SYNC.
    void handle_counter(const std::string& name, const protocol::PNCounterStateData* remote);
    void handle_search(protocol::Search request);
    void handle_search_sub(protocol::SearchSub sub);
    void handle_search_unsub(const protocol::SearchUnsub& unsub);
    void handle_journal_subscribe(protocol::JournalSubscribe request);
    void handle_journal_read(const protocol::JournalRead& request);
    void handle_query_sub(protocol::QuerySub sub);
    void unsubscribe_query(const std::string& query_id);
    void on_query_rows(std::size_t shard, std::uint64_t subscription, std::vector<protocol::QueryResultEntry> rows);
    // The principal as "auth.<path>" valueRefs see it: {id, roles}.
    std::optional<Value> auth_value() const;
    // Whether the access policies let this caller `access` map `map`; a refusal is answered with ERROR 403.
    bool may(Access access, const std::string& map);
    MapReadable readable_maps() const;
    protocol::PartitionMap partition_map() const;
    // Present-or-mint this connection's device identity, then `then` on the home shard.
    void bind_device(const std::optional<std::string>& presented, std::function<void(const DeviceBinding&)> then);

    // A single node's table never changes.
    static constexpr std::uint32_t kPartitionMapVersion = 1;

    Node& node_;
    std::size_t home_;
    Transport* transport_;  // null once the socket is gone
    std::string remote_;
    std::uint64_t id_;
    Phase phase_;
    std::shared_ptr<const auth::Principal> caller_;
    bool answered_auth_ = false;
    std::optional<std::string> device_id_;
    Clock::time_point connected_at_;
    Clock::time_point last_ping_;
    TokenBucket bucket_;
    std::deque<std::shared_ptr<PendingWrite>> writes_;  // acked strictly in arrival order
    bool reading_paused_ = false;
    // Per map: the tree snapshot taken at SYNC_INIT, answered from until the next one.
    detail::StringHashMap<merkle::HashTrie> lww_sessions_;
    detail::StringHashMap<merkle::HashTrie> or_sessions_;
    // Live queries by subscription id (node-wide, so late events of a replaced
    // or dropped subscription find nothing), and the client's ids for them.
    std::unordered_map<std::uint64_t, std::unique_ptr<QuerySubscription>> queries_;
    detail::StringHashMap<std::uint64_t> query_ids_;
    // SEARCH_SUB ids and their maps (the index of a map lives on its owner shard).
    detail::StringHashMap<std::string> search_subs_;
    bool journal_subscriber_ = false;  // has subscribed to the event journal at least once
};

}  // namespace topgun::server
