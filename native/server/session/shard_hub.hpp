// The connections that live on one shard, and who among them listens to what
// (a Channel): map holders (a connection that synced a map gets its
// SERVER_EVENTs), counter subscribers and topic subscribers. Touched only on
// the shard's thread; other shards reach it by posting a delivery, and read
// only whether anyone on it listens on a channel (to post nothing otherwise).
#pragma once

#include "session/transport.hpp"

#include <topgun/detail/string_map.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace topgun::server {

class Connection;

// What a connection can listen to, by name.
enum class Channel : std::uint8_t { MapHolders, Counter, Topic };
inline constexpr std::size_t kChannels = 3;

class ShardHub {
public:
    void add(std::uint64_t id, Connection* c) { connections_[id] = c; }
    void remove(std::uint64_t id) {
        connections_.erase(id);
        for (Registry& r : registries_) {
            for (auto it = r.begin(); it != r.end();) {
                std::erase(it->second, id);
                it = it->second.empty() ? r.erase(it) : std::next(it);
            }
        }
        for (std::size_t c = 0; c < kChannels; ++c) note_listened(c);
    }
    Connection* find(std::uint64_t id) const {
        const auto it = connections_.find(id);
        return it == connections_.end() ? nullptr : it->second;
    }
    std::size_t size() const noexcept { return connections_.size(); }

    template <class F>
    void for_each(F&& f) const {
        // A copy: f may close connections, which removes them.
        std::vector<Connection*> all;
        all.reserve(connections_.size());
        for (const auto& [id, c] : connections_) all.push_back(c);
        for (Connection* c : all) f(*c);
    }

    // Returns true when the connection was not yet subscribed to `name`.
    bool subscribe(Channel channel, std::string_view name, std::uint64_t id) {
        auto& ids = registries_[index(channel)][std::string(name)];
        if (std::find(ids.begin(), ids.end(), id) != ids.end()) return false;
        ids.push_back(id);
        note_listened(index(channel));
        return true;
    }

    void unsubscribe(Channel channel, std::string_view name, std::uint64_t id) {
        Registry& r = registries_[index(channel)];
        const auto it = r.find(name);
        if (it == r.end()) return;
        std::erase(it->second, id);
        if (it->second.empty()) r.erase(it);  // topics are ephemeral: gone with the last subscriber
        note_listened(index(channel));
    }

    // Whether any connection of this shard listens on `channel`; any thread
    // may ask.
    bool listened(Channel channel) const noexcept { return listened_[index(channel)].load(std::memory_order_acquire); }

    // Every subscriber of `name` but `exclude`.
    template <class F>
    void for_subscribers(Channel channel, std::string_view name, std::uint64_t exclude, F&& f) const {
        const Registry& r = registries_[index(channel)];
        const auto it = r.find(name);
        if (it == r.end()) return;
        for (std::uint64_t id : it->second) {
            if (id == exclude) continue;
            if (Connection* c = find(id)) f(*c);
        }
    }

private:
    using Registry = detail::StringHashMap<std::vector<std::uint64_t>>;

    static constexpr std::size_t index(Channel c) noexcept { return static_cast<std::size_t>(c); }
    void note_listened(std::size_t channel) { listened_[channel].store(!registries_[channel].empty(), std::memory_order_release); }

    std::unordered_map<std::uint64_t, Connection*> connections_;
    std::array<Registry, kChannels> registries_;
    std::array<std::atomic<bool>, kChannels> listened_{};
};

}  // namespace topgun::server
