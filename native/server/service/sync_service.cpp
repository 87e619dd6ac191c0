#include "service/sync_service.hpp"

namespace topgun::server {

LeafSums leaf_sums(ShardState& shard, MapKind kind, std::string_view map_name) {
    const merkle::HashTrie* trie = nullptr;
    if (kind == MapKind::Lww) {
        if (const LWWMap* m = shard.find_lww(map_name)) trie = &m->merkle();
    } else if (const OrMapState* s = shard.find_or(map_name)) {
        trie = &s->map.merkle();
    }
    LeafSums out;
    if (trie == nullptr) return out;
    for (std::size_t leaf = 0; leaf < trie->leaf_count(); ++leaf) {
        if (const auto h = trie->leaf_hash(leaf)) out.emplace_back(static_cast<std::uint32_t>(leaf), *h);
    }
    return out;
}

void add_leaf_sums(merkle::HashTrie& trie, const LeafSums& sums) {
    for (const auto& [leaf, hash] : sums) trie.add_to_leaf(leaf, hash);
}

std::vector<protocol::SyncLeafRecord> lww_leaf_records(ShardState& shard, std::string_view map_name, std::string_view path) {
    std::vector<protocol::SyncLeafRecord> out;
    const LWWMap* map = shard.find_lww(map_name);
    if (map == nullptr) return out;
    for (const auto& view : map->records_in_bucket(path)) {
        out.push_back(protocol::SyncLeafRecord{std::string(view.key), protocol::LWWRecordData::from(view.to_record())});
    }
    return out;
}

protocol::ORMapEntry or_entry(const OrMapState& state, std::string_view key) {
    protocol::ORMapEntry entry;
    entry.key = std::string(key);
    for (const ORRecord& r : state.map.records(key)) entry.records.push_back(protocol::ORMapRecordData::from(r));
    if (const auto it = state.key_tombstones.find(key); it != state.key_tombstones.end()) entry.tombstones = it->second;
    return entry;
}

std::vector<protocol::ORMapEntry> or_leaf_entries(ShardState& shard, std::string_view map_name, std::string_view path) {
    std::vector<protocol::ORMapEntry> out;
    const OrMapState* state = shard.find_or(map_name);
    if (state == nullptr) return out;
    for (const auto& [key, hash] : state->map.entry_hashes_in_bucket(path)) out.push_back(or_entry(*state, key));
    if (path.size() != merkle::kDefaultDepth) return out;
    // Keys with nothing left but tombstones (see OrMapState).
    const auto leaf = static_cast<std::uint32_t>(std::stoul(std::string(path), nullptr, 16));
    if (const auto it = state->tombstoned_keys_by_leaf.find(leaf); it != state->tombstoned_keys_by_leaf.end()) {
        for (const std::string& key : it->second) {
            if (state->map.records(key).empty()) out.push_back(or_entry(*state, key));
        }
    }
    return out;
}

bool valid_merkle_path(std::string_view path) noexcept {
    if (path.size() > merkle::kDefaultDepth) return false;
    for (char c : path) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace topgun::server
