// The secondary indexes of one LWW map, kept current on every change the map
// reports (set, remove, merge, expiry, clear), so queries can look rows up
// instead of scanning (see planner.hpp).
//
// Lifetime: an IndexSet subscribes to its map and unsubscribes when destroyed;
// the map must outlive it and must not move while it is attached (the
// subscription and the indexed key views point into it). Adding an index
// builds it from the map's live records at once.
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/query/hash_index.hpp>
#include <topgun/query/ordered_index.hpp>

#include <algorithm>
#include <memory>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

class IndexSet {
public:
    explicit IndexSet(LWWMap& map) : map_(&map) {
        subscription_ = map.subscribe_index([this](const LWWChange& change) { apply(change); });
    }
    ~IndexSet() { map_->unsubscribe(subscription_); }
    IndexSet(const IndexSet&) = delete;
    IndexSet& operator=(const IndexSet&) = delete;

    const LWWMap& map() const noexcept { return *map_; }

    // Idempotent: an existing index on the path is returned as it is.
    const HashIndex& add_hash(std::string_view path) { return add(hash_, path); }
    const OrderedIndex& add_ordered(std::string_view path) { return add(ordered_, path); }

    // Drops the path's hash and ordered indexes; false when it had none.
    bool drop(std::string_view path) {
        const bool had_hash = erase(hash_, path);
        const bool had_ordered = erase(ordered_, path);
        return had_hash || had_ordered;
    }

    const HashIndex* hash(std::string_view path) const noexcept { return find(hash_, path); }
    const OrderedIndex* ordered(std::string_view path) const noexcept { return find(ordered_, path); }

    bool empty() const noexcept { return hash_.empty() && ordered_.empty(); }

private:
    void apply(const LWWChange& change) {
        for (auto& index : hash_) index->update(change.record, change.new_value);
        for (auto& index : ordered_) index->update(change.record, change.new_value);
    }

    template <class Index>
    const Index& add(std::vector<std::unique_ptr<Index>>& list, std::string_view path) {
        if (const Index* existing = find(list, path)) return *existing;
        auto index = std::make_unique<Index>(path);
        map_->for_each_live_ref([&](RecordRef record, const Value& value) { index->update(record, &value); });
        list.push_back(std::move(index));
        return *list.back();
    }

    template <class Index>
    static const Index* find(const std::vector<std::unique_ptr<Index>>& list, std::string_view path) noexcept {
        for (const auto& index : list) {
            if (index->path().text() == path) return index.get();
        }
        return nullptr;
    }

    template <class Index>
    static bool erase(std::vector<std::unique_ptr<Index>>& list, std::string_view path) {
        const auto it = std::find_if(list.begin(), list.end(), [&](const auto& i) { return i->path().text() == path; });
        if (it == list.end()) return false;
        list.erase(it);
        return true;
    }

    LWWMap* map_;
    ListenerId subscription_ = 0;
    std::vector<std::unique_ptr<HashIndex>> hash_;
    std::vector<std::unique_ptr<OrderedIndex>> ordered_;
};

// `indexes` when they are `map`'s, else nullptr: another map's indexes name records `map` does not hold.
inline const IndexSet* indexes_of(const LWWMap& map, const IndexSet* indexes) noexcept {
    return indexes != nullptr && &indexes->map() == &map ? indexes : nullptr;
}

}  // namespace query
TOPGUN_END_NAMESPACE
