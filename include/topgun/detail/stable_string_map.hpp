// The record store behind the CRDT maps: a string-keyed map whose nodes never
// move (the Merkle tries hold pointers to their keys), built for the merge hot
// path of a million-key map.
//
// Hand-written rather than std::unordered_map: that container walks bucket
// chains node by node and, for string keys, either stores a cached hash per node
// or re-hashes keys while walking. Here a lookup is one probe run in a flat
// array of 8-byte slots (32-bit hash fragment + node index, linear probing)
// and one key compare in the node: two cache misses instead of three or more,
// and 8 bytes less per entry. The fragment also gives the slot's home, so
// growing, and erasing's shifts of the slots after the erased one, move slots
// without touching (or re-hashing) any other key. Nodes live in chunks that
// grow geometrically (small maps stay small) and are recycled through a free list.
#pragma once

#include <topgun/config.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace detail {

template <class T>
class StableStringMap {
public:
    struct Node {
        std::string key;
        T value{};
    };

    StableStringMap() = default;
    StableStringMap(const StableStringMap&) = delete;
    StableStringMap& operator=(const StableStringMap&) = delete;
    StableStringMap(StableStringMap&&) noexcept = default;  // chunks move, nodes stay put
    StableStringMap& operator=(StableStringMap&&) noexcept = default;

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

    // Where a key is: its node (nullptr when absent) and its hash, which
    // inserting it after a miss needs (emplace_absent), so a merge hashes it once.
    struct Lookup {
        Node* node;
        std::uint32_t fragment;
    };
    Lookup lookup(std::string_view key) noexcept {
        const std::uint32_t fragment = hash(key);
        if (slots_.empty()) return {nullptr, fragment};
        for (std::size_t i = fragment & mask_;; i = (i + 1) & mask_) {
            const std::uint64_t slot = slots_[i];
            if (slot == 0) return {nullptr, fragment};
            if (static_cast<std::uint32_t>(slot >> 32) == fragment) {
                Node& n = node(static_cast<std::uint32_t>(slot) - 1);
                if (n.key == key) return {&n, fragment};
            }
        }
    }
    Node* find(std::string_view key) noexcept { return lookup(key).node; }
    const Node* find(std::string_view key) const noexcept { return const_cast<StableStringMap*>(this)->find(key); }

    // The node of `key`, inserted with a default value when absent.
    std::pair<Node*, bool> try_emplace(std::string_view key) {
        const Lookup found = lookup(key);
        if (found.node != nullptr) return {found.node, false};
        return {&emplace_absent(key, found), true};
    }

    // Inserts `key`, which lookup() has just found absent, with a default value.
    Node& emplace_absent(std::string_view key, const Lookup& absent) {
        if ((size_ + 1) * 4 > slots_.size() * 3) grow();  // load factor <= 3/4
        std::uint32_t index;
        if (!free_.empty()) {
            index = free_.back();
            free_.pop_back();
        } else {
            index = next_++;
            if (index >= capacity_) add_chunk();
        }
        Node& n = node(index);
        n.key.assign(key);
        used_[index] = true;
        insert_slot(absent.fragment, index);
        ++size_;
        return n;
    }

    // Removes a node of this map; its memory is reused by a later insert.
    void erase(Node* n) {
        // The node's slot is on its key's probe run; the slot also gives its index.
        std::size_t i = hash(n->key) & mask_;
        while (&node(static_cast<std::uint32_t>(slots_[i]) - 1) != n) i = (i + 1) & mask_;
        const std::uint32_t index = static_cast<std::uint32_t>(slots_[i]) - 1;
        // Backward-shift deletion keeps every probe run unbroken without tombstones.
        for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
            const std::uint64_t slot = slots_[j];
            if (slot == 0) break;
            const std::size_t home = (slot >> 32) & mask_;
            // Move slot j back to i unless its home lies cyclically in (i, j].
            const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) {
                slots_[i] = slot;
                i = j;
            }
        }
        slots_[i] = 0;
        *n = Node{};
        used_[index] = false;
        free_.push_back(index);
        --size_;
    }

    // Sizes the index for `n` keys, so building a large map rehashes once.
    void reserve(std::size_t n) {
        std::size_t capacity = slots_.empty() ? 16 : slots_.size();
        while (n * 4 > capacity * 3) capacity *= 2;
        if (capacity != slots_.size()) rehash(capacity);
    }

    void clear() {
        slots_.clear();
        chunks_.clear();
        used_.clear();
        free_.clear();
        mask_ = 0;
        size_ = 0;
        next_ = 0;
        capacity_ = 0;
    }

    // Visits nodes in insertion order (recycled nodes take their new place).
    template <class F>
    void for_each(F&& f) {
        for (std::uint32_t i = 0; i < next_; ++i) {
            if (used_[i]) f(node(i));
        }
    }
    template <class F>
    void for_each(F&& f) const {
        for (std::uint32_t i = 0; i < next_; ++i) {
            if (used_[i]) f(const_cast<StableStringMap*>(this)->node(i));
        }
    }

    // Resumable visit for readers that work in batches: visits nodes from
    // `position` (0 to start) in the same order until `f(node)` returns false,
    // and returns the position to resume from (npos when done). Nodes added
    // or removed in between may or may not be visited.
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    template <class F>
    std::size_t visit_from(std::size_t position, F&& f) const {
        for (std::size_t i = position; i < next_; ++i) {
            if (used_[i] && !f(const_cast<StableStringMap*>(this)->node(static_cast<std::uint32_t>(i)))) return i + 1;
        }
        return npos;
    }

    // Visits and removes the nodes for which `pred(node)` is true; `on_erase`
    // sees each before it goes.
    template <class Pred, class OnErase>
    void erase_if(Pred&& pred, OnErase&& on_erase) {
        for (std::uint32_t i = 0; i < next_; ++i) {
            if (!used_[i]) continue;
            Node& n = node(i);
            if (pred(n)) {
                on_erase(n);
                erase(&n);
            }
        }
    }

private:
    // Chunk c holds 16 nodes for c = 0, then doubles up to kMaxChunk nodes.
    static constexpr std::uint32_t kFirstChunk = 16;
    static constexpr std::uint32_t kMaxChunk = 4096;

    // The 32-bit fragment a slot keeps: its low bits are the home slot, all of
    // it skips key compares on a probe run.
    static std::uint32_t hash(std::string_view key) noexcept {
        std::uint64_t h = std::hash<std::string_view>{}(key);
        // A 32-bit size_t (WASM) leaves the high half empty: fill it from the low half.
        if constexpr (sizeof(std::size_t) < sizeof(std::uint64_t)) h *= 0x9E3779B97F4A7C15ULL;
        return static_cast<std::uint32_t>((h ^ (h >> 29) * 0x9E3779B97F4A7C15ULL) >> 32);  // the well-mixed high half
    }

    static std::pair<std::uint32_t, std::uint32_t> locate(std::uint32_t index) noexcept {
        if (index < kFirstChunk) return {0, index};
        if (index < kMaxChunk) {
            const auto width = static_cast<std::uint32_t>(std::bit_width(index));  // 5 for [16, 32)
            return {width - 4, index - (1u << (width - 1))};
        }
        return {8 + index / kMaxChunk, index % kMaxChunk};
    }
    static std::uint32_t chunk_size(std::uint32_t chunk) noexcept {
        if (chunk == 0) return kFirstChunk;
        if (chunk >= 9) return kMaxChunk;  // 16 << 8 == kMaxChunk
        return kFirstChunk << (chunk - 1);
    }

    Node& node(std::uint32_t index) noexcept {
        const auto [chunk, offset] = locate(index);
        return chunks_[chunk][offset];
    }
    void add_chunk() {
        const auto c = static_cast<std::uint32_t>(chunks_.size());
        chunks_.push_back(std::make_unique<Node[]>(chunk_size(c)));
        capacity_ += chunk_size(c);
        used_.resize(capacity_, false);
    }

    void insert_slot(std::uint32_t fragment, std::uint32_t index) noexcept {
        place((std::uint64_t{fragment} << 32) | (std::uint64_t{index} + 1));
    }
    void place(std::uint64_t slot) noexcept {
        std::size_t i = (slot >> 32) & mask_;
        while (slots_[i] != 0) i = (i + 1) & mask_;
        slots_[i] = slot;
    }

    void grow() { rehash(slots_.empty() ? 16 : slots_.size() * 2); }

    void rehash(std::size_t capacity) {
        const std::vector<std::uint64_t> old = std::exchange(slots_, std::vector<std::uint64_t>(capacity, 0));
        mask_ = capacity - 1;
        for (const std::uint64_t slot : old) {
            if (slot != 0) place(slot);
        }
    }

    std::vector<std::uint64_t> slots_;  // fragment << 32 | node index + 1; 0 = empty
    std::size_t mask_ = 0;
    std::vector<std::unique_ptr<Node[]>> chunks_;
    std::vector<bool> used_;
    std::vector<std::uint32_t> free_;
    std::size_t size_ = 0;
    std::uint32_t next_ = 0;      // nodes ever handed out (the high-water mark)
    std::uint32_t capacity_ = 0;  // nodes in all chunks
};

}  // namespace detail
TOPGUN_END_NAMESPACE
