// The bounded queue on every edge of a DAG (see executor.hpp for the model):
// a fixed-capacity ring buffer of items, written by one producer and read by
// one consumer, both driven by the same cooperative executor (no locks).
//
// Why a ring of default-constructed slots: pushing moves an item into a slot
// and draining hands the consumer a reference to the slot, so moving an item
// along an edge never allocates, and the storage is allocated once, when the
// executor is built. A bounded capacity is what makes backpressure possible: a
// full queue is the signal that pauses its producer.
//
// A queue also carries the end of its stream: the executor closes it when the
// producer has finished, and a closed, empty queue is exhausted.
#pragma once

#include <topgun/config.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

TOPGUN_BEGIN_NAMESPACE
namespace dag {

// What a graph can carry: items are moved through pre-allocated slots.
template <class T>
concept Item = std::default_initializable<T> && std::movable<T>;

template <Item T>
class Queue {
public:
    // A capacity of 0 is raised to 1 (graph validation refuses 0 before this).
    explicit Queue(std::size_t capacity)
        : capacity_(std::max<std::size_t>(capacity, 1)), slots_(std::make_unique<T[]>(capacity_)) {}

    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;

    std::size_t capacity() const noexcept { return capacity_; }
    std::size_t size() const noexcept { return size_; }
    std::size_t room() const noexcept { return capacity_ - size_; }
    bool empty() const noexcept { return size_ == 0; }
    bool full() const noexcept { return size_ == capacity_; }

    // End of stream: no more pushes will come (set by the executor).
    void close() noexcept { closed_ = true; }
    bool closed() const noexcept { return closed_; }
    bool exhausted() const noexcept { return closed_ && size_ == 0; }

    // Items ever pushed / taken: the executor compares them to see progress.
    std::uint64_t pushed_total() const noexcept { return popped_ + size_; }
    std::uint64_t popped_total() const noexcept { return popped_; }

    // False, leaving the item untouched, when the queue is full.
    bool try_push(T&& item) {
        if (size_ == capacity_) return false;
        slots_[tail_] = std::move(item);
        if (++tail_ == capacity_) tail_ = 0;
        ++size_;
        return true;
    }
    bool try_push(const T& item) {
        if (size_ == capacity_) return false;
        slots_[tail_] = item;
        if (++tail_ == capacity_) tail_ = 0;
        ++size_;
        return true;
    }

    // The oldest item; the queue must not be empty.
    T& front() noexcept { return slots_[head_]; }
    const T& front() const noexcept { return slots_[head_]; }
    void pop() noexcept { consume(1); }

    // The oldest items that lie contiguously (the whole content unless it
    // wraps around the end of the ring); release them with consume().
    std::span<T> readable() noexcept { return {slots_.get() + head_, std::min(size_, capacity_ - head_)}; }
    void consume(std::size_t n) noexcept {
        n = std::min(n, size_);
        head_ += n;
        if (head_ >= capacity_) head_ -= capacity_;
        size_ -= n;
        popped_ += n;
    }

    // Hands up to `max` items, oldest first, to f(T&) (which may move from
    // them) and removes them. f must not touch this queue.
    template <class F>
    std::size_t drain(std::size_t max, F&& f) {
        const std::size_t n = std::min(max, size_);
        std::size_t left = n;
        while (left > 0) {
            const std::size_t chunk = std::min(left, capacity_ - head_);
            T* slot = slots_.get() + head_;
            for (std::size_t i = 0; i < chunk; ++i) f(slot[i]);
            head_ += chunk;
            if (head_ == capacity_) head_ = 0;
            size_ -= chunk;
            popped_ += chunk;
            left -= chunk;
        }
        return n;
    }

private:
    std::size_t capacity_;
    std::unique_ptr<T[]> slots_;
    std::size_t head_ = 0;  // oldest item
    std::size_t tail_ = 0;  // next free slot
    std::size_t size_ = 0;
    std::uint64_t popped_ = 0;
    bool closed_ = false;
};

}  // namespace dag
TOPGUN_END_NAMESPACE
