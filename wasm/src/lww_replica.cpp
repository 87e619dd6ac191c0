// LwwReplica: one LWW map with its own HLC, for JavaScript. A coarse surface:
// one call per batch of local writes, per server frame's records, per Merkle
// node; everything in and out as MsgPack (replica_messages.hpp). A call that
// gets malformed input changes nothing and returns `{error}`.
#include "js_bytes.hpp"
#include "replica_messages.hpp"

#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/protocol/codec.hpp>

#include <emscripten/bind.h>

#include <string>

namespace topgun::wasm {
namespace {

using emscripten::val;

protocol::SyncLeafRecord keyed(std::string_view key, const LWWRecord& record) {
    return {std::string(key), protocol::LWWRecordData::from(record)};
}

protocol::SyncLeafRecord keyed(const LWWMap::RecordView& r) { return keyed(r.key, LWWRecord{r.value, r.timestamp(), r.ttl_ms}); }

}  // namespace

class LwwReplica {
public:
    // The node id must be valid (validNodeId); the JS layer checks it first,
    // since the HLC constructor's exception cannot be caught in this build.
    explicit LwwReplica(const std::string& node_id) : hlc_(node_id), map_(hlc_) {}

    // LocalWrites in; KeyedRecords out: the records the writes produced, for the op log.
    val apply_local(const std::string& input) {
        return with_input<LocalWrites>(input, "applyLocal", [&](LocalWrites& writes) {
            KeyedRecords out;
            out.records.reserve(writes.writes.size());
            for (LocalWrite& w : writes.writes) {
                const LWWRecord record = w.value.is_nil() ? map_.remove(w.key) : map_.set(w.key, std::move(w.value), w.ttl());
                out.records.push_back(keyed(w.key, record));
            }
            return encoded(out);
        });
    }

    // KeyedRecords in (a server frame's records, or a snapshot); MergeOutcome out.
    val merge(const std::string& input) {
        return with_input<KeyedRecords>(input, "merge", [&](const KeyedRecords& in) {
            MergeOutcome out;
            for (const protocol::SyncLeafRecord& r : in.records) {
                switch (map_.merge(r.key, r.record.to_record())) {
                    case LWWMap::MergeResult::Applied:
                        out.changed.push_back(r.key);
                        break;
                    case LWWMap::MergeResult::DriftRejected:
                        out.drift_rejected.push_back(r.key);
                        break;
                    case LWWMap::MergeResult::Ignored:
                        break;
                }
            }
            return encoded(out);
        });
    }

    // The live value's MsgPack, or undefined.
    val get(const std::string& key) const {
        const Value* value = map_.get(key);
        if (value == nullptr) return val::undefined();
        msgpack::Writer w(64);
        protocol::encode_field(w, *value);
        return to_uint8array(w.bytes());
    }

    val entries() const {
        Entries out;
        map_.for_each([&](std::string_view key, const Value& value) { out.entries.emplace_back(std::string(key), value); });
        return encoded(out);
    }

    // Every stored record, tombstones included: restore() is merge().
    val snapshot() const {
        KeyedRecords out;
        map_.for_each_record([&](const LWWMap::RecordView& r) { out.records.push_back(keyed(r)); });
        return encoded(out);
    }

    double root_hash() const { return map_.merkle().root_hash(); }

    val buckets(const std::string& path) const { return encoded(BucketHashes{protocol::wire_buckets(map_.merkle().buckets(path))}); }

    val leaf(const std::string& path) const {
        KeyedRecords out;
        for (const LWWMap::RecordView& r : map_.records_in_bucket(path)) out.records.push_back(keyed(r));
        return encoded(out);
    }

    double size() const { return static_cast<double>(map_.size()); }

private:
    HLC hlc_;
    LWWMap map_;
};

EMSCRIPTEN_BINDINGS(topgun_lww_replica) {
    emscripten::class_<LwwReplica>("LwwReplica")
        .constructor<const std::string&>()
        .function("applyLocal", &LwwReplica::apply_local)
        .function("merge", &LwwReplica::merge)
        .function("get", &LwwReplica::get)
        .function("entries", &LwwReplica::entries)
        .function("snapshot", &LwwReplica::snapshot)
        .function("rootHash", &LwwReplica::root_hash)
        .function("buckets", &LwwReplica::buckets)
        .function("leaf", &LwwReplica::leaf)
        .function("size", &LwwReplica::size);
}

}  // namespace topgun::wasm
