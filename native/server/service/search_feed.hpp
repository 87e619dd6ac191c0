// The shard side of full-text search (PROTOCOL.md §9.1): a searched map's
// index lives on one shard (service/map_search.hpp), but its records live on
// every shard, so each shard feeds the index its part — first the records it
// holds when the feed starts, then every change. Changes wait in an outbox
// until the shard's current task ends (`on_pending` asks for a flush), so a
// write batch sends one message per map. Touched only on the shard's thread.
#pragma once

#include <topgun/crdt/lww_map.hpp>
#include <topgun/detail/string_map.hpp>
#include <topgun/value.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace topgun::server {

struct SearchFeedChange {
    std::string key;
    std::optional<Value> value;  // none: the record is gone (removed, expired, pruned)
};

struct SearchFeedBatch {
    std::size_t owner = 0;  // the shard holding the map's index
    std::string map;
    std::vector<SearchFeedChange> changes;
};

class SearchFeeds {
public:
    SearchFeeds() = default;
    SearchFeeds(const SearchFeeds&) = delete;  // the maps' listeners point at this
    SearchFeeds& operator=(const SearchFeeds&) = delete;
    ~SearchFeeds() {
        for (auto& [name, feed] : feeds_) feed.map->unsubscribe(feed.listener);
    }

    void set_on_pending(std::function<void()> f) { on_pending_ = std::move(f); }

    // Starts feeding `map` to shard `owner` and returns its live records now.
    // `map` must stay where it is (a shard's maps never move).
    std::vector<std::pair<std::string, Value>> start(std::string_view name, LWWMap& map, std::size_t owner) {
        std::vector<std::pair<std::string, Value>> records;
        map.for_each([&](std::string_view key, const Value& value) { records.emplace_back(std::string(key), value); });
        if (feeds_.find(name) != feeds_.end()) return records;  // already fed (a restarted index)
        const ListenerId listener = map.subscribe([this, map_name = std::string(name), owner](const LWWChange& c) {
            collect(map_name, owner, c);
        });
        feeds_.try_emplace(std::string(name), Feed{&map, listener});
        return records;
    }

    std::vector<SearchFeedBatch> take() {
        std::vector<SearchFeedBatch> out;
        out.reserve(outbox_.size());
        for (auto& [name, batch] : outbox_) out.push_back(std::move(batch));
        outbox_.clear();
        return out;
    }

private:
    struct Feed {
        LWWMap* map;
        ListenerId listener;
    };

    void collect(const std::string& map_name, std::size_t owner, const LWWChange& c) {
        if (outbox_.empty() && on_pending_) on_pending_();
        auto [it, inserted] = outbox_.try_emplace(map_name);
        if (inserted) {
            it->second.owner = owner;
            it->second.map = map_name;
        }
        std::optional<Value> value;
        if (c.new_value != nullptr) value = *c.new_value;
        it->second.changes.push_back(SearchFeedChange{std::string(c.key), std::move(value)});
    }

    detail::StringHashMap<Feed> feeds_;
    detail::StringHashMap<SearchFeedBatch> outbox_;
    std::function<void()> on_pending_;
};

}  // namespace topgun::server
