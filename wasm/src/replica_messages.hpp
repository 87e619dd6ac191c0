// The MsgPack shapes the WASM replicas exchange with JavaScript. Records travel
// in their wire form (PROTOCOL.md §5: `{key, record: {value, timestamp, ttlMs}}`),
// so what a local write returns goes into a CLIENT_OP / OP_BATCH as it is and
// what a server frame carries (SERVER_EVENT, SYNC_RESP_LEAF) merges as it is.
#pragma once

#include <topgun/protocol/common.hpp>
#include <topgun/protocol/fields.hpp>
#include <topgun/protocol/query.hpp>
#include <topgun/protocol/search.hpp>
#include <topgun/protocol/sync.hpp>
#include <topgun/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace topgun::wasm {

// One local write: `value` nil removes the key (a tombstone, as on the wire).
struct LocalWrite {
    std::string key;
    Value value;
    protocol::Nullable<std::uint64_t> ttl_ms;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("value", s.value);
        v("ttlMs", s.ttl_ms);
    }
};

struct LocalWrites {
    std::vector<LocalWrite> writes;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("writes", s.writes);
    }
};

// Records by key: what local writes produced, what to merge, a leaf, a snapshot.
struct KeyedRecords {
    std::vector<protocol::SyncLeafRecord> records;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("records", s.records);
    }
};

// What a merge changed: the keys whose record was replaced, and the records it
// refused because their timestamps are too far ahead of this clock.
struct MergeOutcome {
    std::vector<std::string> changed;
    std::vector<std::string> drift_rejected;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("changed", s.changed);
        v("driftRejected", s.drift_rejected);
    }
};

// The children of one Merkle node: hex digit -> hash (a SYNC_RESP_BUCKETS body).
struct BucketHashes {
    protocol::StringMap<std::uint32_t> buckets;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("buckets", s.buckets);
    }
};

// Live entries, key -> value.
struct Entries {
    protocol::StringMap<Value> entries;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("entries", s.entries);
    }
};

// --- OR maps ---------------------------------------------------------------------------------------

// One record by key, in the wire form OR_ADD carries (`orRecord`).
struct KeyedOrRecord {
    std::string key;
    protocol::ORMapRecordData record;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("record", s.record);
    }
};

struct KeyedOrRecords {
    std::vector<KeyedOrRecord> records;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("records", s.records);
    }
};

// An observed remove: every live record of `key` whose value equals `value`.
struct OrRemove {
    std::string key;
    Value value;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("value", s.value);
    }
};

struct Tags {
    std::vector<std::string> tags;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("tags", s.tags);
    }
};

// Entries as ORMAP_SYNC_RESP_LEAF / ORMAP_PUSH_DIFF carry them; a snapshot adds
// the map's whole tombstone set.
struct OrEntries {
    std::vector<protocol::ORMapEntry> entries;
    std::optional<std::vector<std::string>> tombstones;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("entries", s.entries);
        v("tombstones", s.tombstones);
    }
};

// Key -> live values.
struct OrValues {
    protocol::StringMap<std::vector<Value>> entries;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("entries", s.entries);
    }
};

// Keys whose records changed.
struct ChangedKeys {
    std::vector<std::string> changed;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("changed", s.changed);
    }
};

// Live-query changes drained from a replica, in order.
struct QueryEvents {
    std::vector<protocol::QueryUpdate> updates;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("updates", s.updates);
    }
};

// --- Local search ----------------------------------------------------------------------------------

// Standing local searches' changes drained from a replica, in order.
struct SearchEvents {
    std::vector<protocol::SearchUpdate> updates;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("updates", s.updates);
    }
};

// A field the search index reads: the strings under a dot path, weighted by boost (default 1).
struct SearchField {
    std::string path;
    std::optional<double> boost;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("path", s.path);
        v("boost", s.boost);
    }
};

// What the replica's search index reads: the given fields, or (none given)
// every string of a record; and how it splits text into terms: "plain" (the
// default, as the server: split and lower-case) or "english" (as the reference
// TS client's local search: stop words, stemming, terms of 2 to 40 letters).
struct SearchSetup {
    std::optional<std::vector<SearchField>> indexed;
    std::optional<std::string> analyzer;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("fields", s.indexed);
        v("analyzer", s.analyzer);
    }
};

// A search of the replica, with SEARCH's options (PROTOCOL.md §9.1), and two
// the wire does not carry: `prefix` (the last word also matches the terms it
// begins: search as you type) and `fuzzy` (words match terms within 1 or 2
// edits). Answered as a SEARCH_RESP body.
struct LocalSearch {
    std::string query;
    std::optional<protocol::SearchOptions> options;
    std::optional<bool> prefix;
    std::optional<std::uint32_t> fuzzy;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("query", s.query);
        v("options", s.options);
        v("prefix", s.prefix);
        v("fuzzy", s.fuzzy);
    }
};

}  // namespace topgun::wasm
