// The HTTP sync bodies of `POST /sync` (PROTOCOL.md §13). They are bodies, not
// messages: no "type" key; use encode_body / decode_body from codec.hpp.
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/fields.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// ---- Request ----

struct HttpSyncMap {
    std::string map_name;
    Timestamp last_sync_timestamp;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("lastSyncTimestamp", s.last_sync_timestamp);
    }
    friend bool operator==(const HttpSyncMap&, const HttpSyncMap&) = default;
};

// A one-shot query: `filter` is an exact-equality where-map (anything else, or
// none: the TS client leaves it out when its query has no `where`, matches all).
struct HttpQueryRequest {
    std::string query_id;
    std::string map_name;
    Nullable<Value> filter;
    std::optional<std::uint32_t> limit;
    std::optional<std::uint32_t> offset;
    std::optional<std::string> cursor;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("queryId", s.query_id);
        v("mapName", s.map_name);
        v("filter", s.filter);
        v("limit", s.limit);
        v("offset", s.offset);
        v("cursor", s.cursor);
    }
    friend bool operator==(const HttpQueryRequest&, const HttpQueryRequest&) = default;
};

struct HttpSearchRequest {
    std::string search_id;
    std::string map_name;
    std::string query;
    Nullable<Value> options;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("searchId", s.search_id);
        v("mapName", s.map_name);
        v("query", s.query);
        v("options", s.options);
    }
    friend bool operator==(const HttpSearchRequest&, const HttpSearchRequest&) = default;
};

struct HttpSyncRequest {
    std::string client_id;
    Timestamp client_hlc;
    std::optional<std::vector<ClientOp>> operations;
    std::optional<std::vector<HttpSyncMap>> sync_maps;
    std::optional<std::vector<HttpQueryRequest>> queries;
    std::optional<std::vector<HttpSearchRequest>> searches;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("clientId", s.client_id);
        v("clientHlc", s.client_hlc);
        v("operations", s.operations);
        v("syncMaps", s.sync_maps);
        v("queries", s.queries);
        v("searches", s.searches);
    }
    friend bool operator==(const HttpSyncRequest&, const HttpSyncRequest&) = default;
};

// ---- Response ----

enum class DeltaEventType : std::uint8_t { Put, Remove };
template <>
struct EnumNames<DeltaEventType> {
    static constexpr std::array<std::string_view, 2> names = {"PUT", "REMOVE"};
};

struct HttpDeltaRecord {
    std::string key;
    LWWRecordData record;
    DeltaEventType event_type = DeltaEventType::Put;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("record", s.record);
        v("eventType", s.event_type);
    }
    friend bool operator==(const HttpDeltaRecord&, const HttpDeltaRecord&) = default;
};

struct HttpMapDelta {
    std::string map_name;
    std::vector<HttpDeltaRecord> records;
    Timestamp server_sync_timestamp;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("records", s.records);
        v("serverSyncTimestamp", s.server_sync_timestamp);
    }
    friend bool operator==(const HttpMapDelta&, const HttpMapDelta&) = default;
};

struct HttpQueryResult {
    std::string query_id;
    std::vector<Value> results;  // values only, no keys
    std::optional<bool> has_more;
    std::optional<std::string> next_cursor;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("queryId", s.query_id);
        v("results", s.results);
        v("hasMore", s.has_more);
        v("nextCursor", s.next_cursor);
    }
    friend bool operator==(const HttpQueryResult&, const HttpQueryResult&) = default;
};

struct HttpSearchResult {
    std::string search_id;
    std::vector<Value> results;
    std::optional<std::uint32_t> total_count;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("searchId", s.search_id);
        v("results", s.results);
        v("totalCount", s.total_count);
    }
    friend bool operator==(const HttpSearchResult&, const HttpSearchResult&) = default;
};

struct HttpSyncError {
    std::uint32_t code = 0;
    std::string message;
    std::optional<std::string> context;  // e.g. the query id

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("code", s.code);
        v("message", s.message);
        v("context", s.context);
    }
    friend bool operator==(const HttpSyncError&, const HttpSyncError&) = default;
};

struct HttpSyncAck {
    std::string last_id;
    std::optional<std::vector<OpResult>> results;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("lastId", s.last_id);
        v("results", s.results);
    }
    friend bool operator==(const HttpSyncAck&, const HttpSyncAck&) = default;
};

struct HttpSyncResponse {
    Timestamp server_hlc;
    std::optional<HttpSyncAck> ack;
    std::optional<std::vector<HttpMapDelta>> deltas;
    std::optional<std::vector<HttpQueryResult>> query_results;
    std::optional<std::vector<HttpSearchResult>> search_results;
    std::optional<std::vector<HttpSyncError>> errors;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("serverHlc", s.server_hlc);
        v("ack", s.ack);
        v("deltas", s.deltas);
        v("queryResults", s.query_results);
        v("searchResults", s.search_results);
        v("errors", s.errors);
    }
    friend bool operator==(const HttpSyncResponse&, const HttpSyncResponse&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
