// One map's full-text search (PROTOCOL.md §9.1) on the shard that owns the
// map's name: a mirror of the map's records, fed by every shard
// (service/search_feed.hpp), with the core's BM25 index over it and its live
// subscriptions. One index per map keeps the statistics BM25 ranks by (number
// of documents, document frequencies, lengths) global, so scores and ranks are
// those of one index over the whole map; the price is a second copy of the
// map's records on the owning shard.
//
// Built on the first search of the map and kept from then on: until every
// shard has sent its records, requests wait (defer), then run in order.
//
// SEARCH_UPDATEs carry the record's value, so a write to a record in a
// subscription's window is an UPDATE even when its score and terms stay the
// same (the core reports only what changes the ranking; the reference sends
// UPDATE for every write to a matching record).
// Touched only on the owning shard's thread.
#pragma once

#include "service/mirror_map.hpp"
#include "service/search_feed.hpp"

#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/protocol/search.hpp>
#include <topgun/search/live_search.hpp>
#include <topgun/search/map_index.hpp>
#include <topgun/search/wire_search.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace topgun::server {

// A SEARCH_SUB of a connection living on shard `home`.
struct SearchSubscriber {
    std::uint64_t connection = 0;
    std::size_t home = 0;
    std::string subscription_id;
};

// SEARCH_UPDATEs for one connection.
struct RoutedSearchUpdates {
    std::uint64_t connection = 0;
    std::size_t home = 0;
    std::vector<protocol::SearchUpdate> updates;
};

class MapSearch {
public:
    explicit MapSearch(std::size_t shards)
        : remaining_(shards), mirror_("search-mirror"), index_(mirror_.map(), {}, {}, search::TextFields::ByMember), live_(index_) {}
    MapSearch(const MapSearch&) = delete;  // the index and subscriptions point into this
    MapSearch& operator=(const MapSearch&) = delete;

    bool ready() const noexcept { return remaining_ == 0; }

    // A shard's records at the start of its feed; runs the waiting requests once every shard answered.
    void add_initial(std::vector<std::pair<std::string, Value>> records) {
        for (auto& [key, value] : records) mirror_.set(key, std::move(value));
        if (--remaining_ != 0) return;
        auto waiting = std::move(waiting_);
        for (auto& request : waiting) request(*this);
    }

    // Runs `request` now when ready, else once ready.
    void when_ready(std::function<void(MapSearch&)> request) {
        if (ready()) {
            request(*this);
        } else {
            waiting_.push_back(std::move(request));
        }
    }

    // A shard's changes; returns the SEARCH_UPDATEs they cause, per connection.
    std::vector<RoutedSearchUpdates> apply(std::vector<SearchFeedChange>& changes) {
        for (SearchFeedChange& c : changes) {
            reported_.clear();
            if (c.value) {
                mirror_.set(c.key, std::move(*c.value));
                report_unranked_update(c.key);
            } else {
                mirror_.remove(c.key);
            }
        }
        std::vector<RoutedSearchUpdates> out;
        for (auto& [connection, routed] : pending_) out.push_back(std::move(routed));
        pending_.clear();
        return out;
    }

    // SEARCH: the top hits with their values (the reference sends nil values).
    std::vector<protocol::SearchResultEntry> search(const std::string& query, const protocol::SearchOptions& options) const {
        return search::live_hits(index_.index(), query, search::from_wire(options), mirror_.map());
    }

    // SEARCH_SUB: its initial hits; later changes come out of apply().
    std::vector<protocol::SearchResultEntry> subscribe(SearchSubscriber who, const std::string& query,
                                                       const protocol::SearchOptions& options) {
        unsubscribe(who.connection, who.subscription_id);  // a repeated id replaces its subscription
        auto subscriber = std::make_shared<const SearchSubscriber>(std::move(who));
        auto [id, initial] = live_.subscribe(query, search::from_wire(options), [this, subscriber](const search::SearchEvent& e) {
            send(*subscriber, e.key, e.type, e.score, e.matched_terms);
        });
        subscriptions_[{subscriber->connection, subscriber->subscription_id}] = id;
        subscribers_.emplace(id, std::move(subscriber));
        return search::with_values(std::move(initial), mirror_.map());
    }

    void unsubscribe(std::uint64_t connection, const std::string& subscription_id) {
        const auto it = subscriptions_.find({connection, subscription_id});
        if (it == subscriptions_.end()) return;
        forget(it->second);
        subscriptions_.erase(it);
    }

    void drop_connection(std::uint64_t connection) {
        for (auto it = subscriptions_.lower_bound({connection, std::string()});
             it != subscriptions_.end() && it->first.first == connection;) {
            forget(it->second);
            it = subscriptions_.erase(it);
        }
    }

private:
    void forget(search::LiveSearch::SubscriptionId id) {
        live_.unsubscribe(id);
        subscribers_.erase(id);
    }

    void send(const SearchSubscriber& who, std::string_view key, protocol::ChangeType type, double score,
              std::span<const std::string> matched) {
        protocol::SearchUpdate u;
        u.subscription_id = who.subscription_id;
        u.key = std::string(key);
        u.change_type = type;
        u.score = score;
        u.matched_terms.assign(matched.begin(), matched.end());
        if (type != protocol::ChangeType::Leave) {
            if (const Value* v = mirror_.map().get(key)) u.value = *v;
        }
        reported_.insert(&who);
        auto [it, inserted] = pending_.try_emplace(who.connection);
        if (inserted) it->second = RoutedSearchUpdates{who.connection, who.home, {}};
        it->second.updates.push_back(std::move(u));
    }

    // After a write of `key`: an UPDATE for each window holding it that the core said nothing to.
    void report_unranked_update(std::string_view key) {
        for (const auto& [id, who] : subscribers_) {
            if (reported_.count(who.get()) != 0) continue;
            for (const search::SearchResult& r : live_.results(id)) {
                if (r.key == key) {
                    send(*who, key, protocol::ChangeType::Update, r.score, r.matched_terms);
                    break;
                }
            }
        }
    }

    std::size_t remaining_;
    MirrorMap mirror_;
    search::MapSearchIndex index_;
    search::LiveSearch live_;
    std::map<std::pair<std::uint64_t, std::string>, search::LiveSearch::SubscriptionId> subscriptions_;
    std::unordered_map<search::LiveSearch::SubscriptionId, std::shared_ptr<const SearchSubscriber>> subscribers_;
    std::unordered_set<const SearchSubscriber*> reported_;  // who heard of the current change
    std::map<std::uint64_t, RoutedSearchUpdates> pending_;  // by connection, until apply() returns them
    std::vector<std::function<void(MapSearch&)>> waiting_;
};

}  // namespace topgun::server
