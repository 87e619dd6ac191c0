// Live and one-shot queries, SQL (PROTOCOL.md §3.F, §8).
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

struct QuerySub {
    static constexpr std::string_view kType = "QUERY_SUB";
    static constexpr Shape kShape = Shape::Payload;
    std::string query_id;
    std::string map_name;
    Query query;
    std::optional<std::vector<std::string>> projection;  // wire name "fields"

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("queryId", s.query_id);
        v("mapName", s.map_name);
        v("query", s.query);
        v("fields", s.projection);
    }
    friend bool operator==(const QuerySub&, const QuerySub&) = default;
};

struct QueryUnsub {
    static constexpr std::string_view kType = "QUERY_UNSUB";
    static constexpr Shape kShape = Shape::Payload;
    std::string query_id;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("queryId", s.query_id);
    }
    friend bool operator==(const QueryUnsub&, const QueryUnsub&) = default;
};

enum class CursorStatus : std::uint8_t { Valid, Expired, Invalid, None };
template <>
struct EnumNames<CursorStatus> {
    static constexpr std::array<std::string_view, 4> names = {"valid", "expired", "invalid", "none"};
};

struct QueryResultEntry {
    std::string key;
    Value value;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("value", s.value);
    }
    friend bool operator==(const QueryResultEntry&, const QueryResultEntry&) = default;
};

struct QueryResp {
    static constexpr std::string_view kType = "QUERY_RESP";
    static constexpr Shape kShape = Shape::Payload;
    std::string query_id;
    std::vector<QueryResultEntry> results;
    std::optional<bool> has_more;
    std::optional<CursorStatus> cursor_status;
    std::optional<std::string> next_cursor;
    std::optional<std::uint32_t> merkle_root_hash;
    // The Rust server's error report (QUERY_SNAPSHOT_OVERFLOW ...).
    std::optional<std::string> error;
    std::optional<std::string> code;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("queryId", s.query_id);
        v("results", s.results);
        v("hasMore", s.has_more);
        v("cursorStatus", s.cursor_status);
        v("nextCursor", s.next_cursor);
        v("merkleRootHash", s.merkle_root_hash);
        v("error", s.error);
        v("code", s.code);
    }
    friend bool operator==(const QueryResp&, const QueryResp&) = default;
};

struct QueryUpdate {
    static constexpr std::string_view kType = "QUERY_UPDATE";
    static constexpr Shape kShape = Shape::Payload;
    std::string query_id;
    std::string key;
    Value value;  // nil for LEAVE
    ChangeType change_type = ChangeType::Enter;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("queryId", s.query_id);
        v("key", s.key);
        v("value", s.value);
        v("changeType", s.change_type);
    }
    friend bool operator==(const QueryUpdate&, const QueryUpdate&) = default;
};

struct QuerySyncInit {
    static constexpr std::string_view kType = "QUERY_SYNC_INIT";
    static constexpr Shape kShape = Shape::Payload;
    std::string query_id;
    std::uint32_t root_hash = 0;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("queryId", s.query_id);
        v("rootHash", s.root_hash);
    }
    friend bool operator==(const QuerySyncInit&, const QuerySyncInit&) = default;
};

struct SqlQuery {
    static constexpr std::string_view kType = "SQL_QUERY";
    static constexpr Shape kShape = Shape::Payload;
    std::string sql;
    std::string query_id;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("sql", s.sql);
        v("queryId", s.query_id);
    }
    friend bool operator==(const SqlQuery&, const SqlQuery&) = default;
};

struct SqlQueryResp {
    static constexpr std::string_view kType = "SQL_QUERY_RESP";
    static constexpr Shape kShape = Shape::Payload;
    std::string query_id;
    std::vector<std::string> columns;
    std::vector<std::vector<Value>> rows;
    std::optional<std::string> error;
    std::optional<std::string> code;  // "FEATURE_DISABLED" when there is no SQL engine

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("queryId", s.query_id);
        v("columns", s.columns);
        v("rows", s.rows);
        v("error", s.error);
        v("code", s.code);
    }
    friend bool operator==(const SqlQueryResp&, const SqlQueryResp&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
