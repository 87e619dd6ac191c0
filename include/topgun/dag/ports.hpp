// A processor's two ports onto the graph (see executor.hpp for the model):
//
//   Inbox<T>   the read side of every inbound edge queue (one port per edge,
//              in the order the edges were connected). drain() hands items to
//              a callback in batches, taking from the ports in turn so that no
//              producer of a fan-in starves the others.
//   Outbox<T>  the write side of every outbound edge queue. room() is how many
//              items may be pushed now; pushing past it is a broken contract
//              that the executor reports as the processor's failure (the item
//              is not stored), never a silent overwrite.
//   FanOut<T>  how an outbox with several consumers routes an item: to every
//              consumer (broadcast, copies), to one chosen by a function of the
//              item (partition), or to each in turn (round robin).
//
// Why these are concrete classes and processors are templates: a processor's
// per-item work is a callback inlined into drain() and an inline push(), so
// the only virtual call is one per batch (the executor's call into the
// processor), and with one consumer push() is a single ring-buffer write.
//
// Room with several consumers is the least room among them, whatever the
// policy: it must hold for any item, and a partitioned item may go anywhere.
// A slow consumer therefore pauses its producer for all consumers, which keeps
// each consumer's order and needs no staging buffer.
#pragma once

#include <topgun/config.hpp>
#include <topgun/dag/queue.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace dag {

template <Item T>
class Executor;

template <Item T>
class FanOut {
public:
    enum class Kind : std::uint8_t { Broadcast, Partition, RoundRobin };

    // Every consumer gets every item (copied to all but the last); the item
    // type must be copyable, which graph validation checks.
    static FanOut broadcast() { return FanOut(Kind::Broadcast); }
    // Consumers take turns, one item each.
    static FanOut round_robin() { return FanOut(Kind::RoundRobin); }
    // The item goes to consumer `select(item) % consumers` (consumers in the
    // order their edges were connected). One indirect call per item.
    template <class F>
        requires std::is_invocable_r_v<std::size_t, const F&, const T&>
    static FanOut partition(F select) {
        FanOut policy(Kind::Partition);
        policy.state_ = std::make_shared<const F>(std::move(select));
        policy.select_ = [](const void* state, const T& item) -> std::size_t {
            return static_cast<std::size_t>((*static_cast<const F*>(state))(item));
        };
        return policy;
    }

    Kind kind() const noexcept { return kind_; }
    std::size_t select(const T& item) const { return select_(state_.get(), item); }

private:
    explicit FanOut(Kind kind) : kind_(kind) {}

    Kind kind_;
    std::shared_ptr<const void> state_;
    std::size_t (*select_)(const void*, const T&) = nullptr;
};

template <Item T>
class Inbox {
public:
    Inbox() = default;
    explicit Inbox(std::vector<Queue<T>*> ports) : ports_(std::move(ports)) {}

    std::size_t ports() const noexcept { return ports_.size(); }
    // Direct access to one inbound edge (e.g. to peek at its front). Items
    // taken through the queue itself bypass the batch quota.
    Queue<T>& port(std::size_t i) noexcept { return *ports_[i]; }
    const Queue<T>& port(std::size_t i) const noexcept { return *ports_[i]; }

    std::size_t available() const noexcept {
        std::size_t n = 0;
        for (const Queue<T>* q : ports_) n += q->size();
        return n;
    }
    // Every producer has finished and every item has been taken (true for a
    // processor without inputs).
    bool exhausted() const noexcept {
        for (const Queue<T>* q : ports_) {
            if (!q->exhausted()) return false;
        }
        return true;
    }
    // How many more items this activation may take (set by the executor).
    std::size_t quota() const noexcept { return quota_; }

    // Hands up to min(max, quota) items to f(T&), starting at a different
    // port each call; returns how many it took.
    template <class F>
    std::size_t drain(std::size_t max, F&& f) {
        max = std::min(max, quota_);
        std::size_t taken = 0;
        if (ports_.size() == 1) {
            taken = ports_[0]->drain(max, f);
        } else {
            const std::size_t n = ports_.size();
            for (std::size_t k = 0; k < n && taken < max; ++k) {
                std::size_t i = next_ + k;
                if (i >= n) i -= n;
                taken += ports_[i]->drain(max - taken, f);
            }
            if (n > 0 && ++next_ == n) next_ = 0;
        }
        quota_ -= taken;
        return taken;
    }
    template <class F>
    std::size_t drain(F&& f) {
        return drain(std::numeric_limits<std::size_t>::max(), f);
    }
    // The same from one port only.
    template <class F>
    std::size_t drain_port(std::size_t i, std::size_t max, F&& f) {
        const std::size_t taken = ports_[i]->drain(std::min(max, quota_), f);
        quota_ -= taken;
        return taken;
    }

    std::uint64_t taken_total() const noexcept {
        std::uint64_t n = 0;
        for (const Queue<T>* q : ports_) n += q->popped_total();
        return n;
    }

private:
    friend class Executor<T>;

    std::vector<Queue<T>*> ports_;
    std::size_t next_ = 0;
    std::size_t quota_ = std::numeric_limits<std::size_t>::max();
};

template <Item T>
class Outbox {
public:
    Outbox() : fan_out_(FanOut<T>::broadcast()) {}
    Outbox(std::vector<Queue<T>*> targets, FanOut<T> fan_out)
        : targets_(std::move(targets)), fan_out_(std::move(fan_out)) {
        if (targets_.size() == 1) single_ = targets_[0];
    }

    std::size_t consumers() const noexcept { return targets_.size(); }

    // How many items may be pushed now (0 without consumers).
    std::size_t room() const noexcept {
        if (single_ != nullptr) return single_->room();
        if (targets_.empty()) return 0;
        std::size_t r = std::numeric_limits<std::size_t>::max();
        for (const Queue<T>* q : targets_) r = std::min(r, q->room());
        return r;
    }

    // False when there was no room: the item is dropped and the executor
    // fails this processor once its activation returns.
    bool push(T&& item) {
        if (single_ != nullptr) [[likely]] {
            if (single_->try_push(std::move(item))) [[likely]] {
                return true;
            }
            overflowed_ = true;
            return false;
        }
        return route(std::move(item));
    }
    bool push(const T& item)
        requires std::copy_constructible<T>
    {
        T copy(item);
        return push(std::move(copy));
    }

    // Set when an item was pushed past the room.
    bool overflowed() const noexcept { return overflowed_; }

    std::uint64_t pushed_total() const noexcept {
        std::uint64_t n = 0;
        for (const Queue<T>* q : targets_) n += q->pushed_total();
        return n;
    }

private:
    friend class Executor<T>;

    bool route(T&& item) {
        const std::size_t n = targets_.size();
        if (n == 0) return refuse();
        switch (fan_out_.kind()) {
            case FanOut<T>::Kind::Partition: {
                Queue<T>* q = targets_[fan_out_.select(item) % n];
                return q->try_push(std::move(item)) || refuse();
            }
            case FanOut<T>::Kind::RoundRobin: {
                Queue<T>* q = targets_[next_];
                if (++next_ == n) next_ = 0;
                return q->try_push(std::move(item)) || refuse();
            }
            case FanOut<T>::Kind::Broadcast:
                if constexpr (std::copy_constructible<T>) {
                    if (room() == 0) return refuse();
                    for (std::size_t i = 0; i + 1 < n; ++i) targets_[i]->try_push(static_cast<const T&>(item));
                    targets_[n - 1]->try_push(std::move(item));
                    return true;
                } else {
                    return refuse();  // validation refuses this graph
                }
        }
        return refuse();
    }
    bool refuse() noexcept {
        overflowed_ = true;
        return false;
    }

    std::vector<Queue<T>*> targets_;
    Queue<T>* single_ = nullptr;
    FanOut<T> fan_out_;
    std::size_t next_ = 0;
    bool overflowed_ = false;
};

}  // namespace dag
TOPGUN_END_NAMESPACE
