// Plain synchronous change callbacks for the CRDTs (no threads, no queues: the
// owner decides where notifications go).
#pragma once

#include <topgun/config.hpp>

#include <algorithm>
#include <cstddef>
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
    // A callback that runs before every one added with add().
    ListenerId add_first(Callback cb) {
        const ListenerId id = ++last_id_;
        callbacks_.emplace(callbacks_.begin() + static_cast<std::ptrdiff_t>(first_count_++), id, std::move(cb));
        return id;
    }
    void remove(ListenerId id) {
        const auto it = std::find_if(callbacks_.begin(), callbacks_.end(), [id](const auto& c) { return c.first == id; });
        if (it == callbacks_.end()) return;
        if (static_cast<std::size_t>(it - callbacks_.begin()) < first_count_) --first_count_;
        callbacks_.erase(it);
    }
    bool empty() const noexcept { return callbacks_.empty(); }
    void emit(const Event& e) const {
        for (const auto& [id, cb] : callbacks_) cb(e);
    }

private:
    std::vector<std::pair<ListenerId, Callback>> callbacks_;
    std::size_t first_count_ = 0;  // callbacks_ begins with the add_first ones
    ListenerId last_id_ = 0;
};

TOPGUN_END_NAMESPACE
