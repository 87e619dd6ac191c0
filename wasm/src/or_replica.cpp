// OrReplica: one observed-remove map with its own HLC, for JavaScript. Like
// LwwReplica, one call per batch, MsgPack in and out (replica_messages.hpp),
// `{error}` and no change on malformed input. What the OR-map sync needs
// (PROTOCOL.md §6.6) is here: the Merkle root and buckets, a leaf's entries with
// their records, and merging entries (records plus tombstones) from a peer.
#include "js_bytes.hpp"
#include "replica_messages.hpp"

#include <topgun/crdt/or_map.hpp>
#include <topgun/hlc.hpp>

#include <emscripten/bind.h>

#include <string>
#include <vector>

namespace topgun::wasm {
namespace {

using emscripten::val;

std::vector<ORRecord> to_records(const std::vector<protocol::ORMapRecordData>& wire) {
    std::vector<ORRecord> out;
    out.reserve(wire.size());
    for (const auto& r : wire) out.push_back(r.to_record());
    return out;
}

}  // namespace

class OrReplica {
public:
    // The node id must be valid (validNodeId): the JS layer checks it first.
    explicit OrReplica(const std::string& node_id) : hlc_(node_id), map_(hlc_) {}

    // LocalWrites in; the added records with their new tags (KeyedOrRecords), for OR_ADD ops.
    val add_local(const emscripten::val& input) {
        return with_input<LocalWrites>(input, "addLocal", [&](LocalWrites& writes) {
            KeyedOrRecords out;
            for (LocalWrite& w : writes.writes) {
                out.records.push_back({w.key, protocol::ORMapRecordData::from(map_.add(w.key, std::move(w.value), w.ttl_ms.to_optional()))});
            }
            return encoded(out);
        });
    }

    // OrRemove in; the tags it tombstoned (one OR_REMOVE op each).
    val remove_local(const emscripten::val& input) {
        return with_input<OrRemove>(input, "removeLocal",
                                    [&](const OrRemove& remove) { return encoded(Tags{map_.remove(remove.key, remove.value)}); });
    }

    // Remote adds (SERVER_EVENT OR_ADD): KeyedOrRecords in, ChangedKeys out.
    val apply(const emscripten::val& input) {
        return with_input<KeyedOrRecords>(input, "apply", [&](const KeyedOrRecords& in) {
            ChangedKeys out;
            for (const KeyedOrRecord& r : in.records) {
                if (map_.apply(r.key, r.record.to_record())) out.changed.push_back(r.key);
            }
            return encoded(out);
        });
    }

    // Remote removes (SERVER_EVENT OR_REMOVE): Tags in; how many records they dropped.
    val apply_tombstones(const emscripten::val& input) {
        return with_input<Tags>(input, "applyTombstones", [&](const Tags& in) {
            double dropped = 0;
            for (const std::string& tag : in.tags) dropped += map_.apply_tombstone(tag) ? 1 : 0;
            return val(dropped);
        });
    }

    // OrEntries in (a sync leaf, or a snapshot with its tombstones); ChangedKeys out.
    val merge_entries(const emscripten::val& input) {
        return with_input<OrEntries>(input, "mergeEntries", [&](const OrEntries& in) {
            ChangedKeys out;
            if (in.tombstones) {
                for (const std::string& tag : *in.tombstones) map_.apply_tombstone(tag);
            }
            for (const protocol::ORMapEntry& e : in.entries) {
                const ORMergeKeyResult r = map_.merge_key(e.key, to_records(e.records), e.tombstones);
                if (r.added + r.updated > 0) out.changed.push_back(e.key);
            }
            return encoded(out);
        });
    }

    // Live values of a key, as a MsgPack array.
    val get(const std::string& key) const {
        msgpack::Writer w(64);
        const std::vector<const Value*> values = map_.get(key);
        w.array_header(values.size());
        for (const Value* v : values) protocol::encode_field(w, *v);
        return to_uint8array(w.bytes());
    }

    val entries() const {
        OrValues out;
        map_.for_each([&](std::string_view key, const Value& value) {
            if (out.entries.empty() || out.entries.back().first != key) out.entries.emplace_back(std::string(key), std::vector<Value>{});
            out.entries.back().second.push_back(value);
        });
        return encoded(out);
    }

    // Every key's records plus the whole tombstone set: mergeEntries restores it.
    val snapshot() const {
        OrEntries out;
        map_.for_each_record([&](std::string_view key, const ORRecord& r) {
            if (out.entries.empty() || out.entries.back().key != key) out.entries.push_back({std::string(key), {}, {}});
            out.entries.back().records.push_back(protocol::ORMapRecordData::from(r));
        });
        out.tombstones = map_.tombstones();
        return encoded(out);
    }

    // The keys of a Merkle leaf with their records and, as the reference client
    // pushes them, the whole tombstone set on each (ORMAP_PUSH_DIFF entries).
    val leaf(const std::string& path) const {
        OrEntries out;
        const std::vector<std::string> tombstones = map_.tombstones();
        for (const auto& [key, hash] : map_.entry_hashes_in_bucket(path)) {
            protocol::ORMapEntry entry{std::string(key), {}, tombstones};
            for (const ORRecord& r : map_.records(key)) entry.records.push_back(protocol::ORMapRecordData::from(r));
            out.entries.push_back(std::move(entry));
        }
        return encoded(out);
    }

    double root_hash() const { return map_.merkle().root_hash(); }

    val buckets(const std::string& path) const { return encoded(BucketHashes{protocol::wire_buckets(map_.merkle().buckets(path))}); }

    double size() const { return static_cast<double>(map_.size()); }

private:
    HLC hlc_;
    ORMap map_;
};

EMSCRIPTEN_BINDINGS(topgun_or_replica) {
    emscripten::class_<OrReplica>("OrReplica")
        .constructor<const std::string&>()
        .function("addLocal", &OrReplica::add_local)
        .function("removeLocal", &OrReplica::remove_local)
        .function("apply", &OrReplica::apply)
        .function("applyTombstones", &OrReplica::apply_tombstones)
        .function("mergeEntries", &OrReplica::merge_entries)
        .function("get", &OrReplica::get)
        .function("entries", &OrReplica::entries)
        .function("snapshot", &OrReplica::snapshot)
        .function("leaf", &OrReplica::leaf)
        .function("rootHash", &OrReplica::root_hash)
        .function("buckets", &OrReplica::buckets)
        .function("size", &OrReplica::size);
}

}  // namespace topgun::wasm
