#include "session/connection.hpp"

#include "auth/jwt.hpp"
#include "node.hpp"
#include "session/query_subscription.hpp"
#include "service/crdt_service.hpp"
#include "service/map_search.hpp"
#include "service/shard_queries.hpp"
#include "service/sync_service.hpp"
#include "session/write_path.hpp"
#include "storage/write_behind.hpp"

#include <topgun/protocol/codec.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

namespace topgun::server {

using namespace topgun::protocol;

namespace {

// The reference's answers for features this server does not have (issue 5
// lists them as later work): the client gets a clear "not available" in the
// shape it waits for, instead of a timeout.
std::optional<Message> not_available_answer(const Message& request) {
    constexpr std::string_view kSandbox = "not available: WASM sandbox required";
    if (const auto* sql = std::get_if<SqlQuery>(&request)) {
        SqlQueryResp r;
        r.query_id = sql->query_id;
        r.error = "SQL is not available on this server";
        r.code = "FEATURE_DISABLED";
        return r;
    }
    if (const auto* ep = std::get_if<EntryProcess>(&request)) {
        EntryProcessResponse r;
        r.request_id = ep->request_id;
        r.error = "Entry processing " + std::string(kSandbox);
        return r;
    }
    if (const auto* batch = std::get_if<EntryProcessBatch>(&request)) {
        EntryProcessBatchResponse r;
        r.request_id = batch->request_id;
        for (const std::string& key : batch->keys) {
            EntryProcessKeyResult failed;
            failed.error = "Entry processing " + std::string(kSandbox);
            r.results.emplace_back(key, std::move(failed));
        }
        return r;
    }
    if (const auto* reg = std::get_if<RegisterResolver>(&request)) {
        return RegisterResolverResponse{{reg->request_id, false, "Conflict resolvers " + std::string(kSandbox)}};
    }
    if (const auto* unreg = std::get_if<UnregisterResolver>(&request)) {
        return UnregisterResolverResponse{{unreg->request_id, false, "Conflict resolvers " + std::string(kSandbox)}};
    }
    if (const auto* list = std::get_if<ListResolvers>(&request)) {
        ListResolversResponse r;
        r.request_id = list->request_id;
        return r;
    }
    if (const auto* vector = std::get_if<VectorSearch>(&request)) {
        VectorSearchResp r;
        r.id = vector->id;
        r.error = "vector search is not available on this server";
        return r;
    }
    if (const auto* hybrid = std::get_if<HybridSearch>(&request)) {
        HybridSearchResp r;
        r.request_id = hybrid->request_id;
        r.error = "hybrid search is not available on this server";
        return r;
    }
    return std::nullopt;
}

// A SEARCH_RESP for `request_id`, sent from the index's shard to the connection's.
void answer_search(Node& node, const std::shared_ptr<Connection>& self, std::string request_id,
                   std::vector<SearchResultEntry> results) {
    SearchResp resp;
    resp.request_id = std::move(request_id);
    resp.total_count = static_cast<std::uint32_t>(results.size());
    resp.results = std::move(results);
    node.shards()[self->home()].post([self, frame = make_frame(encode_message(resp))] { self->send(frame); });
}

// Kinds only a server sends; a client sending one gets a clear error.
bool is_server_to_client(std::string_view type) {
    static constexpr std::string_view kinds[] = {
        "AUTH_REQUIRED", "AUTH_ACK", "AUTH_FAIL", "DEVICE_ACK", "PONG", "ERROR", "OP_ACK", "OP_REJECTED",
        "SERVER_EVENT", "SERVER_BATCH_EVENT", "SYNC_RESP_ROOT", "SYNC_RESP_BUCKETS", "SYNC_RESP_LEAF",
        "SYNC_RESET_REQUIRED", "ORMAP_SYNC_RESP_ROOT", "ORMAP_SYNC_RESP_BUCKETS", "ORMAP_SYNC_RESP_LEAF",
        "ORMAP_DIFF_RESPONSE", "GC_PRUNE", "QUERY_RESP", "QUERY_UPDATE", "SEARCH_RESP", "SEARCH_UPDATE",
        "TOPIC_MESSAGE", "LOCK_GRANTED", "LOCK_RELEASED", "COUNTER_RESPONSE", "COUNTER_UPDATE", "PARTITION_MAP"};
    return std::find(std::begin(kinds), std::end(kinds), type) != std::end(kinds);
}

}  // namespace

Connection::Connection(Node& node, std::size_t home_shard, Transport& transport, std::string remote)
    : node_(node),
      home_(home_shard),
      transport_(&transport),
      remote_(std::move(remote)),
      id_(node.next_connection_id()),
      phase_(node.config().no_auth ? Phase::Ready : Phase::AwaitingAuth),
      connected_at_(Clock::now()),
      last_ping_(connected_at_),
      bucket_(node.config().op_rate, node.config().op_burst, connected_at_) {}

Connection::~Connection() {
    // Batches still pending when the connection goes will never be acked.
    node_.metrics().writes_in_flight.fetch_sub(static_cast<std::int64_t>(writes_.size()), std::memory_order_relaxed);
}

void Connection::start() {
    node_.hub(home_).add(id_, this);
    node_.metrics().connections_total.fetch_add(1, std::memory_order_relaxed);
    node_.metrics().connections_active.fetch_add(1, std::memory_order_relaxed);
    if (phase_ == Phase::AwaitingAuth) reply(AuthRequired{});
}

void Connection::on_closed() {
    if (transport_ == nullptr && phase_ == Phase::Closed) return;
    transport_ = nullptr;
    phase_ = Phase::Closed;
    node_.hub(home_).remove(id_);
    node_.metrics().connections_active.fetch_sub(1, std::memory_order_relaxed);
    // Its locks go to their next waiters; its waits end.
    for (std::size_t s = 0; s < node_.shards().size(); ++s) {
        node_.shards()[s].post([&node = node_, s, id = id_] {
            node.with_locks(s, [id](LockTable& locks, LockTable::Clock::time_point now) { return locks.drop(id, now); });
        });
    }
    lww_sessions_.clear();
    or_sessions_.clear();
    while (!query_ids_.empty()) {
        const std::string query_id = query_ids_.begin()->first;
        unsubscribe_query(query_id);
    }
    std::vector<std::string> searched;
    for (const auto& [id, map] : search_subs_) {
        if (std::find(searched.begin(), searched.end(), map) == searched.end()) searched.push_back(map);
    }
    node_.drop_search_subscriptions(id_, searched);
    search_subs_.clear();
    if (journal_subscriber_) node_.journal().drop_connection(id_);
}

void Connection::send(SharedFrame frame) {
    if (transport_ != nullptr) transport_->send(std::move(frame));
}

void Connection::close(std::uint16_t code, std::string_view reason) {
    if (transport_ != nullptr) transport_->close(code, reason);
}

template <class M>
void Connection::reply(const M& message) {
    if (transport_ != nullptr) transport_->send(make_frame(encode_message(message)));
}

void Connection::error(std::uint32_t code, std::string message) { reply(ErrorMessage{code, std::move(message), {}}); }

void Connection::tick(Clock::time_point now) {
    if (phase_ == Phase::AwaitingAuth && now - connected_at_ > node_.config().auth_timeout) {
        spdlog::info("connection {} from {}: not authenticated in time, closing", id_, remote_);
        close(close_code::kPolicyViolation, "authentication timeout");
    } else if (phase_ == Phase::Ready && now - last_ping_ > node_.config().idle_timeout) {
        spdlog::info("connection {} from {}: no PING for {} ms, closing", id_, remote_, node_.config().idle_timeout.count());
        close(close_code::kPolicyViolation, "idle timeout");
    }
}

void Connection::on_text_frame() {
    spdlog::debug("connection {}: text frame dropped (the protocol is binary MsgPack)", id_);
    if (phase_ == Phase::Ready) error(400, "text frames are not part of the protocol: send binary MsgPack frames");
}

void Connection::on_frame(std::span<const std::uint8_t> frame) {
    if (phase_ == Phase::Closed) return;
    handle_frame(frame, /*inside_batch=*/false);
}

void Connection::handle_frame(std::span<const std::uint8_t> frame, bool inside_batch) {
    DecodeResult decoded = decode_message(frame, msgpack::Limits{256, node_.config().max_frame_bytes});
    if (!decoded) {
        node_.metrics().frames_malformed.fetch_add(1, std::memory_order_relaxed);
        // Before auth, nothing but AUTH is answered (§1.3).
        if (phase_ == Phase::Ready) error(400, "malformed message dropped: " + decoded.error().message());
        return;
    }
    Message& message = decoded.message();

    if (phase_ == Phase::AwaitingAuth) {
        auto* auth = std::get_if<Auth>(&message);
        if (auth == nullptr) return;  // silently dropped until authenticated
        const auto now_s = static_cast<std::int64_t>(wall_millis() / 1000);
        const auto result = node_.verifier()->verify(auth->token, now_s);
        if (!result.principal) {
            spdlog::info("connection {} from {}: authentication failed: {}", id_, remote_, result.error);
            reply(AuthFail{node_.config().forward_auth_errors ? result.error : std::string("Authentication failed"), {}});
            close(close_code::kPolicyViolation, "authentication failed");
            phase_ = Phase::Closed;
            return;
        }
        caller_ = std::make_shared<const auth::Principal>(*result.principal);
        phase_ = Phase::Ready;
        last_ping_ = Clock::now();
        answered_auth_ = true;
        bind_device(auth->device_token, [this](const DeviceBinding& device) {
            reply(AuthAck{{}, caller_->id, device.device_id, device.minted_token});
        });
        return;
    }

    // Rate limit: an OP_BATCH costs its ops, a BATCH the inner frames it really
    // carries (not its `count` field), anything else 1. An oversized BATCH is
    // charged before it is refused, so a stream of them still runs into 429.
    if (!inside_batch) {
        std::size_t cost = 1;
        std::size_t batch_items = 0;
        if (const auto* batch = std::get_if<OpBatch>(&message)) cost = std::max<std::size_t>(1, batch->ops.size());
        if (const auto* batch = std::get_if<Batch>(&message)) {
            batch_items = count_batch_items(batch->data);
            cost = std::max<std::size_t>(1, batch_items);
        }
        if (!bucket_.try_take(cost, Clock::now())) {
            node_.metrics().frames_rate_limited.fetch_add(1, std::memory_order_relaxed);
            error(429, "rate limit exceeded, slow down");
            return;
        }
        if (batch_items > kMaxBatchItems) {
            error(413, "batch exceeds maximum inner item count (" + std::to_string(kMaxBatchItems) + ")");
            return;
        }
    }

    if (auto* ping = std::get_if<Ping>(&message)) {
        last_ping_ = Clock::now();
        reply(Pong{ping->timestamp, wall_millis()});
    } else if (auto* op_batch = std::get_if<OpBatch>(&message)) {
        handle_write(std::move(op_batch->ops), op_batch->write_concern);
    } else if (auto* client_op = std::get_if<ClientOpMessage>(&message)) {
        std::vector<ClientOp> ops;
        ops.push_back(std::move(static_cast<ClientOp&>(*client_op)));
        handle_write(std::move(ops), std::nullopt);
    } else if (auto* envelope = std::get_if<Batch>(&message)) {
        if (inside_batch) {
            error(400, "a BATCH cannot contain another BATCH");
            return;
        }
        handle_batch(envelope->data);
    } else if (auto* sync_init = std::get_if<SyncInit>(&message)) {
        handle_sync_init(false, sync_init->map_name);
    } else if (auto* bucket_req = std::get_if<MerkleReqBucket>(&message)) {
        handle_bucket_request(false, bucket_req->map_name, bucket_req->path);
    } else if (auto* or_init = std::get_if<ORMapSyncInit>(&message)) {
        handle_sync_init(true, or_init->map_name);
    } else if (auto* or_bucket_req = std::get_if<ORMapMerkleReqBucket>(&message)) {
        handle_bucket_request(true, or_bucket_req->map_name, or_bucket_req->path);
    } else if (auto* push = std::get_if<ORMapPushDiff>(&message)) {
        handle_or_push(std::move(*push));
    } else if (auto* diff_req = std::get_if<ORMapDiffRequest>(&message)) {
        handle_or_diff_request(std::move(*diff_req));
    } else if (auto* counter_req = std::get_if<CounterRequest>(&message)) {
        handle_counter(counter_req->name, nullptr);
    } else if (auto* counter_sync = std::get_if<CounterSync>(&message)) {
        handle_counter(counter_sync->name, &counter_sync->state);
    } else if (auto* query_sub = std::get_if<QuerySub>(&message)) {
        handle_query_sub(std::move(*query_sub));
    } else if (auto* query_unsub = std::get_if<QueryUnsub>(&message)) {
        unsubscribe_query(query_unsub->query_id);
    } else if (std::holds_alternative<QuerySyncInit>(message)) {
        // Per-query Merkle sync is retired in the reference too (§8.3): nothing to answer.
    } else if (auto* search = std::get_if<Search>(&message)) {
        handle_search(std::move(*search));
    } else if (auto* search_sub = std::get_if<SearchSub>(&message)) {
        handle_search_sub(std::move(*search_sub));
    } else if (auto* search_unsub = std::get_if<SearchUnsub>(&message)) {
        handle_search_unsub(*search_unsub);
    } else if (auto* journal_sub = std::get_if<JournalSubscribe>(&message)) {
        handle_journal_subscribe(std::move(*journal_sub));
    } else if (auto* journal_unsub = std::get_if<JournalUnsubscribe>(&message)) {
        node_.journal().unsubscribe(id_, journal_unsub->subscription_id);
    } else if (auto* journal_read = std::get_if<JournalRead>(&message)) {
        handle_journal_read(*journal_read);
    } else if (auto* sub = std::get_if<TopicSub>(&message)) {
        if (valid_topic(sub->topic)) node_.hub(home_).subscribe(Channel::Topic, sub->topic, id_);
    } else if (auto* unsub = std::get_if<TopicUnsub>(&message)) {
        if (valid_topic(unsub->topic)) node_.hub(home_).unsubscribe(Channel::Topic, unsub->topic, id_);
    } else if (auto* pub = std::get_if<TopicPub>(&message)) {
        if (valid_topic(pub->topic)) {
            // Every subscriber but the publisher; one publisher's messages keep
            // their order (posts from one shard to another are FIFO).
            node_.deliver(Channel::Topic, pub->topic,
                          {make_frame(encode_message(TopicMessage{pub->topic, std::move(pub->data), {}, wall_millis()}))}, id_);
        }
    } else if (auto* lock_req = std::get_if<LockRequest>(&message)) {
        handle_lock_request(std::move(*lock_req));
    } else if (auto* lock_rel = std::get_if<LockRelease>(&message)) {
        handle_lock_release(std::move(*lock_rel));
    } else if (auto* map_req = std::get_if<PartitionMapRequest>(&message)) {
        const std::uint32_t have = map_req->payload && map_req->payload->current_version ? *map_req->payload->current_version : 0;
        if (have < kPartitionMapVersion) reply(partition_map());
    } else if (std::holds_alternative<Auth>(message)) {
        // D7: a token-bearing client on a no-auth server waits for AUTH_ACK.
        // In JWT mode the client's second AUTH (sent on AUTH_REQUIRED) is ignored.
        if (node_.config().no_auth && !answered_auth_) {
            answered_auth_ = true;
            reply(AuthAck{});
        }
    } else if (auto* hello = std::get_if<DeviceHello>(&message)) {
        if (device_id_) {
            reply(DeviceAck{device_id_, {}});  // a repeat: the identity of this connection
        } else {
            bind_device(hello->device_token, [this](const DeviceBinding& device) {
                reply(DeviceAck{device.device_id, device.minted_token});
            });
        }
    } else if (std::holds_alternative<ClientApplyAck>(message)) {
        // The tombstone frontier is not used (§5.5): nothing to answer.
    } else if (auto answer = not_available_answer(message)) {
        reply(*answer);
    } else {
        const std::string_view type = type_name(message);
        if (is_server_to_client(type)) {
            error(400, std::string(type) + " is a server-to-client message");
        } else {
            error(501, "not implemented: " + std::string(type));
        }
    }
}

void Connection::handle_journal_subscribe(JournalSubscribe request) {
    if (request.request_id.empty()) {
        error(400, "JOURNAL_SUBSCRIBE needs a requestId (it names the subscription)");
        return;
    }
    std::optional<std::uint64_t> from;
    if (request.from_sequence) {
        from = EventJournal::parse_sequence(*request.from_sequence);
        if (!from) {
            error(400, "JOURNAL_SUBSCRIBE: fromSequence \"" + *request.from_sequence + "\" is not a decimal sequence number");
            return;
        }
    }
    journal_subscriber_ = true;
    node_.journal().subscribe(id_, home_, std::move(request.request_id),
                              JournalFilter{std::move(request.map_name), std::move(request.types), readable_maps()}, from);
}

void Connection::handle_journal_read(const JournalRead& request) {
    // As the reference: an unreadable fromSequence reads from the start. A page
    // holds at most what the journal keeps.
    const std::uint64_t from = EventJournal::parse_sequence(request.from_sequence).value_or(0);
    const std::size_t limit = std::min<std::size_t>(request.limit.value_or(100), node_.config().journal_capacity);
    send(make_frame(node_.journal().read(request.request_id, from, limit, request.map_name, readable_maps())));
}

// Topic and lock names (PROTOCOL.md §10.1): 1 to 256 characters of
// [A-Za-z0-9_-.:/]. A bad topic name gets ERROR 400 (the reference drops it
// silently); a bad lock name is a denial.
bool Connection::valid_name(std::string_view name) {
    return !name.empty() && name.size() <= 256 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.' || c == ':' || c == '/';
    });
}

bool Connection::valid_topic(std::string_view topic) {
    const bool ok = valid_name(topic);
    if (!ok) error(400, "invalid topic name: 1 to 256 characters of letters, digits and _-.:/");
    return ok;
}

void Connection::handle_lock_request(LockRequest request) {
    if (!valid_name(request.name)) {
        reply(LockReleased{std::move(request.request_id), std::move(request.name), false});
        return;
    }
    const std::size_t owner = node_.shards().owner_of(request.name);
    node_.shards()[owner].post([&node = node_, owner, client = LockClient{id_, home_}, request = std::move(request)]() mutable {
        node.with_locks(owner, [&](LockTable& locks, LockTable::Clock::time_point now) {
            return locks.request(request.name, client, std::move(request.request_id), request.ttl, now);
        });
    });
}

void Connection::handle_lock_release(LockRelease release) {
    std::string request_id = release.request_id.value_or("");
    if (!valid_name(release.name)) {
        reply(LockReleased{std::move(request_id), std::move(release.name), false});
        return;
    }
    const std::size_t owner = node_.shards().owner_of(release.name);
    auto self = shared_from_this();
    node_.shards()[owner].post([&node = node_, owner, self, release = std::move(release), request_id = std::move(request_id)]() mutable {
        bool released = false;
        node.with_locks(owner, [&](LockTable& locks, LockTable::Clock::time_point now) {
            return locks.release(release.name, release.fencing_token, released, now);
        });
        node.shards()[self->home()].post([self, request_id = std::move(request_id), name = std::move(release.name), released]() mutable {
            self->reply(LockReleased{std::move(request_id), std::move(name), released});
        });
    });
}

void Connection::handle_batch(std::span<const std::uint8_t> data) {
    const auto items = unpack_batch(data);
    if (!items) return;  // checked when charged
    for (const auto& item : *items) {
        if (phase_ != Phase::Ready) return;
        handle_frame(item, /*inside_batch=*/true);
    }
}

void Connection::handle_write(std::vector<ClientOp> ops, std::optional<WriteConcern> requested) {
    // Writes faster than the store commits would queue without bound (and make
    // shutdown drain for minutes): past the backlog bound, refuse the batch
    // unacknowledged, so the client's op log sends it again later.
    if (storage_backlogged(node_)) {
        node_.metrics().writes_shed.fetch_add(1, std::memory_order_relaxed);
        error(429, "server overloaded, try again later: storage is behind");
        return;
    }
    // Acked strictly in arrival order: each part's report tries the queue.
    writes_.push_back(submit_write(node_, WriteOrigin{id_, home_, caller_}, std::move(ops), requested,
                                   [self = shared_from_this()](PendingWrite&) { self->complete_writes(); }));
    if (writes_.size() >= node_.config().max_inflight_batches && transport_ != nullptr && !reading_paused_) {
        reading_paused_ = true;
        transport_->pause_reading();
    }
    complete_writes();
}

void Connection::complete_writes() {
    while (!writes_.empty() && writes_.front()->done()) {
        const WriteAnswer answer = answer_write(node_, *writes_.front());
        writes_.pop_front();
        for (const OpRejection& r : answer.rejected) reply(OpRejected{r.op_id, r.reason, r.code});
        // An access refusal is also an ERROR, as the reference answers it (its clients look for one).
        const auto denied = std::find_if(answer.rejected.begin(), answer.rejected.end(), [](const OpRejection& r) { return r.by_policy; });
        if (denied != answer.rejected.end()) error(403, denied->reason);
        if (answer.persist_failed) {
            error(500, "storage commit failed: the writes are applied in memory but not durable yet");
        }
        reply(answer.ack);
    }
    if (reading_paused_ && writes_.size() < node_.config().max_inflight_batches) {
        reading_paused_ = false;
        if (transport_ != nullptr) transport_->resume_reading();
    }
}

void Connection::hold(const std::string& map_name) {
    node_.hub(home_).subscribe(Channel::MapHolders, map_name, id_);
}

void Connection::with_session(bool is_or, const std::string& map_name, std::function<void(const merkle::HashTrie&)> then) {
    const MapKind kind = is_or ? MapKind::Or : MapKind::Lww;
    auto self = shared_from_this();
    node_.scatter(
        home_, [kind, map_name](ShardState& s) { return leaf_sums(s, kind, map_name); },
        [self, is_or, map_name, then = std::move(then)](std::vector<LeafSums>& all) {
            if (self->phase_ == Phase::Closed) return;
            merkle::HashTrie trie(merkle::kDefaultDepth);
            for (const LeafSums& sums : all) add_leaf_sums(trie, sums);
            auto& sessions = is_or ? self->or_sessions_ : self->lww_sessions_;
            auto it = sessions.find(map_name);
            if (it == sessions.end()) {
                it = sessions.try_emplace(map_name, std::move(trie)).first;
            } else {
                it->second = std::move(trie);
            }
            then(it->second);
        });
}

void Connection::handle_sync_init(bool is_or, const std::string& map_name) {
    if (map_name.empty() || is_reserved_map_name(map_name)) {
        error(400, "SYNC_INIT: map name \"" + map_name + "\" is empty or reserved");
        return;
    }
    if (!may(Access::Read, map_name)) return;
    hold(map_name);
    with_session(is_or, map_name, [this, is_or, map_name](const merkle::HashTrie& trie) {
        const Timestamp now = node_.state(home_).clock().now();
        if (is_or) {
            reply(ORMapSyncRespRoot{map_name, trie.root_hash(), now, {}, {}});
        } else {
            reply(SyncRespRoot{map_name, trie.root_hash(), now});
        }
    });
}

void Connection::handle_bucket_request(bool is_or, const std::string& map_name, const std::string& path) {
    if (!valid_merkle_path(path)) {
        error(400, "Merkle path \"" + path + "\" is invalid: at most " + std::to_string(merkle::kDefaultDepth) +
                       " lowercase hex digits");
        return;
    }
    if (!may(Access::Read, map_name)) return;
    if (path.size() == merkle::kDefaultDepth) {
        // Leaves are read live from every shard.
        auto self = shared_from_this();
        if (is_or) {
            node_.scatter(
                home_, [map_name, path](ShardState& s) { return or_leaf_entries(s, map_name, path); },
                [self, map_name, path](std::vector<std::vector<ORMapEntry>>& all) {
                    ORMapSyncRespLeaf leaf{map_name, path, {}, {}};
                    for (auto& part : all) std::move(part.begin(), part.end(), std::back_inserter(leaf.entries));
                    self->reply(leaf);
                });
        } else {
            node_.scatter(
                home_, [map_name, path](ShardState& s) { return lww_leaf_records(s, map_name, path); },
                [self, map_name, path](std::vector<std::vector<SyncLeafRecord>>& all) {
                    SyncRespLeaf leaf{map_name, path, {}};
                    for (auto& part : all) std::move(part.begin(), part.end(), std::back_inserter(leaf.records));
                    self->reply(leaf);
                });
        }
        return;
    }
    auto answer = [this, is_or, map_name, path](const merkle::HashTrie& trie) {
        StringMap<std::uint32_t> buckets = wire_buckets(trie.buckets(path));
        if (is_or) {
            reply(ORMapSyncRespBuckets{{map_name, path, std::move(buckets)}});
        } else {
            reply(SyncRespBuckets{{map_name, path, std::move(buckets)}});
        }
    };
    const auto& sessions = is_or ? or_sessions_ : lww_sessions_;
    if (const auto it = sessions.find(map_name); it != sessions.end()) {
        answer(it->second);
    } else {
        with_session(is_or, map_name, answer);  // a bucket request without SYNC_INIT first
    }
}

void Connection::handle_or_push(ORMapPushDiff push) {
    if (push.map_name.empty() || is_reserved_map_name(push.map_name)) {
        error(400, "ORMAP_PUSH_DIFF: map name \"" + push.map_name + "\" is empty or reserved");
        return;
    }
    if (!may(Access::Write, push.map_name)) return;
    // Tombstones in a push remove records: they need remove access too.
    const bool removes = std::any_of(push.entries.begin(), push.entries.end(), [](const ORMapEntry& e) { return !e.tombstones.empty(); });
    if (removes && !may(Access::Remove, push.map_name)) return;
    const std::size_t shard_count = node_.shards().size();
    std::vector<std::vector<ORMapEntry>> parts(shard_count);
    for (ORMapEntry& e : push.entries) parts[node_.shards().owner_of(e.key)].push_back(std::move(e));
    const std::uint64_t self_id = id_;
    for (std::size_t owner = 0; owner < shard_count; ++owner) {
        if (parts[owner].empty()) continue;
        node_.shards()[owner].post([&node = node_, owner, map = push.map_name, entries = std::move(parts[owner]), self_id]() mutable {
            WriteOutcome out;
            out.collect_journal = node.journal().enabled();
            apply_or_push(node.state(owner), map, entries, out);
            node.journal().append(std::move(out.journal));
            deliver_events(node, out.events, self_id);
            if (auto* wb = node.persistence(); wb != nullptr && !out.mutations.empty()) wb->submit(std::move(out.mutations));
        });
    }
}

void Connection::handle_or_diff_request(ORMapDiffRequest request) {
    if (!may(Access::Read, request.map_name)) return;
    auto self = shared_from_this();
    auto keys = std::make_shared<std::vector<std::string>>(std::move(request.keys));
    const std::string map_name = request.map_name;
    node_.scatter(
        home_,
        [this_node = &node_, map_name, keys](ShardState& s) {
            // Every requested key gets an entry, empty when nothing is stored.
            std::vector<ORMapEntry> out;
            const OrMapState* state = s.find_or(map_name);
            for (const std::string& key : *keys) {
                if (&this_node->state(this_node->shards().owner_of(key)) != &s) continue;
                out.push_back(state != nullptr ? or_entry(*state, key) : ORMapEntry{key, {}, {}});
            }
            return out;
        },
        [self, map_name](std::vector<std::vector<ORMapEntry>>& all) {
            ORMapDiffResponse response{map_name, {}, {}};
            for (auto& part : all) std::move(part.begin(), part.end(), std::back_inserter(response.entries));
            self->reply(response);
        });
}

void Connection::handle_counter(const std::string& name, const PNCounterStateData* remote) {
    if (name.empty()) {
        error(400, "counter name must not be empty");
        return;
    }
    node_.hub(home_).subscribe(Channel::Counter, name, id_);
    const std::size_t owner = node_.shards().owner_of(name);
    auto self = shared_from_this();
    std::optional<PNCounterState> incoming;
    if (remote != nullptr) incoming = remote->to_state();
    node_.shards()[owner].post([&node = node_, owner, name, incoming = std::move(incoming), self]() {
        PNCounter& counter = node.state(owner).counter(name);
        bool changed = false;
        if (incoming) changed = counter.merge(*incoming);
        PNCounterStateData state = PNCounterStateData::from(counter.state());
        if (changed) {
            if (auto* wb = node.persistence()) {
                wb->submit({storage::MetaPut{"counter", name, encode_body(state)}});
            }
            node.deliver(Channel::Counter, name, {make_frame(encode_message(CounterUpdate{{name, state}}))}, self->id());
        }
        node.shards()[self->home()].post([self, name, state = std::move(state), was_sync = incoming.has_value()] {
            if (was_sync) {
                self->reply(CounterUpdate{{name, state}});
            } else {
                self->reply(CounterResponse{{name, state}});
            }
        });
    });
}

void Connection::handle_search(Search request) {
    if (request.map_name.empty() || is_reserved_map_name(request.map_name)) {
        reply(SearchResp{request.request_id, {}, 0, "map name \"" + request.map_name + "\" is empty or reserved"});
        return;
    }
    if (!may(Access::Read, request.map_name)) {
        reply(SearchResp{request.request_id, {}, 0, "access denied: read of map \"" + request.map_name + "\""});
        return;
    }
    auto self = shared_from_this();
    const std::string map = request.map_name;  // the lambda below takes `request` before the call reads it
    node_.with_map_search(map, [&node = node_, self, request = std::move(request)](MapSearch& index) {
        answer_search(node, self, request.request_id, index.search(request.query, request.options.value_or(SearchOptions{})));
    });
}

void Connection::handle_search_sub(SearchSub sub) {
    if (sub.subscription_id.empty() || sub.map_name.empty() || is_reserved_map_name(sub.map_name)) {
        reply(SearchResp{sub.subscription_id, {}, 0, "SEARCH_SUB needs a subscriptionId and a map name that is not reserved"});
        return;
    }
    if (!may(Access::Read, sub.map_name)) {
        reply(SearchResp{sub.subscription_id, {}, 0, "access denied: read of map \"" + sub.map_name + "\""});
        return;
    }
    if (const auto it = search_subs_.find(sub.subscription_id); it != search_subs_.end() && it->second != sub.map_name) {
        handle_search_unsub(SearchUnsub{sub.subscription_id});  // the id moves to another map
    }
    search_subs_[sub.subscription_id] = sub.map_name;
    auto self = shared_from_this();
    const SearchSubscriber who{id_, home_, sub.subscription_id};
    const std::string map = sub.map_name;  // the lambda below takes `sub` before the call reads it
    node_.with_map_search(map, [&node = node_, self, who, sub = std::move(sub)](MapSearch& index) {
        answer_search(node, self, sub.subscription_id, index.subscribe(who, sub.query, sub.options.value_or(SearchOptions{})));
    });
}

// Nothing is answered (the reference sends an OP_ACK, which a client's op log would take for its own).
void Connection::handle_search_unsub(const SearchUnsub& unsub) {
    const auto it = search_subs_.find(unsub.subscription_id);
    if (it == search_subs_.end()) return;
    const std::string map = std::move(it->second);
    search_subs_.erase(it);
    node_.with_map_search(map, [connection = id_, subscription = unsub.subscription_id](MapSearch& index) {
        index.unsubscribe(connection, subscription);
    });
}

std::optional<Value> Connection::auth_value() const {
    if (!caller_) return std::nullopt;
    return principal_value(caller_.get());
}

MapReadable Connection::readable_maps() const {
    // The journal spans maps: its readers see the events of the maps they may read.
    return [&access = node_.access(), caller = caller_](std::string_view map) { return access.allows(caller.get(), Access::Read, map); };
}

bool Connection::may(Access access, const std::string& map) {
    if (node_.access().allows(caller_.get(), access, map)) return true;
    error(403, std::string("access denied: ") + (access == Access::Read ? "read of" : access == Access::Write ? "write to" : "remove from") + " map \"" + map + "\"");
    return false;
}

void Connection::handle_query_sub(QuerySub sub) {
    if (sub.query_id.empty()) {
        error(400, "QUERY_SUB: queryId must not be empty");
        return;
    }
    if (sub.map_name.empty() || is_reserved_map_name(sub.map_name)) {
        reply(QueryResp{sub.query_id, {}, {}, {}, {}, {}, "map name \"" + sub.map_name + "\" is empty or reserved", "INVALID_QUERY"});
        return;
    }
    if (!may(Access::Read, sub.map_name)) {
        reply(QueryResp{sub.query_id, {}, {}, {}, {}, {}, "access denied: read of map \"" + sub.map_name + "\"", "ACCESS_DENIED"});
        return;
    }
    // The TS client sends `fields` inside the query; the payload's copy counts when the query has none.
    if (!sub.query.projection) sub.query.projection = std::move(sub.projection);
    unsubscribe_query(sub.query_id);  // a repeated id replaces its subscription

    const std::size_t shard_count = node_.shards().size();
    const std::uint64_t subscription = node_.next_subscription_id();
    auto self = shared_from_this();
    const std::optional<Value> principal = auth_value();
    auto live = std::make_unique<QuerySubscription>(sub.query_id, sub.query, principal, shard_count,
                                                     [this](QueryUpdate update) { reply(update); });
    if (const auto& refused = live->refused()) {
        reply(QueryResp{sub.query_id, {}, {}, {}, {}, {}, *refused, "INVALID_QUERY"});
        return;
    }
    hold(sub.map_name);  // as the reference: a query subscriber also gets the map's SERVER_EVENTs
    const QuerySubscriber who{id_, home_, subscription};
    for (std::size_t s = 0; s < shard_count; ++s) {
        node_.shards()[s].post([&node = node_, s, self, who, map = sub.map_name, q = live->shard_query(),
                                options = live->shard_options(principal)]() mutable {
            ShardState& state = node.state(s);
            query::LiveQueryAdded added = state.queries().add(state.lww(map), map, q, std::move(options), who, state.indexes(map));
            node.shards()[who.home].post([self, s, subscription = who.subscription, rows = std::move(added.initial.rows)]() mutable {
                self->on_query_rows(s, subscription, std::move(rows));
            });
        });
    }
    query_ids_[sub.query_id] = subscription;
    queries_.emplace(subscription, std::move(live));
}

void Connection::unsubscribe_query(const std::string& query_id) {
    const auto it = query_ids_.find(query_id);
    if (it == query_ids_.end()) return;
    const std::uint64_t subscription = it->second;
    query_ids_.erase(it);
    queries_.erase(subscription);
    for (std::size_t s = 0; s < node_.shards().size(); ++s) {
        node_.shards()[s].post([&node = node_, s, subscription] { node.state(s).queries().remove(subscription); });
    }
}

void Connection::on_query_rows(std::size_t shard, std::uint64_t subscription, std::vector<QueryResultEntry> rows) {
    const auto it = queries_.find(subscription);
    if (it == queries_.end()) return;
    if (auto resp = it->second->on_shard_rows(shard, std::move(rows))) reply(*resp);
}

void Connection::on_query_events(std::size_t shard, std::uint64_t subscription, std::vector<ShardQueryEvent>& events) {
    const auto it = queries_.find(subscription);
    if (it != queries_.end()) it->second->on_shard_events(shard, events);
}

void Connection::bind_device(const std::optional<std::string>& presented, std::function<void(const DeviceBinding&)> then) {
    auto self = shared_from_this();
    node_.shards()[0].post([&node = node_, self, presented, principal = caller_ ? std::optional(caller_->id) : std::nullopt, then = std::move(then)]() mutable {
        DeviceBinding binding = node.state(0).devices().bind(principal, presented);
        if (binding.persist) {
            if (auto* wb = node.persistence()) wb->submit({std::move(*binding.persist)});
            binding.persist.reset();
        }
        node.shards()[self->home()].post([self, binding = std::move(binding), then = std::move(then)] {
            if (self->phase_ == Phase::Closed) return;
            self->device_id_ = binding.device_id;
            then(binding);
        });
    });
}

PartitionMap Connection::partition_map() const {
    PartitionMap map;
    map.version = kPartitionMapVersion;
    map.partition_count = kPartitionCount;
    const std::string& node_id = node_.config().node_id;
    map.nodes.push_back(NodeInfo{node_id, NodeEndpoints{"ws://" + node_.config().host + ":" + std::to_string(node_.public_port()), {}},
                                 NodeStatus::Active});
    for (std::uint32_t p = 0; p < kPartitionCount; ++p) map.partitions.push_back(PartitionInfo{p, node_id, {}});
    map.generated_at = static_cast<std::int64_t>(wall_millis());
    return map;
}

}  // namespace topgun::server
