// OutboundQueue: the frames waiting to be written to one WebSocket, bounded by
// the slow-consumer backlog, and compacted while a write is in flight:
//   - the SERVER_EVENTs and SERVER_BATCH_EVENTs waiting behind it are merged,
//     in order, into one SERVER_BATCH_EVENT (the TS client applies the batch
//     form event by event, as single events, PROTOCOL.md §5.4);
//   - a QUERY_UPDATE or SEARCH_UPDATE supersedes a waiting one of the same
//     query (subscription) and key, which is dropped: clients keep the last
//     state each key was sent, so only the newest matters.
// A subscriber of a busy map or a query whose rows change on every write then
// gets fewer, larger frames and the current rows instead of falling behind
// until it is dropped as a slow consumer. Nothing waits: a frame that finds no
// write in flight is written at once.
#pragma once

#include "session/transport.hpp"

#include <topgun/msgpack/writer.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

namespace topgun::server {

// Events gathered behind an OutboundQueue's write in flight, as their encoded
// bytes. (At namespace scope: clang does not let std::optional use a nested
// class's member initializers inside the enclosing class.)
struct OutboundEventBatch {
    SharedFrame first;  // sent as it is if no other event joins it
    msgpack::Writer items;
    std::uint32_t count = 0;
    std::size_t accounted = 0;  // the bytes of the frames merged into it
};

class OutboundQueue {
public:
    // A merged batch stays well under the 2 MiB frame limit of clients.
    static constexpr std::size_t kMaxBatchBytes = 1024 * 1024;

    explicit OutboundQueue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

    // Queues a frame; false (queueing nothing) when the backlog would then
    // exceed the limit.
    bool push(SharedFrame frame);

    // The frame to write next, in flight until written(); null when none is
    // waiting. One write at a time.
    SharedFrame start_write();
    void written();

    // Forgets every frame not yet in flight (a dropped slow consumer).
    void drop_pending();

    // Bytes queued, the one in flight included.
    std::size_t bytes() const noexcept { return bytes_; }

private:
    struct Entry {
        SharedFrame frame;      // null once superseded
        std::string update_id;  // a waiting update's identity (type, id, key), else empty
    };
    // Appends the events of `frame` to the tail batch; false for any other frame.
    bool add_events(const SharedFrame& frame);
    // Queues an update, dropping the waiting one it supersedes; false for any other frame.
    bool add_update(const SharedFrame& frame);
    // Queues the tail batch as one frame.
    void close_batch();

    std::size_t max_bytes_;
    std::deque<Entry> entries_;        // the front is in flight while in_flight_
    std::optional<OutboundEventBatch> batch_;  // after every entry
    std::uint64_t popped_ = 0;         // entries that left the front: entries_[i] is number popped_ + i
    std::unordered_map<std::string, std::uint64_t> waiting_updates_;  // update_id -> entry number
    std::size_t bytes_ = 0;
    bool in_flight_ = false;
};

}  // namespace topgun::server
