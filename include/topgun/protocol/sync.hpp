// Merkle sync of LWW and OR maps, and the tombstone frontier (PROTOCOL.md §3.C, §3.D, §3.E, §6).
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/message_base.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// ---- §3.C LWW Merkle sync ----

struct SyncInit {
    static constexpr std::string_view kType = "SYNC_INIT";
    static constexpr Shape kShape = Shape::Flat;
    std::string map_name;
    // Not in the schema (the server ignores them) but sent by the reference
    // fixture; kept so such frames re-encode unchanged.
    std::optional<std::uint32_t> root_hash;
    std::optional<StringMap<std::uint32_t>> bucket_hashes;
    std::optional<std::uint64_t> last_sync_timestamp;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("rootHash", s.root_hash);
        v("bucketHashes", s.bucket_hashes);
        v("lastSyncTimestamp", s.last_sync_timestamp);
    }
    friend bool operator==(const SyncInit&, const SyncInit&) = default;
};

struct SyncRespRoot {
    static constexpr std::string_view kType = "SYNC_RESP_ROOT";
    static constexpr Shape kShape = Shape::Payload;
    std::string map_name;
    std::uint32_t root_hash = 0;
    Timestamp timestamp;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("rootHash", s.root_hash);
        v("timestamp", s.timestamp);
    }
    friend bool operator==(const SyncRespRoot&, const SyncRespRoot&) = default;
};

// A request for one tree node; `path` is hex digits from the root ("" = root).
struct MerkleBucketRequest {
    std::string map_name;
    std::string path;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("path", s.path);
    }
    friend bool operator==(const MerkleBucketRequest&, const MerkleBucketRequest&) = default;
};

// The children of one tree node: hex child digit -> hash.
// A Merkle node's children (HashTrie::buckets) in their wire form: single
// hex digit -> hash, in digit order.
inline StringMap<std::uint32_t> wire_buckets(std::span<const std::pair<char, std::uint32_t>> children) {
    StringMap<std::uint32_t> out;
    out.reserve(children.size());
    for (const auto& [digit, hash] : children) out.emplace_back(std::string(1, digit), hash);
    return out;
}

struct MerkleBuckets {
    std::string map_name;
    std::string path;
    StringMap<std::uint32_t> buckets;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("path", s.path);
        v("buckets", s.buckets);
    }
    friend bool operator==(const MerkleBuckets&, const MerkleBuckets&) = default;
};

struct MerkleReqBucket : MerkleBucketRequest {
    static constexpr std::string_view kType = "MERKLE_REQ_BUCKET";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const MerkleReqBucket&, const MerkleReqBucket&) = default;
};

struct SyncRespBuckets : MerkleBuckets {
    static constexpr std::string_view kType = "SYNC_RESP_BUCKETS";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const SyncRespBuckets&, const SyncRespBuckets&) = default;
};

struct SyncLeafRecord {
    std::string key;
    LWWRecordData record;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("record", s.record);
    }
    friend bool operator==(const SyncLeafRecord&, const SyncLeafRecord&) = default;
};

struct SyncRespLeaf {
    static constexpr std::string_view kType = "SYNC_RESP_LEAF";
    static constexpr Shape kShape = Shape::Payload;
    std::string map_name;
    std::string path;
    std::vector<SyncLeafRecord> records;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("path", s.path);
        v("records", s.records);
    }
    friend bool operator==(const SyncRespLeaf&, const SyncRespLeaf&) = default;
};

struct SyncResetRequired {
    static constexpr std::string_view kType = "SYNC_RESET_REQUIRED";
    static constexpr Shape kShape = Shape::Payload;
    std::string map_name;
    std::string reason;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("reason", s.reason);
    }
    friend bool operator==(const SyncResetRequired&, const SyncResetRequired&) = default;
};

// ---- §3.D OR-Map Merkle sync ----

struct ORMapSyncInit {
    static constexpr std::string_view kType = "ORMAP_SYNC_INIT";
    static constexpr Shape kShape = Shape::Flat;
    std::string map_name;
    std::uint32_t root_hash = 0;
    StringMap<std::uint32_t> bucket_hashes;
    std::optional<std::uint64_t> last_sync_timestamp;
    std::optional<std::uint64_t> claimed_epoch;  // the epoch the client claims to have applied

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("rootHash", s.root_hash);
        v("bucketHashes", s.bucket_hashes);
        v("lastSyncTimestamp", s.last_sync_timestamp);
        v("claimedEpoch", s.claimed_epoch);
    }
    friend bool operator==(const ORMapSyncInit&, const ORMapSyncInit&) = default;
};

struct ORMapSyncRespRoot {
    static constexpr std::string_view kType = "ORMAP_SYNC_RESP_ROOT";
    static constexpr Shape kShape = Shape::Payload;
    std::string map_name;
    std::uint32_t root_hash = 0;
    Timestamp timestamp;
    std::optional<std::uint64_t> covering_epoch;
    std::optional<bool> full_resync;  // the reference omits it when false

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("rootHash", s.root_hash);
        v("timestamp", s.timestamp);
        v("coveringEpoch", s.covering_epoch);
        v("fullResync", s.full_resync);
    }
    friend bool operator==(const ORMapSyncRespRoot&, const ORMapSyncRespRoot&) = default;
};

struct ORMapMerkleReqBucket : MerkleBucketRequest {
    static constexpr std::string_view kType = "ORMAP_MERKLE_REQ_BUCKET";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const ORMapMerkleReqBucket&, const ORMapMerkleReqBucket&) = default;
};

struct ORMapSyncRespBuckets : MerkleBuckets {
    static constexpr std::string_view kType = "ORMAP_SYNC_RESP_BUCKETS";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const ORMapSyncRespBuckets&, const ORMapSyncRespBuckets&) = default;
};

struct ORMapSyncRespLeaf {
    static constexpr std::string_view kType = "ORMAP_SYNC_RESP_LEAF";
    static constexpr Shape kShape = Shape::Payload;
    std::string map_name;
    std::string path;
    std::vector<ORMapEntry> entries;
    std::optional<std::uint64_t> covering_epoch;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("path", s.path);
        v("entries", s.entries);
        v("coveringEpoch", s.covering_epoch);
    }
    friend bool operator==(const ORMapSyncRespLeaf&, const ORMapSyncRespLeaf&) = default;
};

struct ORMapDiffRequest {
    static constexpr std::string_view kType = "ORMAP_DIFF_REQUEST";
    static constexpr Shape kShape = Shape::Payload;
    std::string map_name;
    std::vector<std::string> keys;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("keys", s.keys);
    }
    friend bool operator==(const ORMapDiffRequest&, const ORMapDiffRequest&) = default;
};

struct ORMapDiffResponse {
    static constexpr std::string_view kType = "ORMAP_DIFF_RESPONSE";
    static constexpr Shape kShape = Shape::Payload;
    std::string map_name;
    std::vector<ORMapEntry> entries;
    std::optional<std::uint64_t> covering_epoch;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("entries", s.entries);
        v("coveringEpoch", s.covering_epoch);
    }
    friend bool operator==(const ORMapDiffResponse&, const ORMapDiffResponse&) = default;
};

struct ORMapPushDiff {
    static constexpr std::string_view kType = "ORMAP_PUSH_DIFF";
    static constexpr Shape kShape = Shape::Payload;
    std::string map_name;
    std::vector<ORMapEntry> entries;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("entries", s.entries);
    }
    friend bool operator==(const ORMapPushDiff&, const ORMapPushDiff&) = default;
};

// ---- §3.E Garbage collection / tombstone frontier ----

struct GcPrune {
    static constexpr std::string_view kType = "GC_PRUNE";
    static constexpr Shape kShape = Shape::Payload;
    Timestamp older_than;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("olderThan", s.older_than);
    }
    friend bool operator==(const GcPrune&, const GcPrune&) = default;
};

struct ClientApplyAck {
    static constexpr std::string_view kType = "CLIENT_APPLY_ACK";
    static constexpr Shape kShape = Shape::Flat;
    std::uint64_t cursor = 0;  // the highest server epoch the client has durably applied

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("cursor", s.cursor);
    }
    friend bool operator==(const ClientApplyAck&, const ClientApplyAck&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
