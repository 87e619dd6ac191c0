// The LWW-map Merkle tree, hashed exactly as the reference TS client's
// MerkleTree: item hash = FNV-1a("<key>:<millis>:<counter>:<nodeId>") (the
// value is not hashed), one depth-3 trie per map (PROTOCOL.md §6, D4).
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/stable_string_map.hpp>
#include <topgun/hash.hpp>
#include <topgun/hlc.hpp>
#include <topgun/merkle/hash_trie.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace merkle {

// The item hash from fnv1a(key), which the maps keep as the key's route: the
// key is not hashed a second time on the merge path.
inline std::uint32_t lww_item_hash_from_route(std::uint32_t route, std::uint64_t millis, std::uint32_t counter,
                                              std::string_view node_id) noexcept {
    return Fnv1a{route}.add_char(':').add_decimal(millis).add_char(':').add_decimal(counter).add_char(':').add_utf8(node_id).value();
}
inline std::uint32_t lww_item_hash_from_route(std::uint32_t route, const Timestamp& ts) noexcept {
    return lww_item_hash_from_route(route, ts.millis, ts.counter, ts.node_id);
}
inline std::uint32_t lww_item_hash(std::string_view key, std::uint64_t millis, std::uint32_t counter,
                                   std::string_view node_id) noexcept {
    return lww_item_hash_from_route(fnv1a(key), millis, counter, node_id);
}
inline std::uint32_t lww_item_hash(std::string_view key, const Timestamp& ts) noexcept {
    return lww_item_hash(key, ts.millis, ts.counter, ts.node_id);
}

// A keyed Merkle tree over item hashes: the standalone form, owning its keys.
// (LWWMap and ORMap keep their own key storage and drive a HashTrie directly.)
class MerkleTree {
public:
    explicit MerkleTree(unsigned depth = kDefaultDepth) : trie_(depth) {}
    MerkleTree(const MerkleTree&) = delete;  // the trie points into items_
    MerkleTree& operator=(const MerkleTree&) = delete;
    MerkleTree(MerkleTree&&) noexcept = default;
    MerkleTree& operator=(MerkleTree&&) noexcept = default;

    // Sets the item hash of `key` (insert or replace).
    void update(std::string_view key, std::uint32_t item_hash) {
        auto [node, inserted] = items_.try_emplace(key);
        trie_.upsert(&node->key, fnv1a(key), inserted ? std::nullopt : std::optional(node->value), item_hash);
        node->value = item_hash;
    }
    // LWW form: the item hash of a record's key and timestamp.
    void update(std::string_view key, const Timestamp& ts) { update(key, lww_item_hash(key, ts)); }

    void remove(std::string_view key) {
        auto* node = items_.find(key);
        if (node == nullptr) return;
        trie_.erase(&node->key, fnv1a(key), node->value);
        items_.erase(node);
    }

    // Prepares for `n` keys (a bulk build then never rehashes).
    void reserve(std::size_t n) { items_.reserve(n); }

    void clear() {
        trie_.clear();
        items_.clear();
    }

    std::uint32_t root_hash() const noexcept { return trie_.root_hash(); }
    std::vector<std::pair<char, std::uint32_t>> buckets(std::string_view path) const { return trie_.buckets(path); }
    std::vector<std::string> keys_in_bucket(std::string_view path) const {
        std::vector<std::string> out;
        for (const std::string* key : trie_.keys_in_bucket(path)) out.push_back(*key);
        return out;
    }
    std::size_t size() const noexcept { return items_.size(); }
    const HashTrie& trie() const noexcept { return trie_; }

private:
    detail::StableStringMap<std::uint32_t> items_;  // nodes never move: the trie points at their keys
    HashTrie trie_;
};

}  // namespace merkle
TOPGUN_END_NAMESPACE
