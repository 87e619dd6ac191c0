// Entry processors and conflict resolvers, all flat messages (PROTOCOL.md §3.L, §3.N, §10.4).
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/message_base.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// ---- §3.L Entry processors ----

// `code` is JavaScript source (the legacy TS server ran it in a sandbox).
struct EntryProcessor {
    std::string name;
    std::string code;
    Nullable<Value> args;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("name", s.name);
        v("code", s.code);
        v("args", s.args);
    }
    friend bool operator==(const EntryProcessor&, const EntryProcessor&) = default;
};

struct EntryProcess {
    static constexpr std::string_view kType = "ENTRY_PROCESS";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    std::string map_name;
    std::string key;
    EntryProcessor processor;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("mapName", s.map_name);
        v("key", s.key);
        v("processor", s.processor);
    }
    friend bool operator==(const EntryProcess&, const EntryProcess&) = default;
};

struct EntryProcessBatch {
    static constexpr std::string_view kType = "ENTRY_PROCESS_BATCH";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    std::string map_name;
    std::vector<std::string> keys;
    EntryProcessor processor;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("mapName", s.map_name);
        v("keys", s.keys);
        v("processor", s.processor);
    }
    friend bool operator==(const EntryProcessBatch&, const EntryProcessBatch&) = default;
};

struct EntryProcessResponse {
    static constexpr std::string_view kType = "ENTRY_PROCESS_RESPONSE";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    bool success = false;
    Nullable<Value> result;
    Nullable<Value> new_value;
    std::optional<std::string> error;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("success", s.success);
        v("result", s.result);
        v("newValue", s.new_value);
        v("error", s.error);
    }
    friend bool operator==(const EntryProcessResponse&, const EntryProcessResponse&) = default;
};

struct EntryProcessKeyResult {
    bool success = false;
    Nullable<Value> result;
    Nullable<Value> new_value;
    std::optional<std::string> error;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("success", s.success);
        v("result", s.result);
        v("newValue", s.new_value);
        v("error", s.error);
    }
    friend bool operator==(const EntryProcessKeyResult&, const EntryProcessKeyResult&) = default;
};

struct EntryProcessBatchResponse {
    static constexpr std::string_view kType = "ENTRY_PROCESS_BATCH_RESPONSE";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    StringMap<EntryProcessKeyResult> results;  // key -> outcome

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("results", s.results);
    }
    friend bool operator==(const EntryProcessBatchResponse&, const EntryProcessBatchResponse&) = default;
};

// ---- §3.N Conflict resolvers ----

struct ConflictResolverDef {
    std::string name;
    std::string code;
    std::optional<std::uint32_t> priority;
    std::optional<std::string> key_pattern;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("name", s.name);
        v("code", s.code);
        v("priority", s.priority);
        v("keyPattern", s.key_pattern);
    }
    friend bool operator==(const ConflictResolverDef&, const ConflictResolverDef&) = default;
};

struct RegisterResolver {
    static constexpr std::string_view kType = "REGISTER_RESOLVER";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    std::string map_name;
    ConflictResolverDef resolver;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("mapName", s.map_name);
        v("resolver", s.resolver);
    }
    friend bool operator==(const RegisterResolver&, const RegisterResolver&) = default;
};

struct ResolverOutcome {
    std::string request_id;
    bool success = false;
    std::optional<std::string> error;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("success", s.success);
        v("error", s.error);
    }
    friend bool operator==(const ResolverOutcome&, const ResolverOutcome&) = default;
};

struct RegisterResolverResponse : ResolverOutcome {
    static constexpr std::string_view kType = "REGISTER_RESOLVER_RESPONSE";
    static constexpr Shape kShape = Shape::Flat;
    friend bool operator==(const RegisterResolverResponse&, const RegisterResolverResponse&) = default;
};

struct UnregisterResolver {
    static constexpr std::string_view kType = "UNREGISTER_RESOLVER";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    std::string map_name;
    std::string resolver_name;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("mapName", s.map_name);
        v("resolverName", s.resolver_name);
    }
    friend bool operator==(const UnregisterResolver&, const UnregisterResolver&) = default;
};

struct UnregisterResolverResponse : ResolverOutcome {
    static constexpr std::string_view kType = "UNREGISTER_RESOLVER_RESPONSE";
    static constexpr Shape kShape = Shape::Flat;
    friend bool operator==(const UnregisterResolverResponse&, const UnregisterResolverResponse&) = default;
};

struct ListResolvers {
    static constexpr std::string_view kType = "LIST_RESOLVERS";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    std::optional<std::string> map_name;  // absent = every map

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("mapName", s.map_name);
    }
    friend bool operator==(const ListResolvers&, const ListResolvers&) = default;
};

struct ResolverInfo {
    std::string map_name;
    std::string name;
    std::optional<std::uint32_t> priority;
    std::optional<std::string> key_pattern;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("name", s.name);
        v("priority", s.priority);
        v("keyPattern", s.key_pattern);
    }
    friend bool operator==(const ResolverInfo&, const ResolverInfo&) = default;
};

struct ListResolversResponse {
    static constexpr std::string_view kType = "LIST_RESOLVERS_RESPONSE";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    std::vector<ResolverInfo> resolvers;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("resolvers", s.resolvers);
    }
    friend bool operator==(const ListResolversResponse&, const ListResolversResponse&) = default;
};

struct MergeRejected {
    static constexpr std::string_view kType = "MERGE_REJECTED";
    static constexpr Shape kShape = Shape::Flat;
    std::string map_name;
    std::string key;
    Value attempted_value;
    std::string reason;
    Timestamp timestamp;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("key", s.key);
        v("attemptedValue", s.attempted_value);
        v("reason", s.reason);
        v("timestamp", s.timestamp);
    }
    friend bool operator==(const MergeRejected&, const MergeRejected&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
