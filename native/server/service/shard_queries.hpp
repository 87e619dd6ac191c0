// The standing queries one shard evaluates over its part of each LWW map
// (PROTOCOL.md §8.4). A map's records are spread over the shards, so every
// live query runs on every shard: each shard keeps the query's window over its
// own records (the core's LiveQueryRegistry) and sends the window's
// ENTER/UPDATE/LEAVE to the subscription's home shard, which merges the shards'
// windows into the client's (session/query_subscription.hpp).
//
// Events wait in an outbox until the shard's current task ends (the owner asks
// for a flush through `on_pending`), so a write batch sends one message per
// home shard, not one per op. Touched only on the shard's thread.
//
// Full-text leaves are answered from indexes of the shard's own records
// (service/live_text_indexes.hpp), dropped with the map's last query.
#pragma once

#include "service/live_text_indexes.hpp"

#include <topgun/crdt/lww_map.hpp>
#include <topgun/detail/string_map.hpp>
#include <topgun/query/live_query.hpp>
#include <topgun/query/query_plan.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace topgun::server {

// Who a shard's events are for: a subscription (node-wide id) of a connection
// living on shard `home`.
struct QuerySubscriber {
    std::uint64_t connection = 0;
    std::size_t home = 0;
    std::uint64_t subscription = 0;
};

struct ShardQueryEvent {
    std::string key;
    protocol::ChangeType change = protocol::ChangeType::Enter;
    Value value;        // the full record (nil for LEAVE): the home projects
    bool echo = false;  // the subscriber's own write of this key
};

struct ShardQueryBatch {
    std::uint64_t connection = 0;
    std::uint64_t subscription = 0;
    std::vector<ShardQueryEvent> events;
};

class ShardQueries {
public:
    ShardQueries() = default;
    ShardQueries(const ShardQueries&) = delete;  // registries' sinks point at this
    ShardQueries& operator=(const ShardQueries&) = delete;

    // Called when the outbox goes from empty to not empty.
    void set_on_pending(std::function<void()> f) { on_pending_ = std::move(f); }

    // The connection whose write the shard is applying (0: none), so its own
    // changes can be told apart (the writer gets no echo).
    void set_writer(std::uint64_t connection) noexcept { writer_ = connection; }

    // Adds a query over this shard's part of `map`; the initial rows are this
    // shard's window, built from the query's DAG plan over the part (index
    // candidates or a scan → filter). `map` must stay where it is while
    // queries are attached. `indexes` (null: none) are the map's.
    query::LiveQueryAdded add(LWWMap& map, std::string_view map_name, const protocol::Query& q,
                              query::LiveQueryOptions options, QuerySubscriber who, const query::IndexSet* indexes) {
        auto it = maps_.find(map_name);
        if (it == maps_.end()) {
            it = maps_.try_emplace(std::string(map_name), std::make_unique<MapQueries>(*this, map, map_name)).first;
        }
        MapQueries& m = *it->second;
        if (auto refused = m.text_indexes.prepare(q)) {
            query::LiveQueryAdded out;
            out.initial.error = std::move(*refused);
            return out;
        }
        m.registry.use_match_source(
            [part = query::QueryPart{&map, indexes}](const query::Predicate& p,
                                                     const query::LiveQueryRegistry::RecordFilter& accepts,
                                                     const query::LiveQueryRegistry::RecordVisitor& visit) {
                query::for_each_match(part, p, accepts, visit);
            });
        query::LiveQueryAdded added = m.registry.add(q, std::move(options));
        if (added.id != 0) {
            m.subscribers.emplace(added.id, who);
            by_subscription_.emplace(who.subscription, Location{&m, added.id});
        }
        return added;
    }

    void remove(std::uint64_t subscription) {
        const auto it = by_subscription_.find(subscription);
        if (it == by_subscription_.end()) return;
        MapQueries& m = *it->second.map;
        m.registry.remove(it->second.query);
        m.subscribers.erase(it->second.query);
        by_subscription_.erase(it);
        if (m.subscribers.empty()) {
            const std::string name = m.name;  // not a reference into the erased node
            maps_.erase(name);  // writes to the map no longer pay for it
        }
    }

    std::size_t size() const noexcept { return by_subscription_.size(); }

    // Takes the pending batches, per home shard.
    std::unordered_map<std::size_t, std::vector<ShardQueryBatch>> take() {
        std::unordered_map<std::size_t, std::vector<ShardQueryBatch>> out;
        for (auto& [subscription, pending] : outbox_) out[pending.home].push_back(std::move(pending.batch));
        outbox_.clear();
        return out;
    }

private:
    struct MapQueries {
        MapQueries(ShardQueries& owner, LWWMap& target, std::string_view map_name)
            // Listeners run in the order they subscribed: the change's key is
            // known before the registry reports its events.
            : name(map_name),
              map(&target),
              key_listener(target.subscribe([this](const LWWChange& change) { changed_key = change.key; })),
              text_indexes(target),
              registry(target, [&owner, this](std::span<const query::LiveQueryEvent> events) { owner.collect(*this, events); }) {
            registry.use_text_indexes(text_indexes.resolver());
        }
        ~MapQueries() { map->unsubscribe(key_listener); }
        MapQueries(const MapQueries&) = delete;
        MapQueries& operator=(const MapQueries&) = delete;

        std::string name;
        LWWMap* map;
        ListenerId key_listener;
        std::string_view changed_key;  // valid during the change's notification
        LiveTextIndexes text_indexes;  // before the registry: it reads them until it is destroyed
        query::LiveQueryRegistry registry;
        std::unordered_map<query::LiveQueryId, QuerySubscriber> subscribers;
    };
    struct Location {
        MapQueries* map;
        query::LiveQueryId query;
    };
    struct Pending {
        std::size_t home;
        ShardQueryBatch batch;
    };

    void collect(const MapQueries& m, std::span<const query::LiveQueryEvent> events) {
        for (const query::LiveQueryEvent& e : events) {
            const auto who = m.subscribers.find(e.query);
            if (who == m.subscribers.end()) continue;
            if (outbox_.empty() && on_pending_) on_pending_();
            auto [it, inserted] = outbox_.try_emplace(who->second.subscription);
            if (inserted) it->second = Pending{who->second.home, {who->second.connection, who->second.subscription, {}}};
            const bool echo = writer_ != 0 && writer_ == who->second.connection && e.key == m.changed_key;
            it->second.batch.events.push_back(ShardQueryEvent{e.key, e.change_type, e.value, echo});
        }
    }

    detail::StringHashMap<std::unique_ptr<MapQueries>> maps_;
    std::unordered_map<std::uint64_t, Location> by_subscription_;
    std::unordered_map<std::uint64_t, Pending> outbox_;  // per subscription, events in order
    std::uint64_t writer_ = 0;
    std::function<void()> on_pending_;
};

}  // namespace topgun::server
