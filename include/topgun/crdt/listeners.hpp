// Plain synchronous change callbacks for the CRDTs (no threads, no queues: the
// owner decides where notifications go).
#pragma once

#include <topgun/config.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE

using ListenerId = std::uint64_t;

template <class Event>
class Listeners {
public:
    using Callback = std::function<void(const Event&)>;

    ListenerId add(Callback cb) {
        const ListenerId id = ++last_id_;
        callbacks_.emplace_back(id, std::move(cb));
        return id;
    }
    void remove(ListenerId id) {
        callbacks_.erase(std::remove_if(callbacks_.begin(), callbacks_.end(), [id](const auto& c) { return c.first == id; }),
                         callbacks_.end());
    }
    bool empty() const noexcept { return callbacks_.empty(); }
    void emit(const Event& e) const {
        for (const auto& [id, cb] : callbacks_) cb(e);
    }

private:
    std::vector<std::pair<ListenerId, Callback>> callbacks_;
    ListenerId last_id_ = 0;
};

TOPGUN_END_NAMESPACE
