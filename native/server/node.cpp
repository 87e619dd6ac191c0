#include "node.hpp"

#include "auth/jwt.hpp"
#include "service/crdt_service.hpp"
#include "service/map_search.hpp"
#include "session/connection.hpp"
#include "storage/store.hpp"
#include "storage/write_behind.hpp"

#include <topgun/protocol/codec.hpp>

#include <spdlog/spdlog.h>

#include <thread>

namespace topgun::server {
namespace {

std::size_t worker_count(const ServerConfig& c) {
    if (c.workers != 0) return c.workers;
    return std::max(1u, std::thread::hardware_concurrency());
}

// Routes every stored record to the shard that owns its key.
class ShardLoader final : public storage::LoadSink {
public:
    explicit ShardLoader(Node& node) : node_(node) {}

    void lww(std::string_view map, std::string_view key, LWWRecord&& record) override {
        owner(key).lww(map).merge(key, record);
        ++records;
    }
    void or_key(std::string_view map, std::string_view key, std::vector<ORRecord>&& recs) override {
        for (const ORRecord& r : recs) node_.or_tags().claim(map, r.tag, key);
        owner(key).or_map(map).map.merge_key(key, recs);
        records += recs.size();
    }
    void or_tombstone(std::string_view map, std::string_view tag) override {
        // The key a stored tombstone belonged to is not kept, so every shard
        // learns it (a tombstone only ever suppresses its own tag).
        for (std::size_t s = 0; s < node_.shards().size(); ++s) node_.state(s).or_map(map).map.apply_tombstone(tag);
    }
    void meta(std::string_view ns, std::string_view key, std::span<const std::uint8_t> value) override {
        if (ns == DeviceRegistry::kMetaNamespace) {
            node_.state(0).devices().restore(key, std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
            return;
        }
        if (ns == IndexCatalog::kMetaNamespace) {
            node_.index_catalog().restore(std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
            return;
        }
        if (ns == PolicyStore::kMetaNamespace) {
            node_.access().restore(key, std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
            return;
        }
        if (ns == kKeyTombstonesNamespace) {
            if (auto entry = parse_key_tombstones(key, value)) {
                OrMapState& state = owner(entry->key).or_map(entry->map);
                for (const std::string& tag : entry->tags) {
                    state.note_tombstone(entry->key, tag);
                    node_.or_tags().claim(entry->map, tag, entry->key);  // a removed tag stays its key's
                }
            } else {
                spdlog::warn("stored OR tombstone list \"{}\" is unreadable; skipped", key);
            }
            return;
        }
        if (ns != "counter") return;
        protocol::PNCounterStateData state;
        msgpack::Error error;
        if (!protocol::decode_body(value, state, error)) {
            spdlog::warn("stored counter \"{}\" is unreadable ({}); starting it from zero", key, error.message());
            return;
        }
        owner(key).counter(key).merge(state.to_state());
    }

    std::size_t records = 0;

private:
    ShardState& owner(std::string_view key) { return node_.state(node_.shards().owner_of(key)); }
    Node& node_;
};

}  // namespace

std::string_view to_string(Lifecycle l) noexcept {
    switch (l) {
        case Lifecycle::Starting: return "starting";
        case Lifecycle::Ready: return "ready";
        case Lifecycle::Draining: return "draining";
        case Lifecycle::Stopped: return "stopped";
    }
    return "?";
}

Node::Node(ServerConfig config, std::unique_ptr<storage::Store> store, std::unique_ptr<auth::JwtVerifier> verifier)
    : config_(std::move(config)),
      shards_(worker_count(config_)),
      journal_(config_.journal_capacity, config_.journal_enabled,
               [this](std::size_t home, std::uint64_t connection, std::vector<SharedFrame> frames) {
                   shards_[home].post([this, home, connection, frames = std::move(frames)] {
                       if (Connection* c = hub(home).find(connection)) {
                           for (const SharedFrame& f : frames) c->send(f);
                       }
                   });
               }),
      access_(config_.admin_subjects),
      store_(std::move(store)),
      verifier_(std::move(verifier)) {
    HLCOptions clock_options;
    clock_options.max_drift_ms = config_.max_drift_ms;
    for (std::size_t s = 0; s < shards_.size(); ++s) {
        states_.push_back(std::make_unique<ShardState>(config_.node_id, clock_options, or_tags_));
        hubs_.push_back(std::make_unique<ShardHub>());
        lock_tables_.push_back(std::make_unique<LockTable>(config_.lock_wait_limit));
        lock_timers_.push_back(std::make_unique<boost::asio::steady_timer>(shards_[s].io()));
        states_[s]->queries().set_on_pending([this, s] { shards_[s].post([this, s] { flush_query_events(s); }); });
        states_[s]->search_feeds().set_on_pending([this, s] { shards_[s].post([this, s] { flush_search_feeds(s); }); });
    }
    searches_.resize(shards_.size());
    if (store_ != nullptr) {
        storage::WriteBehind::Options options;
        options.max_delay = config_.commit_interval;
        options.max_batch = config_.commit_batch;
        write_behind_ = std::make_unique<storage::WriteBehind>(
            *store_, options, [](const std::string& message) { spdlog::error("storage: {}", message); });
    }
    last_gc_ = std::chrono::steady_clock::now();
}

Node::~Node() { stop(); }

std::size_t Node::load() {
    if (store_ == nullptr) return 0;
    ShardLoader loader(*this);
    store_->load(loader);
    // Before the shards run: built here on this thread.
    for (const IndexDescriptor& index : index_catalog_.list()) {
        for (std::size_t s = 0; s < shards_.size(); ++s) state(s).add_index(index);
    }
    return loader.records;
}

void Node::start(bool threads) {
    if (started_) return;
    started_ = true;
    const auto shortest = std::min(config_.auth_timeout, config_.idle_timeout);
    const auto reap_every = std::clamp(shortest / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
    for (std::size_t s = 0; s < shards_.size(); ++s) {
        auto timer = std::make_unique<boost::asio::steady_timer>(shards_[s].io());
        auto* t = timer.get();
        timers_.push_back(std::move(timer));
        // The reaper: auth deadlines and idle connections.
        auto reap = std::make_shared<std::function<void()>>();
        *reap = [this, s, t, reap_every, reap_weak = std::weak_ptr(reap)] {
            t->expires_after(reap_every);
            t->async_wait([this, s, reap_weak](boost::system::error_code ec) {
                if (ec) return;
                const auto now = Connection::Clock::now();
                hub(s).for_each([now](Connection& c) { c.tick(now); });
                if (auto r = reap_weak.lock()) (*r)();
            });
        };
        reapers_.push_back(reap);
        shards_[s].post([reap] { (*reap)(); });
    }
    schedule_maintenance();
    // The full-text indexes the catalog names are built now, not on the first search.
    for (const IndexDescriptor& index : index_catalog_.list()) {
        if (index.type == IndexDescriptor::Type::Inverted) with_map_search(index.map_name, [](MapSearch&) {});
    }
    if (threads) shards_.start();
}

void Node::schedule_maintenance() {
    auto timer = std::make_unique<boost::asio::steady_timer>(shards_[0].io());
    auto* t = timer.get();
    timers_.push_back(std::move(timer));
    auto tick = std::make_shared<std::function<void()>>();
    *tick = [this, t, tick_weak = std::weak_ptr(tick)] {
        t->expires_after(config_.ttl_sweep_interval);
        t->async_wait([this, tick_weak](boost::system::error_code ec) {
            if (ec) return;
            run_maintenance();
            if (auto r = tick_weak.lock()) (*r)();
        });
    };
    reapers_.push_back(tick);
    shards_[0].post([tick] { (*tick)(); });
}

void Node::run_maintenance() {
    std::optional<Timestamp> cutoff;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_gc_ >= config_.gc_interval) {
        last_gc_ = now;
        const auto wall = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                         std::chrono::system_clock::now().time_since_epoch())
                                                         .count());
        const auto retention = static_cast<std::uint64_t>(config_.tombstone_retention.count());
        if (wall > retention) cutoff = Timestamp{wall - retention, 0, ""};
    }
    scatter(
        0,
        [this, cutoff](ShardState& s) {
            std::vector<storage::Mutation> mutations = maintain(s, cutoff);
            const std::size_t n = mutations.size();
            if (write_behind_ != nullptr && n != 0) write_behind_->submit(std::move(mutations));
            return n;
        },
        [this, cutoff](std::vector<std::size_t>& dropped) {
            std::size_t total = 0;
            for (std::size_t n : dropped) total += n;
            if (total != 0) spdlog::info("maintenance: dropped {} expired records and old tombstones", total);
            // Replicas prune their own tombstones too, so their trees keep matching ours.
            if (cutoff) deliver_to_all(make_frame(protocol::encode_message(protocol::GcPrune{*cutoff})));
        });
}

void Node::close_all_connections(std::chrono::milliseconds grace) {
    for (std::size_t s = 0; s < shards_.size(); ++s) {
        shards_[s].post([this, s] {
            hub(s).for_each([](Connection& c) { c.close(close_code::kGoingAway, "server shutting down"); });
        });
    }
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (metrics_.connections_active.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

void Node::stop() {
    if (stopped_) return;
    stopped_ = true;
    set_lifecycle(Lifecycle::Stopped);
    shards_.halt();
    reapers_.clear();
    timers_.clear();
    lock_timers_.clear();
    if (write_behind_ != nullptr) write_behind_->stop();
}

void Node::deliver(Channel channel, const std::string& name, std::vector<SharedFrame> frames, std::uint64_t exclude) {
    auto shared = std::make_shared<const std::vector<SharedFrame>>(std::move(frames));
    for (std::size_t s = 0; s < shards_.size(); ++s) {
        // A shard where nobody listens gets no task; the caller's own shard
        // sends at once (its frames stay in order: they all go this way).
        if (!hub(s).listened(channel)) continue;
        auto send = [this, s, channel, name, shared, exclude] {
            hub(s).for_subscribers(channel, name, exclude, [&](Connection& c) {
                for (const SharedFrame& f : *shared) c.send(f);
            });
        };
        if (shards_[s].on_own_thread()) {
            send();
        } else {
            shards_[s].post(std::move(send));
        }
    }
}

void Node::deliver_lock_notices(std::vector<LockNotice> notices) {
    for (LockNotice& n : notices) {
        Bytes frame = n.granted
                          ? protocol::encode_message(protocol::LockGranted{std::move(n.request_id), std::move(n.name), n.fencing_token})
                          : protocol::encode_message(protocol::LockReleased{std::move(n.request_id), std::move(n.name), false});
        shards_[n.to.home].post([this, to = n.to, f = make_frame(std::move(frame))] {
            if (Connection* c = hub(to.home).find(to.connection)) c->send(f);
        });
    }
}

void Node::arm_lock_timer(std::size_t shard) {
    const auto next = lock_tables_[shard]->next_deadline();
    auto& timer = *lock_timers_[shard];
    if (!next) {
        timer.cancel();
        return;
    }
    timer.expires_at(*next);
    timer.async_wait([this, shard](boost::system::error_code ec) {
        if (ec) return;  // re-armed or cancelled meanwhile
        with_locks(shard, [](LockTable& t, LockTable::Clock::time_point now) { return t.expire(now); });
    });
}

void Node::flush_query_events(std::size_t shard) {
    for (auto& [to, pending] : state(shard).queries().take()) {
        const std::size_t home = to;  // a structured binding cannot be captured (clang 14)
        shards_[home].post([this, home, shard, batches = std::move(pending)]() mutable {
            for (ShardQueryBatch& batch : batches) {
                if (Connection* c = hub(home).find(batch.connection)) c->on_query_events(shard, batch.subscription, batch.events);
            }
        });
    }
}

void Node::with_map_search(const std::string& map, std::function<void(MapSearch&)> request) {
    const std::size_t owner = shards_.owner_of(map);
    shards_[owner].post([this, owner, map, request = std::move(request)]() mutable {
        auto& indexes = searches_[owner];
        auto it = indexes.find(map);
        if (it == indexes.end()) {
            it = indexes.try_emplace(map, std::make_unique<MapSearch>(shards_.size())).first;
            for (std::size_t s = 0; s < shards_.size(); ++s) {
                shards_[s].post([this, s, owner, map] {
                    auto records = state(s).search_feeds().start(map, state(s).lww(map), owner);
                    // Posted before any of the feed's changes: they reach the index after these.
                    shards_[owner].post([this, owner, map, records = std::move(records)]() mutable {
                        searches_[owner].find(map)->second->add_initial(std::move(records));
                    });
                });
            }
        }
        it->second->when_ready(std::move(request));
    });
}

void Node::drop_search_subscriptions(std::uint64_t connection, const std::vector<std::string>& maps) {
    // Through with_map_search, so a subscription still waiting for its index is dropped after it is made.
    for (const std::string& map : maps) {
        with_map_search(map, [connection](MapSearch& index) { index.drop_connection(connection); });
    }
}

void Node::flush_search_feeds(std::size_t shard) {
    for (SearchFeedBatch& batch : state(shard).search_feeds().take()) {
        shards_[batch.owner].post([this, batch = std::move(batch)]() mutable {
            const auto it = searches_[batch.owner].find(batch.map);
            if (it != searches_[batch.owner].end()) deliver_search_updates(it->second->apply(batch.changes));
        });
    }
}

void Node::deliver_search_updates(std::vector<RoutedSearchUpdates> routed) {
    for (RoutedSearchUpdates& r : routed) {
        shards_[r.home].post([this, r = std::move(r)] {
            Connection* c = hub(r.home).find(r.connection);
            if (c == nullptr) return;
            for (const protocol::SearchUpdate& u : r.updates) c->send(make_frame(protocol::encode_message(u)));
        });
    }
}

void Node::deliver_to_all(SharedFrame frame) {
    for (std::size_t s = 0; s < shards_.size(); ++s) {
        shards_[s].post([this, s, frame] {
            hub(s).for_each([&](Connection& c) {
                if (c.authenticated()) c.send(frame);
            });
        });
    }
}

}  // namespace topgun::server
