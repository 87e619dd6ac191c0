// Applying client writes to a shard's maps (PROTOCOL.md §5.3 with our
// deliberate differences D1–D3): the client's HLC timestamp and OR tag are
// kept, so last-writer-wins means the newest write, not the last to arrive; an
// LWW delete is a tombstone record that every replica applies. Each applied
// change yields the storage mutation that makes it durable and the
// SERVER_EVENT that tells other replicas.
//
// These functions run on the shard that owns the keys and know nothing of
// connections or sockets.
#pragma once

#include "service/access_policy.hpp"
#include "service/event_journal.hpp"
#include "service/shard_state.hpp"
#include "storage/store.hpp"

#include <topgun/protocol/common.hpp>
#include <topgun/protocol/event_batch.hpp>
#include <topgun/protocol/journal.hpp>
#include <topgun/protocol/sync.hpp>
#include <topgun/protocol/writes.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace topgun::server {

struct OpRejection {
    std::string op_id;
    std::uint32_t code = 400;
    std::string reason;
    bool by_policy = false;  // refused by the access policies (the client also gets an ERROR 403)
};

struct WriteOutcome {
    // Off when nobody listens (no map holders) or nothing persists (memory
    // backend): the write path then builds neither.
    bool collect_events = true;
    bool collect_mutations = true;
    bool collect_journal = false;  // on when the event journal is
    // Access control: each op is checked against the policies for `caller`
    // (null: anonymous) on the shard, where the record it replaces is known.
    const PolicyStore* policies = nullptr;
    const auth::Principal* caller = nullptr;
    std::vector<OpRejection> rejected;
    // The map holders' events, encoded as the ops apply: one batch per map,
    // in the order the maps first had an event (a write touches few maps).
    struct MapEvents {
        std::string map_name;
        protocol::EventBatch batch;
    };
    std::vector<MapEvents> events;
    std::vector<storage::Mutation> mutations;
    std::vector<JournalRecord> journal;  // sequences not yet assigned
    // Ops handled, by kind in protocol::OpType order (PUT, REMOVE, OR_ADD, OR_REMOVE).
    std::array<std::size_t, 4> by_kind{};

    void emit(const protocol::ServerEventPayload& event);
};

// Checks that need no data (run before routing): shape, reserved map names,
// a timestamp too far ahead of `now_ms`.
std::optional<OpRejection> validate_op(const protocol::ClientOp& op, std::uint64_t now_ms, std::uint64_t max_drift_ms);

// True for names the server keeps for itself (`_topgun_*`, `__topgun_*`, any case).
bool is_reserved_map_name(std::string_view name) noexcept;

// Applies validated ops (consumed) in order.
void apply_ops(ShardState& shard, std::span<protocol::ClientOp> ops, WriteOutcome& out);

// ORMAP_PUSH_DIFF entries for keys this shard owns: tombstones first, then
// records with their own tags and timestamps (§6.6).
void apply_or_push(ShardState& shard, const std::string& map_name, std::span<protocol::ORMapEntry> entries,
                   WriteOutcome& out);

// Periodic upkeep of one shard: drops TTL-expired LWW records (D9) and, with
// a cutoff, LWW tombstones and OR tombstones older than it (GC). Returns the
// storage mutations that make the drops durable.
std::vector<storage::Mutation> maintain(ShardState& shard, std::optional<Timestamp> gc_cutoff);

// Which key each OR tombstone belonged to is kept in the store's meta space
// (namespace kKeyTombstonesNamespace, one entry per map and key), so sync
// leaves carry a key's tombstones after a restart too.
inline constexpr std::string_view kKeyTombstonesNamespace = "or-key-tombstones";
storage::Mutation key_tombstones_mutation(const std::string& map_name, std::string_view key,
                                          const std::vector<std::string>& tags);
// The inverse, for loading: (map, key, tags), or nothing for an unreadable entry.
struct KeyTombstones {
    std::string map;
    std::string key;
    std::vector<std::string> tags;
};
std::optional<KeyTombstones> parse_key_tombstones(std::string_view meta_key, std::span<const std::uint8_t> value);

// The storage form of one OR key's current records.
storage::OrKeyPut or_key_snapshot(const std::string& map_name, std::string_view key, const ORMap& map);

}  // namespace topgun::server
