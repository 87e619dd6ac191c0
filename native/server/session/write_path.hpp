// The way of one batch of client ops (an OP_BATCH, a CLIENT_OP, the operations
// of a POST /sync) through the node: validated, routed to the shards owning
// their keys, applied there (journal, holders' events, storage), and answered
// on the shard it came from once every part has reported.
#pragma once

#include "service/crdt_service.hpp"
#include "session/transport.hpp"

#include <topgun/protocol/writes.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace topgun::server {

class Node;

std::uint64_t wall_millis();

// Who sent a write: its connection (0 for none, e.g. HTTP) gets no echo of it
// and no live-query event for its own keys; `home` is the shard that answers;
// `caller` is who the access policies judge (null: anonymous).
struct WriteOrigin {
    std::uint64_t connection = 0;
    std::size_t home = 0;
    std::shared_ptr<const auth::Principal> caller;
};

struct PendingWrite {
    std::chrono::steady_clock::time_point arrived = std::chrono::steady_clock::now();
    std::string last_id;
    std::vector<std::string> op_ids;  // for per-op results, when a write concern was asked for
    bool report_results = false;
    bool want_persisted = false;
    std::size_t parts = 0;
    std::size_t applied = 0;
    std::size_t persisted = 0;
    bool persist_failed = false;
    std::vector<OpRejection> rejected;
    std::function<void(PendingWrite&)> progress;  // on the origin's shard, after each part applied or persisted

    bool done() const noexcept { return applied == parts && (!want_persisted || persisted == parts); }
};

// True when storage is so far behind that new writes must be refused
// (unacknowledged, so clients send them again later).
bool storage_backlogged(Node& node);

// Starts a write; `progress` runs on origin.home whenever a part reports
// (check done()). `requested` is the batch's write concern, if any (an op's
// own raises it).
std::shared_ptr<PendingWrite> submit_write(Node& node, WriteOrigin origin, std::vector<protocol::ClientOp> ops,
                                           std::optional<protocol::WriteConcern> requested,
                                           std::function<void(PendingWrite&)> progress);

// A done write's answer: the ack (achieved level; per-op results when a write
// concern was asked for) and its rejections. Counts it in the metrics.
struct WriteAnswer {
    protocol::OpAck ack;
    std::vector<OpRejection> rejected;
    bool persist_failed = false;
};
WriteAnswer answer_write(Node& node, const PendingWrite& w);

// Sends a write's events to the holders of their maps (a busy map's holder
// gets one frame per write, not one per op), but connection `exclude`.
void deliver_events(Node& node, const std::vector<WriteOutcome::MapEvents>& events, std::uint64_t exclude);

}  // namespace topgun::server
