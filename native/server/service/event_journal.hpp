// The event journal (PROTOCOL.md §10.5): every applied client write, numbered
// by one node-wide sequence and kept in a bounded ring (oldest dropped first),
// readable by range and pushed to subscribers as it happens.
//
// Where we go further than the reference: `previousValue` is filled, a PUT over
// a live value is an UPDATE, and JOURNAL_SUBSCRIBE honours `fromSequence` (the
// retained events from there are delivered before the live ones, with no gap
// and no duplicate between them).
//
// Shards append concurrently, so the journal locks. Frames for subscribers are
// posted to their connections' shards while the lock is held: posts are FIFO
// per target, so each subscriber receives events in sequence order.
#pragma once

#include "session/transport.hpp"

#include <topgun/msgpack/writer.hpp>
#include <topgun/protocol/journal.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace topgun::server {

// One journal event before its sequence is assigned: its map and type (what
// filters look at) and every other field MsgPack-encoded as map pairs. Kept
// encoded, so the write path copies no value and the ring frees one buffer per
// evicted event (a decoded event held seven allocations).
struct JournalRecord {
    std::string map_name;
    protocol::JournalEventType type = protocol::JournalEventType::Put;
    std::uint32_t pairs = 0;
    Bytes fields;
};

// Builds a record around a write: the value it replaces is encoded first,
// before the write overwrites it.
class JournalRecordBuilder {
public:
    explicit JournalRecordBuilder(const Value* previous);
    bool had_previous() const noexcept { return had_previous_; }
    JournalRecord finish(protocol::JournalEventType type, const std::string& map_name, std::string_view key,
                         const Value* value, const Timestamp& timestamp) &&;

private:
    msgpack::Writer fields_{96};
    std::uint32_t pairs_ = 0;
    bool had_previous_ = false;
};

// Which maps a reader may see (access policies); empty = every map.
using MapReadable = std::function<bool(std::string_view map)>;

struct JournalFilter {
    std::optional<std::string> map_name;
    std::optional<std::vector<protocol::JournalEventType>> types;  // absent = every type
    MapReadable readable;

    bool matches(const JournalRecord& e) const;
};

class EventJournal {
public:
    // Sends frames, in order, to connection `connection` living on shard `home`.
    // Called with the journal locked: it must post, never run the send inline.
    using Deliver = std::function<void(std::size_t home, std::uint64_t connection, std::vector<SharedFrame> frames)>;

    EventJournal(std::size_t capacity, bool enabled, Deliver deliver);

    // Off: appends are dropped (nothing is kept or pushed); reads see nothing.
    bool enabled() const noexcept { return enabled_; }

    // Numbers `events` (one write's, in order), keeps them and pushes each to
    // the connections with a subscription it matches (once per connection).
    void append(std::vector<JournalRecord> events);

    // Subscription `id` of `connection` (on shard `home`). With `from`, the
    // retained events at or after it that match are delivered first.
    void subscribe(std::uint64_t connection, std::size_t home, std::string id, JournalFilter filter,
                   std::optional<std::uint64_t> from);
    void unsubscribe(std::uint64_t connection, std::string_view id);
    void drop_connection(std::uint64_t connection);

    // The JOURNAL_READ_RESPONSE frame for `request_id`: at most `limit`
    // retained events with sequence >= `from` (and of map `map_name` when
    // given); `hasMore` when further ones match; `latestSequence` the last one
    // handed out ("0" before the first event).
    Bytes read(const std::string& request_id, std::uint64_t from, std::size_t limit, const std::optional<std::string>& map_name,
               const MapReadable& readable = {}) const;

    // A decimal sequence; nothing for anything else.
    static std::optional<std::uint64_t> parse_sequence(std::string_view text);

private:
    struct Subscriber {
        std::size_t home = 0;
        std::vector<std::pair<std::string, JournalFilter>> subscriptions;

        bool wants(const JournalRecord& e) const;
    };

    // Index into events_ of the first retained event with sequence >= from.
    std::size_t position_of(std::uint64_t from) const;

    const std::size_t capacity_;
    const bool enabled_;
    const Deliver deliver_;
    mutable std::mutex mutex_;
    std::deque<JournalRecord> events_;  // sequences next_ - size() .. next_ - 1
    std::uint64_t next_ = 1;
    std::unordered_map<std::uint64_t, Subscriber> subscribers_;
};

}  // namespace topgun::server
