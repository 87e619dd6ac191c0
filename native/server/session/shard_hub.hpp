// The connections that live on one shard, and who among them listens to what:
// map holders (a connection that synced a map gets its SERVER_EVENTs) and
// counter subscribers. Touched only on the shard's thread; other shards reach
// it by posting a delivery.
#pragma once

#include "session/transport.hpp"

#include <topgun/detail/string_map.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace topgun::server {

class Connection;

class ShardHub {
public:
    void add(std::uint64_t id, Connection* c) { connections_[id] = c; }
    void remove(std::uint64_t id) {
        connections_.erase(id);
        drop_from(holders_, id);
        drop_from(counter_subscribers_, id);
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

    // Returns true when the connection was not yet a holder of the map.
    bool hold(std::string_view map, std::uint64_t id) { return add_to(holders_, map, id); }
    bool subscribe_counter(std::string_view name, std::uint64_t id) { return add_to(counter_subscribers_, name, id); }

    // Every holder of `map` but `exclude`.
    template <class F>
    void for_holders(std::string_view map, std::uint64_t exclude, F&& f) const {
        visit(holders_, map, exclude, f);
    }
    template <class F>
    void for_counter_subscribers(std::string_view name, std::uint64_t exclude, F&& f) const {
        visit(counter_subscribers_, name, exclude, f);
    }

private:
    using Registry = detail::StringHashMap<std::vector<std::uint64_t>>;

    static bool add_to(Registry& r, std::string_view name, std::uint64_t id) {
        auto& ids = r[std::string(name)];
        if (std::find(ids.begin(), ids.end(), id) != ids.end()) return false;
        ids.push_back(id);
        return true;
    }
    static void drop_from(Registry& r, std::uint64_t id) {
        for (auto it = r.begin(); it != r.end();) {
            auto& ids = it->second;
            ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
            it = ids.empty() ? r.erase(it) : std::next(it);
        }
    }
    template <class F>
    void visit(const Registry& r, std::string_view name, std::uint64_t exclude, F& f) const {
        const auto it = r.find(name);
        if (it == r.end()) return;
        for (std::uint64_t id : it->second) {
            if (id == exclude) continue;
            if (Connection* c = find(id)) f(*c);
        }
    }

    std::unordered_map<std::uint64_t, Connection*> connections_;
    Registry holders_;
    Registry counter_subscribers_;
};

}  // namespace topgun::server
