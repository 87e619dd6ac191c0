// Partition map and the legacy cluster-internal subscription/search messages
// (PROTOCOL.md §3.O, §7). The CLUSTER_* kinds are schema only: the Rust cluster
// talks a separate protocol, and rejects them from clients.
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/message_base.hpp>
#include <topgun/protocol/query_types.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// ---- Partition map ----

struct PartitionMapRequestPayload {
    std::optional<std::uint32_t> current_version;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("currentVersion", s.current_version);
    }
    friend bool operator==(const PartitionMapRequestPayload&, const PartitionMapRequestPayload&) = default;
};

// The reference's "optional payload" envelope: a flat message whose one field
// `payload` may be absent.
struct PartitionMapRequest {
    static constexpr std::string_view kType = "PARTITION_MAP_REQUEST";
    static constexpr Shape kShape = Shape::Flat;
    std::optional<PartitionMapRequestPayload> payload;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("payload", s.payload);
    }
    friend bool operator==(const PartitionMapRequest&, const PartitionMapRequest&) = default;
};

enum class NodeStatus : std::uint8_t { Active, Joining, Leaving, Suspected, Failed };
template <>
struct EnumNames<NodeStatus> {
    static constexpr std::array<std::string_view, 5> names = {"ACTIVE", "JOINING", "LEAVING", "SUSPECTED", "FAILED"};
};

struct NodeEndpoints {
    std::string websocket;
    std::optional<std::string> http;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("websocket", s.websocket);
        v("http", s.http);
    }
    friend bool operator==(const NodeEndpoints&, const NodeEndpoints&) = default;
};

struct NodeInfo {
    std::string node_id;
    NodeEndpoints endpoints;
    NodeStatus status = NodeStatus::Active;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("nodeId", s.node_id);
        v("endpoints", s.endpoints);
        v("status", s.status);
    }
    friend bool operator==(const NodeInfo&, const NodeInfo&) = default;
};

struct PartitionInfo {
    std::uint32_t partition_id = 0;
    std::string owner_node_id;
    std::vector<std::string> backup_node_ids;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("partitionId", s.partition_id);
        v("ownerNodeId", s.owner_node_id);
        v("backupNodeIds", s.backup_node_ids);
    }
    friend bool operator==(const PartitionInfo&, const PartitionInfo&) = default;
};

struct PartitionMap {
    static constexpr std::string_view kType = "PARTITION_MAP";
    static constexpr Shape kShape = Shape::Payload;
    std::uint32_t version = 0;
    std::uint32_t partition_count = 0;
    std::vector<NodeInfo> nodes;
    std::vector<PartitionInfo> partitions;
    std::int64_t generated_at = 0;  // ms

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("version", s.version);
        v("partitionCount", s.partition_count);
        v("nodes", s.nodes);
        v("partitions", s.partitions);
        v("generatedAt", s.generated_at);
    }
    friend bool operator==(const PartitionMap&, const PartitionMap&) = default;
};

// ---- Cluster subscriptions ----

enum class ClusterSubType : std::uint8_t { Search, Query };
template <>
struct EnumNames<ClusterSubType> {
    static constexpr std::array<std::string_view, 2> names = {"SEARCH", "QUERY"};
};

struct ClusterSubRegister {
    static constexpr std::string_view kType = "CLUSTER_SUB_REGISTER";
    static constexpr Shape kShape = Shape::Payload;
    std::string subscription_id;
    std::string coordinator_node_id;
    std::string map_name;
    ClusterSubType type = ClusterSubType::Search;
    std::optional<std::string> search_query;
    std::optional<SearchOptions> search_options;
    Nullable<Value> query_predicate;
    // Record-shaped {field: direction}, unlike Query.sort on the wire.
    std::optional<StringMap<SortDirection>> query_sort;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
        v("coordinatorNodeId", s.coordinator_node_id);
        v("mapName", s.map_name);
        v("type", s.type);
        v("searchQuery", s.search_query);
        v("searchOptions", s.search_options);
        v("queryPredicate", s.query_predicate);
        v("querySort", s.query_sort);
    }
    friend bool operator==(const ClusterSubRegister&, const ClusterSubRegister&) = default;
};

struct ClusterSubResult {
    std::string key;
    Value value;
    std::optional<double> score;
    std::optional<std::vector<std::string>> matched_terms;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("value", s.value);
        v("score", s.score);
        v("matchedTerms", s.matched_terms);
    }
    friend bool operator==(const ClusterSubResult&, const ClusterSubResult&) = default;
};

struct ClusterSubAck {
    static constexpr std::string_view kType = "CLUSTER_SUB_ACK";
    static constexpr Shape kShape = Shape::Payload;
    std::string subscription_id;
    std::string node_id;
    bool success = false;
    std::optional<std::string> error;
    std::optional<std::vector<ClusterSubResult>> initial_results;
    std::optional<std::uint64_t> total_hits;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
        v("nodeId", s.node_id);
        v("success", s.success);
        v("error", s.error);
        v("initialResults", s.initial_results);
        v("totalHits", s.total_hits);
    }
    friend bool operator==(const ClusterSubAck&, const ClusterSubAck&) = default;
};

struct ClusterSubUpdate {
    static constexpr std::string_view kType = "CLUSTER_SUB_UPDATE";
    static constexpr Shape kShape = Shape::Payload;
    std::string subscription_id;
    std::string source_node_id;
    std::string key;
    Value value;
    std::optional<double> score;
    std::optional<std::vector<std::string>> matched_terms;
    ChangeType change_type = ChangeType::Enter;
    std::uint64_t timestamp = 0;  // ms

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
        v("sourceNodeId", s.source_node_id);
        v("key", s.key);
        v("value", s.value);
        v("score", s.score);
        v("matchedTerms", s.matched_terms);
        v("changeType", s.change_type);
        v("timestamp", s.timestamp);
    }
    friend bool operator==(const ClusterSubUpdate&, const ClusterSubUpdate&) = default;
};

struct SubscriptionRef {
    std::string subscription_id;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
    }
    friend bool operator==(const SubscriptionRef&, const SubscriptionRef&) = default;
};

struct ClusterSubUnregister : SubscriptionRef {
    static constexpr std::string_view kType = "CLUSTER_SUB_UNREGISTER";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const ClusterSubUnregister&, const ClusterSubUnregister&) = default;
};

// ---- Cluster search ----

// Unlike SearchOptions, `limit` is required here (each node returns a page).
struct ClusterSearchOptions {
    std::uint32_t limit = 0;
    std::optional<double> min_score;
    std::optional<StringMap<double>> boost;
    std::optional<bool> include_matched_terms;
    std::optional<double> after_score;  // keyset cursor: continue after (score, key)
    std::optional<std::string> after_key;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("limit", s.limit);
        v("minScore", s.min_score);
        v("boost", s.boost);
        v("includeMatchedTerms", s.include_matched_terms);
        v("afterScore", s.after_score);
        v("afterKey", s.after_key);
    }
    friend bool operator==(const ClusterSearchOptions&, const ClusterSearchOptions&) = default;
};

struct ClusterSearchReq {
    static constexpr std::string_view kType = "CLUSTER_SEARCH_REQ";
    static constexpr Shape kShape = Shape::Payload;
    std::string request_id;
    std::string map_name;
    std::string query;
    ClusterSearchOptions options;
    std::optional<std::uint64_t> timeout_ms;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("mapName", s.map_name);
        v("query", s.query);
        v("options", s.options);
        v("timeoutMs", s.timeout_ms);
    }
    friend bool operator==(const ClusterSearchReq&, const ClusterSearchReq&) = default;
};

struct ClusterSearchResult {
    std::string key;
    Value value;
    double score = 0;
    std::optional<std::vector<std::string>> matched_terms;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("value", s.value);
        v("score", s.score);
        v("matchedTerms", s.matched_terms);
    }
    friend bool operator==(const ClusterSearchResult&, const ClusterSearchResult&) = default;
};

struct ClusterSearchResp {
    static constexpr std::string_view kType = "CLUSTER_SEARCH_RESP";
    static constexpr Shape kShape = Shape::Payload;
    std::string request_id;
    std::string node_id;
    std::vector<ClusterSearchResult> results;
    std::uint64_t total_hits = 0;
    std::uint64_t execution_time_ms = 0;
    std::optional<std::string> error;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("nodeId", s.node_id);
        v("results", s.results);
        v("totalHits", s.total_hits);
        v("executionTimeMs", s.execution_time_ms);
        v("error", s.error);
    }
    friend bool operator==(const ClusterSearchResp&, const ClusterSearchResp&) = default;
};

struct ClusterSearchSubscribe : SearchSubscription {
    static constexpr std::string_view kType = "CLUSTER_SEARCH_SUBSCRIBE";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const ClusterSearchSubscribe&, const ClusterSearchSubscribe&) = default;
};

struct ClusterSearchUnsubscribe : SubscriptionRef {
    static constexpr std::string_view kType = "CLUSTER_SEARCH_UNSUBSCRIBE";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const ClusterSearchUnsubscribe&, const ClusterSearchUnsubscribe&) = default;
};

struct ClusterSearchUpdate {
    static constexpr std::string_view kType = "CLUSTER_SEARCH_UPDATE";
    static constexpr Shape kShape = Shape::Payload;
    std::string subscription_id;
    std::string node_id;
    std::string key;
    Value value;
    double score = 0;
    std::optional<std::vector<std::string>> matched_terms;
    ChangeType change_type = ChangeType::Enter;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
        v("nodeId", s.node_id);
        v("key", s.key);
        v("value", s.value);
        v("score", s.score);
        v("matchedTerms", s.matched_terms);
        v("changeType", s.change_type);
    }
    friend bool operator==(const ClusterSearchUpdate&, const ClusterSearchUpdate&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
