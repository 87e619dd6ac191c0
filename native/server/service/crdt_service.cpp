#include "service/crdt_service.hpp"

#include "service/map_scoped_id.hpp"

#include <topgun/msgpack/reader.hpp>
#include <topgun/msgpack/writer.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace topgun::server {
namespace {

using protocol::ClientOp;
using protocol::OpType;
using protocol::ServerEventType;

// In protocol::OpType order (WriteOutcome::by_kind is indexed by it).
enum class OpKind { LwwPut, LwwRemove, OrAdd, OrRemove };

// The reference's classification order (§5.3): an explicit nil record or
// opType REMOVE is a delete; an orRecord an OR add; an orTag without orRecord
// an OR remove; anything else an LWW put.
OpKind classify(const ClientOp& op) {
    if (op.op_type == OpType::Remove || op.record.is_nil()) return OpKind::LwwRemove;
    if (op.or_record.present()) return OpKind::OrAdd;
    if (op.or_tag.present() && op.or_record.absent()) return OpKind::OrRemove;
    return OpKind::LwwPut;
}

const Timestamp* op_timestamp(const ClientOp& op) {
    if (const auto* r = op.record.get()) return &r->timestamp;
    if (const auto* r = op.or_record.get()) return &r->timestamp;
    return nullptr;
}

std::string op_id(const ClientOp& op) { return op.id.value_or(""); }

// Takes the applied record (the map keeps its own copy): the holders' event
// is its last use, so it moves there instead of being copied.
void emit_lww(const std::string& map_name, std::string_view key, LWWRecord&& record, WriteOutcome& out) {
    if (out.collect_mutations) out.mutations.emplace_back(storage::LwwPut{map_name, std::string(key), record});
    if (!out.collect_events) return;
    protocol::ServerEventPayload event;
    event.map_name = map_name;
    event.event_type = record.is_tombstone() ? ServerEventType::Remove : ServerEventType::Put;
    event.key = std::string(key);
    event.record = protocol::LWWRecordData::from(std::move(record));
    out.emit(event);
}

protocol::ServerEventPayload or_remove_event(const std::string& map_name, std::string_view key, const std::string& tag) {
    protocol::ServerEventPayload event;
    event.map_name = map_name;
    event.event_type = ServerEventType::OrRemove;
    event.key = std::string(key);
    event.or_tag = tag;
    return event;
}

using protocol::JournalEventType;

// A journal record begun with the value a write is about to replace
// (previous() finds it), when the journal is on.
template <class Lookup>
std::optional<JournalRecordBuilder> journal_start(const WriteOutcome& out, Lookup previous) {
    if (!out.collect_journal) return std::nullopt;
    return JournalRecordBuilder(previous());
}

// Key's record under `tag`, or null.
const ORRecord* or_record(const ORMap& map, std::string_view key, std::string_view tag) {
    for (const ORRecord& r : map.records(key)) {
        if (r.tag == tag) return &r;
    }
    return nullptr;
}

// The value of key's record under `tag`, or null.
const Value* or_value(const ORMap& map, std::string_view key, std::string_view tag) {
    const ORRecord* r = or_record(map, key, tag);
    return r == nullptr ? nullptr : &r->value;
}

// Whether the caller may apply `op`: a write is tested with the value it
// writes and the live value it replaces (so a condition such as
// `auth.id == data.ownerId` cannot be used to take a record over), a removal
// with the value it removes.
bool permitted(ShardState& shard, const ClientOp& op, OpKind kind, const WriteOutcome& out) {
    const PolicyStore& policies = *out.policies;
    switch (kind) {
        case OpKind::LwwPut: {
            const LWWMap* map = shard.find_lww(op.map_name);
            const Value* stored = map == nullptr ? nullptr : map->get(op.key);
            // A record with a nil value is stored as a tombstone: a removal.
            if (op.record.value.value.is_nil()) return policies.allows(out.caller, Access::Remove, op.map_name, stored);
            return policies.allows(out.caller, Access::Write, op.map_name, &op.record.value.value) &&
                   (stored == nullptr || policies.allows(out.caller, Access::Write, op.map_name, stored));
        }
        case OpKind::LwwRemove: {
            const LWWMap* map = shard.find_lww(op.map_name);
            return policies.allows(out.caller, Access::Remove, op.map_name, map == nullptr ? nullptr : map->get(op.key));
        }
        case OpKind::OrAdd: {
            // A record under a stored tag replaces it: judged on that record too.
            const OrMapState* state = shard.find_or(op.map_name);
            const Value* stored = state == nullptr ? nullptr : or_value(state->map, op.key, op.or_record.value.tag);
            return policies.allows(out.caller, Access::Write, op.map_name, &op.or_record.value.value) &&
                   (stored == nullptr || policies.allows(out.caller, Access::Write, op.map_name, stored));
        }
        case OpKind::OrRemove: {
            const OrMapState* state = shard.find_or(op.map_name);
            return policies.allows(out.caller, Access::Remove, op.map_name,
                                   state == nullptr ? nullptr : or_value(state->map, op.key, op.or_tag.value));
        }
    }
    return false;
}

}  // namespace

bool is_reserved_map_name(std::string_view name) noexcept {
    auto starts_with_ci = [&](std::string_view prefix) {
        if (name.size() < prefix.size()) return false;
        for (std::size_t i = 0; i < prefix.size(); ++i) {
            if (std::tolower(static_cast<unsigned char>(name[i])) != prefix[i]) return false;
        }
        return true;
    };
    return starts_with_ci("_topgun_") || starts_with_ci("__topgun_");
}

std::optional<OpRejection> validate_op(const ClientOp& op, std::uint64_t now_ms, std::uint64_t max_drift_ms) {
    if (op.map_name.empty()) return OpRejection{op_id(op), 400, "mapName must not be empty"};
    if (is_reserved_map_name(op.map_name)) {
        return OpRejection{op_id(op), 403, "map name \"" + op.map_name + "\" is reserved for the server"};
    }
    const OpKind kind = classify(op);
    if (op.op_type == OpType::OrAdd && kind != OpKind::OrAdd) {
        return OpRejection{op_id(op), 400, "OR_ADD needs an orRecord"};
    }
    if (op.op_type == OpType::OrRemove && kind != OpKind::OrRemove) {
        return OpRejection{op_id(op), 400, "OR_REMOVE needs an orTag and no orRecord"};
    }
    if (kind == OpKind::LwwPut && !op.record.present()) return OpRejection{op_id(op), 400, "PUT needs a record"};
    if (kind == OpKind::OrAdd && op.or_record.value.tag.empty()) {
        return OpRejection{op_id(op), 400, "orRecord.tag must not be empty"};
    }
    if (kind == OpKind::OrRemove && op.or_tag.value.empty()) return OpRejection{op_id(op), 400, "orTag must not be empty"};
    if (const Timestamp* ts = op_timestamp(op)) {
        if (!valid_node_id(ts->node_id)) {
            return OpRejection{op_id(op), 400, "timestamp.nodeId must be non-empty and contain no ':'"};
        }
        // D1: client timestamps are kept, so one far in the future would win
        // every later write; refuse it instead.
        if (ts->millis > now_ms && ts->millis - now_ms > max_drift_ms) {
            return OpRejection{op_id(op), 400,
                               "timestamp is " + std::to_string(ts->millis - now_ms) +
                                   " ms ahead of the server clock (at most " + std::to_string(max_drift_ms) +
                                   " ms allowed)"};
        }
    }
    return std::nullopt;
}

void WriteOutcome::emit(const protocol::ServerEventPayload& event) {
    auto it = std::find_if(events.begin(), events.end(), [&](const MapEvents& m) { return m.map_name == event.map_name; });
    if (it == events.end()) it = events.insert(it, MapEvents{event.map_name, {}});
    it->batch.add(event);
}

void apply_ops(ShardState& shard, std::span<ClientOp> ops, WriteOutcome& out) {
    for (ClientOp& op : ops) {
        const OpKind kind = classify(op);
        ++out.by_kind[static_cast<std::size_t>(kind)];
        if (out.policies != nullptr && !permitted(shard, op, kind, out)) {
            const bool removal = kind == OpKind::LwwRemove || kind == OpKind::OrRemove;
            out.rejected.push_back(OpRejection{op_id(op), 403,
                                               std::string("access denied: ") + (removal ? "remove from" : "write to") +
                                                   " map \"" + op.map_name + "\"",
                                               true});
            continue;
        }
        switch (kind) {
            case OpKind::LwwPut:
            case OpKind::LwwRemove: {
                LWWMap& map = shard.lww(op.map_name);
                auto journal = journal_start(out, [&] { return map.get(op.key); });
                std::optional<LWWRecord> applied;
                if (op.record.present()) {
                    auto& data = op.record.value;  // the op is consumed: move its parts
                    LWWRecord record{kind == OpKind::LwwRemove ? Value() : std::move(data.value),  // a delete carries its tombstone
                                     std::move(data.timestamp),
                                     data.ttl_ms.to_optional()};
                    if (map.merge(op.key, record) == LWWMap::MergeResult::Applied) applied = std::move(record);
                } else {
                    // A delete without a record (raw clients): stamp the tombstone here.
                    applied = map.remove(op.key);
                }
                if (!applied) break;
                if (journal) {
                    const bool removed = applied->is_tombstone();
                    const JournalEventType type = removed                  ? JournalEventType::Delete
                                                  : journal->had_previous() ? JournalEventType::Update
                                                                            : JournalEventType::Put;
                    out.journal.push_back(std::move(*journal).finish(type, op.map_name, op.key,
                                                                     removed ? nullptr : &applied->value, applied->timestamp));
                }
                emit_lww(op.map_name, op.key, std::move(*applied), out);
                break;
            }
            case OpKind::OrAdd: {
                OrMapState& state = shard.or_map(op.map_name);
                if (!shard.or_tags().claim(op.map_name, op.or_record.value.tag, op.key)) {
                    out.rejected.push_back(OpRejection{op_id(op), 409,
                                                       "orRecord.tag \"" + op.or_record.value.tag +
                                                           "\" already tags a record of another key"});
                    break;
                }
                ORRecord record = op.or_record.value.to_record();
                const auto stored = state.map.records(op.key);
                const bool resent = std::any_of(stored.begin(), stored.end(), [&](const ORRecord& r) { return r == record; });
                auto journal = resent ? std::nullopt : journal_start(out, [&] { return or_value(state.map, op.key, record.tag); });
                if (!resent && state.map.apply(op.key, record)) {
                    if (journal) {
                        // A record under a tag already stored replaces it: an update.
                        const JournalEventType type = journal->had_previous() ? JournalEventType::Update : JournalEventType::Put;
                        out.journal.push_back(std::move(*journal).finish(type, op.map_name, op.key, &record.value, record.timestamp));
                    }
                    if (out.collect_mutations) out.mutations.emplace_back(or_key_snapshot(op.map_name, op.key, state.map));
                    if (!out.collect_events) break;
                    protocol::ServerEventPayload event;
                    event.map_name = op.map_name;
                    event.event_type = ServerEventType::OrAdd;
                    event.key = op.key;
                    event.or_tag = record.tag;
                    event.or_record = std::move(op.or_record.value);
                    out.emit(event);
                }
                break;
            }
            case OpKind::OrRemove: {
                OrMapState* state = shard.find_or(op.map_name);
                const std::string& tag = op.or_tag.value;
                // A remove takes effect only on a record stored under the key it
                // names: clients drop a removed tag under whichever key holds it, so
                // a remove naming another key's tag would take that record from
                // every client, past its own access checks, while the worker owning
                // its key kept it. A re-sent remove, or one of a record never held
                // here, changes nothing either.
                if (state == nullptr || or_value(state->map, op.key, tag) == nullptr) break;
                if (auto journal = journal_start(out, [&] { return or_value(state->map, op.key, tag); })) {
                    // The remove carries no timestamp: the journal records when the server applied it.
                    out.journal.push_back(std::move(*journal).finish(JournalEventType::Delete, op.map_name, op.key, nullptr,
                                                                     shard.clock().now()));
                }
                state->map.apply_tombstone(tag);
                state->note_tombstone(op.key, tag);
                if (out.collect_mutations) {
                    out.mutations.push_back(key_tombstones_mutation(op.map_name, op.key, state->key_tombstones.find(op.key)->second));
                    out.mutations.emplace_back(storage::OrTombstonesAdd{op.map_name, {tag}});
                    out.mutations.emplace_back(or_key_snapshot(op.map_name, op.key, state->map));
                }
                if (out.collect_events) out.emit(or_remove_event(op.map_name, op.key, tag));
                break;
            }
        }
    }
}

void apply_or_push(ShardState& shard, const std::string& map_name, std::span<protocol::ORMapEntry> entries,
                   WriteOutcome& out) {
    OrMapState& state = shard.or_map(map_name);
    // An inbound record of the entry being merged: the timestamp of the record
    // it meets under its tag, and the journal record begun with that record's value.
    struct Inbound {
        const protocol::ORMapRecordData* data;
        std::optional<Timestamp> met;
        std::optional<JournalRecordBuilder> journal;
    };
    std::vector<ORRecord> records;
    std::vector<Inbound> inbound;
    for (protocol::ORMapEntry& entry : entries) {
        // The client sends every tombstone of its map with each key; as with
        // OR_REMOVE, only those naming one of this key's stored records apply.
        std::vector<std::string> new_tombstones;
        for (const std::string& tag : entry.tombstones) {
            const Value* removed = or_value(state.map, entry.key, tag);
            if (removed == nullptr || std::find(new_tombstones.begin(), new_tombstones.end(), tag) != new_tombstones.end()) continue;
            if (auto journal = journal_start(out, [&] { return removed; })) {
                // A tombstone carries no timestamp: the journal records when the server applied it.
                out.journal.push_back(std::move(*journal).finish(JournalEventType::Delete, map_name, entry.key, nullptr,
                                                                 shard.clock().now()));
            }
            state.note_tombstone(entry.key, tag);
            new_tombstones.push_back(tag);
        }
        if (!new_tombstones.empty()) {
            out.mutations.push_back(key_tombstones_mutation(map_name, entry.key, state.key_tombstones.find(entry.key)->second));
        }
        records.clear();
        inbound.clear();
        for (const auto& r : entry.records) {
            const bool repeated = std::any_of(inbound.begin(), inbound.end(), [&](const Inbound& in) { return in.data->tag == r.tag; });
            if (repeated || !shard.or_tags().claim(map_name, r.tag, entry.key)) continue;
            records.push_back(r.to_record());
            const ORRecord* met = or_record(state.map, entry.key, r.tag);
            inbound.push_back(Inbound{&r, met == nullptr ? std::nullopt : std::optional(met->timestamp),
                                      journal_start(out, [&] { return met == nullptr ? nullptr : &met->value; })});
        }
        state.map.merge_key(entry.key, records, new_tombstones);
        if (!new_tombstones.empty()) out.mutations.emplace_back(storage::OrTombstonesAdd{map_name, new_tombstones});
        out.mutations.emplace_back(or_key_snapshot(map_name, entry.key, state.map));
        // Tell other replicas (and the journal) of the removals and of each
        // inbound record that changed the key.
        for (const std::string& tag : new_tombstones) out.emit(or_remove_event(map_name, entry.key, tag));
        for (Inbound& in : inbound) {
            const ORRecord* stored = or_record(state.map, entry.key, in.data->tag);
            const bool changed = stored != nullptr && stored->timestamp == in.data->timestamp && (!in.met || *in.met < stored->timestamp);
            if (!changed) continue;
            if (in.journal) {
                const JournalEventType type = in.journal->had_previous() ? JournalEventType::Update : JournalEventType::Put;
                out.journal.push_back(std::move(*in.journal).finish(type, map_name, entry.key, &stored->value, stored->timestamp));
            }
            protocol::ServerEventPayload event;
            event.map_name = map_name;
            event.event_type = ServerEventType::OrAdd;
            event.key = entry.key;
            event.or_tag = in.data->tag;
            event.or_record = *in.data;
            out.emit(event);
        }
    }
}

std::vector<storage::Mutation> maintain(ShardState& shard, std::optional<Timestamp> gc_cutoff) {
    std::vector<storage::Mutation> out;
    for (auto& [name, map] : shard.lww_maps()) {
        for (std::string& key : map.remove_expired()) out.emplace_back(storage::LwwErase{name, std::move(key)});
        if (gc_cutoff) {
            for (std::string& key : map.prune(*gc_cutoff)) out.emplace_back(storage::LwwErase{name, std::move(key)});
        }
    }
    if (!gc_cutoff) return out;
    for (auto& [name, state] : shard.or_maps()) {
        std::vector<std::string> pruned = state.map.prune(*gc_cutoff);
        if (pruned.empty()) continue;
        // Forget the pruned tags' key associations too (pruned is sorted).
        for (auto it = state.key_tombstones.begin(); it != state.key_tombstones.end();) {
            auto& tags = it->second;
            const auto erased = std::erase_if(tags, [&](const std::string& t) { return std::binary_search(pruned.begin(), pruned.end(), t); });
            if (erased != 0) out.push_back(key_tombstones_mutation(name, it->first, tags));
            if (!tags.empty()) {
                ++it;
                continue;
            }
            auto& leaf_keys = state.tombstoned_keys_by_leaf[OrMapState::leaf_of(it->first)];
            std::erase(leaf_keys, it->first);
            it = state.key_tombstones.erase(it);
        }
        shard.or_tags().release(name, pruned);
        out.emplace_back(storage::OrTombstonesErase{name, std::move(pruned)});
    }
    return out;
}


storage::Mutation key_tombstones_mutation(const std::string& map_name, std::string_view key,
                                          const std::vector<std::string>& tags) {
    std::string meta_key = map_scoped_id(map_name, key);
    if (tags.empty()) return storage::MetaErase{std::string(kKeyTombstonesNamespace), std::move(meta_key)};
    msgpack::Writer w(16 + 32 * tags.size());
    w.array_header(tags.size());
    for (const std::string& tag : tags) w.string(tag);
    return storage::MetaPut{std::string(kKeyTombstonesNamespace), std::move(meta_key), w.take()};
}

std::optional<KeyTombstones> parse_key_tombstones(std::string_view meta_key, std::span<const std::uint8_t> value) {
    const auto colon = meta_key.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::size_t map_len = 0;
    const auto [end, ec] = std::from_chars(meta_key.data(), meta_key.data() + colon, map_len);
    if (ec != std::errc() || end != meta_key.data() + colon || map_len > meta_key.size() - colon - 1) return std::nullopt;
    KeyTombstones out;
    out.map = std::string(meta_key.substr(colon + 1, map_len));
    out.key = std::string(meta_key.substr(colon + 1 + map_len));
    msgpack::Reader r(value);
    std::uint32_t count = 0;
    if (!r.read_array_header(count)) return std::nullopt;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::string tag;
        if (!r.read_string(tag)) return std::nullopt;
        out.tags.push_back(std::move(tag));
    }
    return out;
}

storage::OrKeyPut or_key_snapshot(const std::string& map_name, std::string_view key, const ORMap& map) {
    const auto records = map.records(key);
    return storage::OrKeyPut{map_name, std::string(key), std::vector<ORRecord>(records.begin(), records.end())};
}

}  // namespace topgun::server
