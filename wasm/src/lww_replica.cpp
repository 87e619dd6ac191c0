// LwwReplica's CRDT and Merkle methods (see lww_replica.hpp) and the bindings.
#include "lww_replica.hpp"

#include "js_bytes.hpp"
#include "replica_messages.hpp"

#include <topgun/protocol/codec.hpp>

#include <emscripten/bind.h>

#include <string>

namespace topgun::wasm {
namespace {

protocol::SyncLeafRecord keyed(std::string_view key, const LWWRecord& record) {
    return {std::string(key), protocol::LWWRecordData::from(record)};
}

protocol::SyncLeafRecord keyed(const LWWMap::RecordView& r) { return keyed(r.key, LWWRecord{r.value, r.timestamp(), r.ttl_ms}); }

}  // namespace

using emscripten::val;

val LwwReplica::apply_local(const std::string& input) {
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

val LwwReplica::merge(const std::string& input) {
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

val LwwReplica::get(const std::string& key) const {
    const Value* value = map_.get(key);
    if (value == nullptr) return val::undefined();
    msgpack::Writer w(64);
    protocol::encode_field(w, *value);
    return to_uint8array(w.bytes());
}

val LwwReplica::entries() const {
    Entries out;
    map_.for_each([&](std::string_view key, const Value& value) { out.entries.emplace_back(std::string(key), value); });
    return encoded(out);
}

val LwwReplica::snapshot() const {
    KeyedRecords out;
    map_.for_each_record([&](const LWWMap::RecordView& r) { out.records.push_back(keyed(r)); });
    return encoded(out);
}

val LwwReplica::buckets(const std::string& path) const {
    return encoded(BucketHashes{protocol::wire_buckets(map_.merkle().buckets(path))});
}

val LwwReplica::leaf(const std::string& path) const {
    KeyedRecords out;
    for (const LWWMap::RecordView& r : map_.records_in_bucket(path)) out.records.push_back(keyed(r));
    return encoded(out);
}

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
        .function("size", &LwwReplica::size)
        .function("query", &LwwReplica::query)
        .function("addQuery", &LwwReplica::add_query)
        .function("removeQuery", &LwwReplica::remove_query)
        .function("queryPage", &LwwReplica::query_page)
        .function("takeQueryEvents", &LwwReplica::take_query_events);
}

}  // namespace topgun::wasm
