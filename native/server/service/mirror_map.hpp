// A private copy of rows that live elsewhere (other shards): an LWW map with
// its own clock, so the core's map listeners (live queries, search indexes)
// can run over it. Removals leave tombstones, which no one here needs: they
// are dropped once they outnumber half the stored records.
#pragma once

#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/value.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace topgun::server {

class MirrorMap {
public:
    explicit MirrorMap(std::string node_id) : clock_(std::move(node_id)), map_(clock_) {}
    MirrorMap(const MirrorMap&) = delete;  // the map points at the clock; listeners point at the map
    MirrorMap& operator=(const MirrorMap&) = delete;

    LWWMap& map() noexcept { return map_; }
    const LWWMap& map() const noexcept { return map_; }

    void set(std::string_view key, Value value) { map_.set(key, std::move(value)); }

    void remove(std::string_view key) {
        map_.remove(key);
        if (++tombstones_ > kMinTombstones && tombstones_ > map_.size() / 2) {
            map_.prune(clock_.now());
            tombstones_ = 0;
        }
    }

private:
    static constexpr std::size_t kMinTombstones = 64;

    HLC clock_;
    LWWMap map_;
    std::size_t tombstones_ = 0;
};

}  // namespace topgun::server
