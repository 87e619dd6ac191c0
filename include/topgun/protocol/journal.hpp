// The event journal, all flat messages (PROTOCOL.md §3.M, §10.5).
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/message_base.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

enum class JournalEventType : std::uint8_t { Put, Update, Delete };
template <>
struct EnumNames<JournalEventType> {
    static constexpr std::array<std::string_view, 3> names = {"PUT", "UPDATE", "DELETE"};
};

struct JournalEventData {
    std::string sequence;  // decimal, as the client parses it as BigInt
    JournalEventType type = JournalEventType::Put;
    std::string map_name;
    std::string key;
    Nullable<Value> value;
    Nullable<Value> previous_value;
    Timestamp timestamp;
    std::string node_id;
    std::optional<StringMap<Value>> metadata;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("sequence", s.sequence);
        v("type", s.type);
        v("mapName", s.map_name);
        v("key", s.key);
        v("value", s.value);
        v("previousValue", s.previous_value);
        v("timestamp", s.timestamp);
        v("nodeId", s.node_id);
        v("metadata", s.metadata);
    }
    friend bool operator==(const JournalEventData&, const JournalEventData&) = default;
};

struct JournalSubscribe {
    static constexpr std::string_view kType = "JOURNAL_SUBSCRIBE";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;  // becomes the subscription id
    std::optional<std::string> from_sequence;
    std::optional<std::string> map_name;
    std::optional<std::vector<JournalEventType>> types;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("fromSequence", s.from_sequence);
        v("mapName", s.map_name);
        v("types", s.types);
    }
    friend bool operator==(const JournalSubscribe&, const JournalSubscribe&) = default;
};

struct JournalUnsubscribe {
    static constexpr std::string_view kType = "JOURNAL_UNSUBSCRIBE";
    static constexpr Shape kShape = Shape::Flat;
    std::string subscription_id;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
    }
    friend bool operator==(const JournalUnsubscribe&, const JournalUnsubscribe&) = default;
};

// The reference's "event" envelope: a flat message with one field `event`.
struct JournalEvent {
    static constexpr std::string_view kType = "JOURNAL_EVENT";
    static constexpr Shape kShape = Shape::Flat;
    JournalEventData event;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("event", s.event);
    }
    friend bool operator==(const JournalEvent&, const JournalEvent&) = default;
};

struct JournalRead {
    static constexpr std::string_view kType = "JOURNAL_READ";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    std::string from_sequence;           // decimal
    std::optional<std::uint32_t> limit;  // the server's default is 100
    std::optional<std::string> map_name;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("fromSequence", s.from_sequence);
        v("limit", s.limit);
        v("mapName", s.map_name);
    }
    friend bool operator==(const JournalRead&, const JournalRead&) = default;
};

struct JournalReadResponse {
    static constexpr std::string_view kType = "JOURNAL_READ_RESPONSE";
    static constexpr Shape kShape = Shape::Flat;
    std::string request_id;
    std::vector<JournalEventData> events;
    bool has_more = false;
    // Ours (the reference never sends it): the newest sequence the server has
    // handed out, so a reader can start at the tail without paging through.
    std::optional<std::string> latest_sequence;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("events", s.events);
        v("hasMore", s.has_more);
        v("latestSequence", s.latest_sequence);
    }
    friend bool operator==(const JournalReadResponse&, const JournalReadResponse&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
