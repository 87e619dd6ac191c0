// The shard side of Merkle sync (PROTOCOL.md §6.5, §6.6). A map's keys are
// spread over the shards, each keeping a trie of its own keys; a sync session
// adds the shards' leaf hashes into one trie that hashes exactly like the
// client's (leaf hashes are sums, so they add: merkle::HashTrie::add_to_leaf),
// then reads leaf contents from every shard.
#pragma once

#include "service/shard_state.hpp"

#include <topgun/merkle/hash_trie.hpp>
#include <topgun/protocol/sync.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace topgun::server {

enum class MapKind { Lww, Or };

// (leaf index, leaf hash) of every leaf this shard's part of the map created.
using LeafSums = std::vector<std::pair<std::uint32_t, std::uint32_t>>;
LeafSums leaf_sums(ShardState& shard, MapKind kind, std::string_view map_name);

// Adds leaf sums into a session trie.
void add_leaf_sums(merkle::HashTrie& trie, const LeafSums& sums);

std::vector<protocol::SyncLeafRecord> lww_leaf_records(ShardState& shard, std::string_view map_name, std::string_view path);
std::vector<protocol::ORMapEntry> or_leaf_entries(ShardState& shard, std::string_view map_name, std::string_view path);
protocol::ORMapEntry or_entry(const OrMapState& state, std::string_view key);

// True when `path` is a hex path no longer than the trie depth.
bool valid_merkle_path(std::string_view path) noexcept;

}  // namespace topgun::server
