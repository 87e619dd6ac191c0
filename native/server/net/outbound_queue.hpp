// OutboundQueue: the frames waiting to be written to one WebSocket, bounded by
// the slow-consumer backlog, and compacted while a write is in flight:
//   - the SERVER_EVENTs and SERVER_BATCH_EVENTs waiting behind it are merged,
//     in order, into one SERVER_BATCH_EVENT (the TS client applies the batch
//     form event by event, as single events, PROTOCOL.md §5.4);
//   - a QUERY_UPDATE or SEARCH_UPDATE takes the place of a waiting one of the
//     same query (subscription) and key: clients keep the last state each key
//     was sent, so only the newest matters. The change type says what the
//     client sees from the state it was last sent: ENTER then UPDATE is an
//     ENTER, LEAVE then ENTER an UPDATE.
// A subscriber of a busy map, or of a query whose rows change on every write,
// then gets fewer, larger frames and the current rows instead of falling
// behind until it is dropped as a slow consumer; the queue holds at most one
// update per query and key. Nothing waits: a frame that finds no write in
// flight is written at once.
#pragma once

#include "session/transport.hpp"

#include <topgun/protocol/common.hpp>
#include <topgun/protocol/event_batch.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace topgun::server {

// Events gathered behind an OutboundQueue's write in flight. (At namespace
// scope: clang does not let std::optional use a nested class's member
// initializers inside the enclosing class.)
struct OutboundEventBatch {
    SharedFrame first;                          // sent as it is if no other event joins it
    std::span<const std::uint8_t> first_items;  // its events' bytes, in *first
    std::uint32_t first_count = 0;              // and how many
    protocol::EventBatch joined;                // every event, once a second frame joined
    std::size_t frames = 0;                     // frames merged into it
    std::size_t accounted = 0;                  // their bytes
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

    // The bytes of the frames queued, the one in flight included (events
    // waiting to be merged count as the frames they came in).
    std::size_t bytes() const noexcept { return bytes_; }

    // A frame's type and where its payload starts. The frames queued are the
    // server's own encodings, {type, payload} with the payload last: a frame
    // of any other shape is queued as it is.
    struct FrameHead {
        std::string_view type;
        std::size_t payload;
    };

private:
    struct Entry {
        SharedFrame frame;
        const std::string* update_id = nullptr;  // a waiting update's key in waiting_updates_
        protocol::ChangeType change = protocol::ChangeType::Enter;  // the update's, as queued
    };

    // Appends the events of a SERVER_EVENT / SERVER_BATCH_EVENT to the tail
    // batch; false when it is no such frame.
    bool add_events(const SharedFrame& frame, const FrameHead& head);
    // Queues an update frame, in the place of a waiting one of the same query
    // and key; false when it is no update or the backlog would overflow
    // (`refused` then says which).
    bool add_update(const SharedFrame& frame, const FrameHead& head, bool& refused);
    // Queues the tail batch as one frame.
    void close_batch();

    std::size_t max_bytes_;
    std::deque<Entry> entries_;               // the front is in flight while in_flight_
    std::optional<OutboundEventBatch> batch_;  // after every entry
    std::uint64_t popped_ = 0;                // entries that left the front: entries_[i] is number popped_ + i
    std::unordered_map<std::string, std::uint64_t> waiting_updates_;  // update id -> entry number
    std::size_t bytes_ = 0;
    bool in_flight_ = false;
};

}  // namespace topgun::server
