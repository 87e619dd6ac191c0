// The Merkle prefix trie shared by the LWW and OR trees (PROTOCOL.md §6.2):
// a 16-ary trie of fixed depth routed by the hex digits of FNV-1a(key); a leaf
// hash is combine(item hashes) and an inner hash is combine(child hashes).
//
// combine() is a wrapping sum of mix(h), so a change of one item hash updates
// every node on its path in O(depth) by subtracting the old mixed value and
// adding the new one; no node is ever recomputed from its children.
#pragma once

#include <topgun/config.hpp>
#include <topgun/hash.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace merkle {

inline constexpr unsigned kDefaultDepth = 3;
inline constexpr unsigned kMaxDepth = 6;  // 16^6 leaves is already far beyond any useful bucket count

// The routing path of a key: FNV-1a(key) as 8 lowercase hex digits; level i
// uses digit i.
inline std::string path_of(std::string_view key) {
    static constexpr char digits[] = "0123456789abcdef";
    const std::uint32_t h = fnv1a(key);
    std::string out(8, '0');
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = digits[(h >> (28 - 4 * i)) & 0xF];
    return out;
}

// Hash-only trie plus, per leaf, the keys it holds. Keys are borrowed: the owner
// keeps each key string alive and at a stable address while it is in the trie.
class HashTrie {
public:
    explicit HashTrie(unsigned depth = kDefaultDepth) : depth_(std::clamp(depth, 1u, kMaxDepth)) {
        std::size_t total = 0;
        for (unsigned level = 0; level <= depth_; ++level) total += std::size_t{1} << (4 * level);
        hashes_.assign(total, 0);
        created_.assign(total, false);
        created_[0] = true;
    }

    unsigned depth() const noexcept { return depth_; }
    std::uint32_t root_hash() const noexcept { return hashes_[0]; }

    // Inserts or replaces the item of `key` (routing hash `route` = fnv1a(key)).
    void upsert(const std::string* key, std::uint32_t route, std::optional<std::uint32_t> old_item, std::uint32_t new_item) {
        const std::uint32_t leaf = leaf_of(route);
        if (!old_item) leaves_[leaf].push_back(key);
        const std::uint32_t delta = mix(new_item) - (old_item ? mix(*old_item) : 0u);
        propagate(route, delta, /*create=*/true);
    }

    // Removes the item of `key`. Nodes on the path stay, with whatever hash is
    // left (0 when empty), as the reference trees keep them.
    void erase(const std::string* key, std::uint32_t route, std::uint32_t old_item) {
        const auto leaf = leaves_.find(leaf_of(route));
        if (leaf == leaves_.end()) return;
        auto& keys = leaf->second;
        const auto it = std::find(keys.begin(), keys.end(), key);
        if (it == keys.end()) return;
        *it = keys.back();
        keys.pop_back();
        if (keys.empty()) leaves_.erase(leaf);
        propagate(route, 0u - mix(old_item), /*create=*/false);
    }

    // The owner moved a key string to a new address (the item is unchanged).
    void relocate(const std::string* from, const std::string* to, std::uint32_t route) {
        const auto leaf = leaves_.find(leaf_of(route));
        if (leaf != leaves_.end()) std::replace(leaf->second.begin(), leaf->second.end(), from, to);
    }

    void clear() {
        std::fill(hashes_.begin(), hashes_.end(), 0u);
        std::fill(created_.begin(), created_.end(), false);
        created_[0] = true;
        leaves_.clear();
    }

    // Child digit -> child hash for every child created under the node at `path`
    // (hex digits from the root; "" is the root), in digit order. Empty when the
    // node does not exist or is a leaf.
    std::vector<std::pair<char, std::uint32_t>> buckets(std::string_view path) const {
        std::vector<std::pair<char, std::uint32_t>> out;
        const auto node = node_index(path);
        if (!node || path.size() >= depth_) return out;
        const std::size_t first_child = level_offset(static_cast<unsigned>(path.size()) + 1) + (node->second << 4);
        for (std::size_t digit = 0; digit < 16; ++digit) {
            if (created_[first_child + digit]) {
                out.emplace_back("0123456789abcdef"[digit], hashes_[first_child + digit]);
            }
        }
        return out;
    }

    // The hash of the node at `path`, or nothing when it does not exist.
    std::optional<std::uint32_t> node_hash(std::string_view path) const {
        const auto node = node_index(path);
        if (!node) return std::nullopt;
        return hashes_[node->first];
    }

    bool is_leaf_path(std::string_view path) const noexcept { return path.size() == depth_; }

    // Keys held by the leaf at `path` (unordered). Empty unless `path` names a leaf.
    const std::vector<const std::string*>& keys_in_bucket(std::string_view path) const {
        static const std::vector<const std::string*> none;
        const auto node = node_index(path);
        if (!node || path.size() != depth_) return none;
        const auto leaf = leaves_.find(static_cast<std::uint32_t>(node->second));
        return leaf == leaves_.end() ? none : leaf->second;
    }

    // Leaves by index (0 .. 16^depth - 1, the routing hash's top digits): the
    // leaf's hash, or nothing when no key was ever routed there.
    std::size_t leaf_count() const noexcept { return std::size_t{1} << (4 * depth_); }
    std::optional<std::uint32_t> leaf_hash(std::size_t leaf) const {
        const std::size_t index = level_offset(depth_) + leaf;
        if (leaf >= leaf_count() || !created_[index]) return std::nullopt;
        return hashes_[index];
    }

    // Adds `sum` to leaf `leaf` (creating it and its ancestors) without keys. A
    // leaf hash is a wrapping sum over its items, so adding the leaves of tries
    // over disjoint key sets gives exactly the trie of their union: the server
    // answers one root per map from its per-worker tries this way (union_of).
    void add_to_leaf(std::size_t leaf, std::uint32_t sum) {
        if (leaf >= leaf_count()) return;
        propagate(static_cast<std::uint32_t>(leaf << (32 - 4 * depth_)), sum, /*create=*/true);
    }

private:
    static std::size_t level_offset(unsigned level) noexcept {
        std::size_t offset = 0;
        for (unsigned l = 0; l < level; ++l) offset += std::size_t{1} << (4 * l);
        return offset;
    }
    std::uint32_t leaf_of(std::uint32_t route) const noexcept { return route >> (32 - 4 * depth_); }

    // (flat index, index within level) of an existing node, from its hex path.
    std::optional<std::pair<std::size_t, std::size_t>> node_index(std::string_view path) const {
        if (path.size() > depth_) return std::nullopt;
        std::size_t within = 0;
        for (char c : path) {
            int digit = -1;
            if (c >= '0' && c <= '9') digit = c - '0';
            if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
            if (digit < 0) return std::nullopt;
            within = (within << 4) | static_cast<std::size_t>(digit);
        }
        const std::size_t index = level_offset(static_cast<unsigned>(path.size())) + within;
        if (!created_[index]) return std::nullopt;
        return std::make_pair(index, within);
    }

    // Applies `delta` (added to the leaf's sum) up the path to the root.
    void propagate(std::uint32_t route, std::uint32_t delta, bool create) {
        std::size_t offset = level_offset(depth_);
        std::size_t within = leaf_of(route);
        std::uint32_t child_old = hashes_[offset + within];
        std::uint32_t child_new = child_old + delta;
        hashes_[offset + within] = child_new;
        if (create) created_[offset + within] = true;
        for (unsigned level = depth_; level-- > 0;) {
            offset -= std::size_t{1} << (4 * level);
            within >>= 4;
            std::uint32_t& h = hashes_[offset + within];
            const std::uint32_t old = h;
            h = h - mix(child_old) + mix(child_new);
            if (create) created_[offset + within] = true;
            child_old = old;
            child_new = h;
        }
    }

    unsigned depth_;
    std::vector<std::uint32_t> hashes_;  // level by level, 16^level nodes each
    std::vector<bool> created_;          // nodes a key was ever routed through
    // Only non-empty leaves: most maps are small and a dense table would cost
    // 16^depth vectors each.
    std::unordered_map<std::uint32_t, std::vector<const std::string*>> leaves_;
};

// The hashes of one trie holding the keys of all `parts` (same depth, disjoint
// key sets), without their keys: for answering root and bucket requests.
template <class Range>
HashTrie union_of(const Range& parts, unsigned depth) {
    HashTrie out(depth);
    for (const HashTrie* part : parts) {
        if (part == nullptr || part->depth() != out.depth()) continue;
        for (std::size_t leaf = 0; leaf < part->leaf_count(); ++leaf) {
            if (const auto h = part->leaf_hash(leaf)) out.add_to_leaf(leaf, *h);
        }
    }
    return out;
}

}  // namespace merkle
TOPGUN_END_NAMESPACE
