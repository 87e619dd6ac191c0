// LwwReplica's CRDT and Merkle methods (see lww_replica.hpp) and the bindings.
#include "lww_replica.hpp"

#include "js_bytes.hpp"
#include "replica_messages.hpp"

#include <topgun/protocol/codec.hpp>

#include <emscripten/bind.h>

#include <string>
#include <vector>

namespace topgun::wasm {
namespace {

protocol::SyncLeafRecord keyed(const LWWMap::RecordView& r) { return {std::string(r.key), protocol::LWWRecordData::from(r.to_record())}; }

}  // namespace

using emscripten::val;

val LwwReplica::apply_local(const val& input) {
    const BatchClock::Batch batch(clock_);
    return with_input<LocalWrites>(input, "applyLocal", [&](LocalWrites& writes) {
        std::vector<double> stamps;
        stamps.reserve(writes.writes.size() * 3);
        for (LocalWrite& w : writes.writes) {
            had_ttl_ |= w.ttl_ms.present();
            const LWWMap::RecordView r = map_.write(w.key, std::move(w.value), w.ttl_ms.to_optional());
            stamps.insert(stamps.end(), {static_cast<double>(r.millis), static_cast<double>(r.counter), static_cast<double>(r.ttl_ms.value_or(0))});
        }
        return to_float64array(stamps);
    });
}

val LwwReplica::merge(const val& input) {
    return with_input<KeyedRecords>(input, "merge", [&](KeyedRecords& in) {
        return merge_records(in.records.size(), [&](auto&& take) {
            for (protocol::SyncLeafRecord& r : in.records) take(r.key, r.record);
        });
    });
}

val LwwReplica::merge_frame(ServerFrame& frame, const std::string& map_name) {
    return merge_records(frame.count_lww_records(map_name), [&](auto&& take) { frame.take_lww_records(map_name, take); });
}

template <class Each>
val LwwReplica::merge_records(std::size_t count, Each&& each) {
    const BatchClock::Batch batch(clock_);
    map_.reserve_more(count);
    MergeOutcome out;
    out.changed.reserve(count);
    each([&](std::string& key, protocol::LWWRecordData& record) {
        had_ttl_ |= record.ttl_ms.present();
        switch (map_.merge(key, std::move(record).to_record())) {
            case LWWMap::MergeResult::Applied:
                out.changed.push_back(std::move(key));
                break;
            case LWWMap::MergeResult::DriftRejected:
                out.drift_rejected.push_back(std::move(key));
                break;
            case LWWMap::MergeResult::Ignored:
                break;
        }
    });
    return encoded(out);
}

val LwwReplica::report_expired() {
    if (!had_ttl_) return val::array();
    const BatchClock::Batch batch(clock_);  // the live queries' reads share one time
    return val::array(map_.report_expired());
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
        .function("mergeFrame", &LwwReplica::merge_frame)
        .function("get", &LwwReplica::get)
        .function("entries", &LwwReplica::entries)
        .function("snapshot", &LwwReplica::snapshot)
        .function("rootHash", &LwwReplica::root_hash)
        .function("buckets", &LwwReplica::buckets)
        .function("leaf", &LwwReplica::leaf)
        .function("size", &LwwReplica::size)
        .function("reportExpired", &LwwReplica::report_expired)
        .function("query", &LwwReplica::query)
        .function("addQuery", &LwwReplica::add_query)
        .function("removeQuery", &LwwReplica::remove_query)
        .function("queryPage", &LwwReplica::query_page)
        .function("takeQueryEvents", &LwwReplica::take_query_events)
        .function("enableSearch", &LwwReplica::enable_search)
        .function("search", &LwwReplica::search)
        .function("addSearch", &LwwReplica::add_search)
        .function("removeSearch", &LwwReplica::remove_search)
        .function("takeSearchEvents", &LwwReplica::take_search_events);
}

}  // namespace topgun::wasm
