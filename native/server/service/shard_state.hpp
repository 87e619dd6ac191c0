// The data one shard owns: the part of every map whose keys fall in the
// shard's partitions, its counters, and the shard's clock. Only the shard's
// thread touches it, so nothing here locks.
#pragma once

#include "service/device_registry.hpp"
#include "service/index_catalog.hpp"
#include "service/or_tag_registry.hpp"
#include "service/search_feed.hpp"
#include "service/shard_queries.hpp"

#include <topgun/crdt/lww_map.hpp>
#include <topgun/crdt/or_map.hpp>
#include <topgun/crdt/pn_counter.hpp>
#include <topgun/detail/string_map.hpp>
#include <topgun/hash.hpp>
#include <topgun/hlc.hpp>
#include <topgun/merkle/hash_trie.hpp>
#include <topgun/query/index_set.hpp>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace topgun::server {

// An OR map plus, per key, the tags removed from it: a sync leaf sends a key's
// tombstones with its records (PROTOCOL.md §6.6), and ORMap keeps tombstones
// as one set per map.
// A key whose records are all removed leaves the trie, yet a sync leaf must
// still carry its tombstones (or a replica holding the removed records never
// learns of the removal), so keys with tombstones are also filed by leaf.
struct OrMapState {
    explicit OrMapState(HLC& clock) : map(clock) {}
    ORMap map;
    detail::StringHashMap<std::vector<std::string>> key_tombstones;
    std::unordered_map<std::uint32_t, std::vector<std::string>> tombstoned_keys_by_leaf;

    static std::uint32_t leaf_of(std::string_view key) noexcept { return fnv1a(key) >> (32 - 4 * merkle::kDefaultDepth); }

    void note_tombstone(std::string_view key, std::string_view tag) {
        auto [it, inserted] = key_tombstones.try_emplace(std::string(key));
        if (inserted) tombstoned_keys_by_leaf[leaf_of(key)].emplace_back(key);
        for (const auto& t : it->second) {
            if (t == tag) return;
        }
        it->second.emplace_back(tag);
    }
};

class ShardState {
public:
    // `or_tags` is the node's (shared by every shard) and must outlive this.
    ShardState(std::string node_id, HLCOptions clock_options, OrTagRegistry& or_tags)
        : clock_(std::move(node_id), std::move(clock_options)), or_tags_(&or_tags) {}
    ShardState(const ShardState&) = delete;
    ShardState& operator=(const ShardState&) = delete;

    HLC& clock() noexcept { return clock_; }
    OrTagRegistry& or_tags() noexcept { return *or_tags_; }

    LWWMap* find_lww(std::string_view name) {
        const auto it = lww_.find(name);
        return it == lww_.end() ? nullptr : &it->second;
    }
    LWWMap& lww(std::string_view name) {
        auto it = lww_.find(name);
        if (it == lww_.end()) it = lww_.try_emplace(std::string(name), clock_).first;
        return it->second;
    }

    OrMapState* find_or(std::string_view name) {
        const auto it = or_.find(name);
        return it == or_.end() ? nullptr : &it->second;
    }
    OrMapState& or_map(std::string_view name) {
        auto it = or_.find(name);
        if (it == or_.end()) it = or_.try_emplace(std::string(name), clock_).first;
        return it->second;
    }

    PNCounter* find_counter(std::string_view name) {
        const auto it = counters_.find(name);
        return it == counters_.end() ? nullptr : &it->second;
    }
    PNCounter& counter(std::string_view name) {
        auto it = counters_.find(name);
        if (it == counters_.end()) it = counters_.try_emplace(std::string(name), clock_.node_id()).first;
        return it->second;
    }

    // Device credentials: kept on shard 0 only (see DeviceRegistry).
    DeviceRegistry& devices() noexcept { return devices_; }

    // Live queries over this shard's part of the LWW maps.
    ShardQueries& queries() noexcept { return queries_; }
    // This shard's part of searched maps, fed to their indexes.
    SearchFeeds& search_feeds() noexcept { return search_feeds_; }

    // The secondary indexes of this shard's part of map `name` (null: none).
    const query::IndexSet* indexes(std::string_view name) const {
        const auto it = indexes_.find(name);
        return it == indexes_.end() ? nullptr : it->second.get();
    }
    // Builds an index over this shard's records of the map (idempotent);
    // returns how many records it files. Full-text indexes are not the shards'
    // (Node::with_map_search): nothing to build here.
    std::size_t add_index(const IndexDescriptor& d) {
        if (d.type == IndexDescriptor::Type::Inverted) return 0;
        auto it = indexes_.find(d.map_name);
        if (it == indexes_.end()) it = indexes_.try_emplace(d.map_name, std::make_unique<query::IndexSet>(lww(d.map_name))).first;
        return d.type == IndexDescriptor::Type::Hash ? it->second->add_hash(d.attribute).size() : it->second->add_ordered(d.attribute).size();
    }
    // Drops every index of the attribute (the catalog keeps one per attribute).
    void drop_indexes(const std::string& map_name, const std::string& attribute) {
        const auto it = indexes_.find(map_name);
        if (it == indexes_.end()) return;
        it->second->drop(attribute);
        if (it->second->empty()) indexes_.erase(it);
    }

    detail::StringHashMap<LWWMap>& lww_maps() noexcept { return lww_; }
    detail::StringHashMap<OrMapState>& or_maps() noexcept { return or_; }

private:
    HLC clock_;
    OrTagRegistry* or_tags_;
    detail::StringHashMap<LWWMap> lww_;
    detail::StringHashMap<OrMapState> or_;
    detail::StringHashMap<PNCounter> counters_;
    DeviceRegistry devices_;
    ShardQueries queries_;       // after the maps: its registries detach from them first
    SearchFeeds search_feeds_;  // likewise
    detail::StringHashMap<std::unique_ptr<query::IndexSet>> indexes_;  // last: they detach from the maps first
};

}  // namespace topgun::server
