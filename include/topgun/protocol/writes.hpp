// CRDT writes, acknowledgements and live data events (PROTOCOL.md §3.B, §5, §12).
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/message_base.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

struct ClientOpMessage : ClientOp {
    static constexpr std::string_view kType = "CLIENT_OP";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const ClientOpMessage&, const ClientOpMessage&) = default;
};

struct OpBatch {
    static constexpr std::string_view kType = "OP_BATCH";
    static constexpr Shape kShape = Shape::Payload;
    std::vector<ClientOp> ops;
    std::optional<WriteConcern> write_concern;
    std::optional<std::uint64_t> timeout;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("ops", s.ops);
        v("writeConcern", s.write_concern);
        v("timeout", s.timeout);
    }
    friend bool operator==(const OpBatch&, const OpBatch&) = default;
};

struct OpAck {
    static constexpr std::string_view kType = "OP_ACK";
    static constexpr Shape kShape = Shape::Payload;
    std::string last_id;
    std::optional<WriteConcern> achieved_level;
    std::optional<std::vector<OpResult>> results;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("lastId", s.last_id);
        v("achievedLevel", s.achieved_level);
        v("results", s.results);
    }
    friend bool operator==(const OpAck&, const OpAck&) = default;
};

struct OpRejected {
    static constexpr std::string_view kType = "OP_REJECTED";
    static constexpr Shape kShape = Shape::Payload;
    std::string op_id;
    std::string reason;
    std::optional<std::uint32_t> code;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("opId", s.op_id);
        v("reason", s.reason);
        v("code", s.code);
    }
    friend bool operator==(const OpRejected&, const OpRejected&) = default;
};

enum class ServerEventType : std::uint8_t { Put, Remove, OrAdd, OrRemove };
template <>
struct EnumNames<ServerEventType> {
    static constexpr std::array<std::string_view, 4> names = {"PUT", "REMOVE", "OR_ADD", "OR_REMOVE"};
};

struct ServerEventPayload {
    std::string map_name;
    ServerEventType event_type = ServerEventType::Put;
    std::string key;
    std::optional<LWWRecordData> record;
    std::optional<ORMapRecordData> or_record;
    std::optional<std::string> or_tag;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("eventType", s.event_type);
        v("key", s.key);
        v("record", s.record);
        v("orRecord", s.or_record);
        v("orTag", s.or_tag);
    }
    friend bool operator==(const ServerEventPayload&, const ServerEventPayload&) = default;
};

struct ServerEvent : ServerEventPayload {
    static constexpr std::string_view kType = "SERVER_EVENT";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const ServerEvent&, const ServerEvent&) = default;
};

struct ServerBatchEvent {
    static constexpr std::string_view kType = "SERVER_BATCH_EVENT";
    static constexpr Shape kShape = Shape::Payload;
    std::vector<ServerEventPayload> events;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("events", s.events);
    }
    friend bool operator==(const ServerBatchEvent&, const ServerBatchEvent&) = default;
};

// An envelope of several messages in one frame. Inbound `data` follows the
// Rust server's layout (u32 big-endian length before each message, D8); see
// unpack_batch() in codec.hpp.
struct Batch {
    static constexpr std::string_view kType = "BATCH";
    static constexpr Shape kShape = Shape::Flat;
    std::uint32_t count = 0;
    Bytes data;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("count", s.count);
        v("data", s.data);
    }
    friend bool operator==(const Batch&, const Batch&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
