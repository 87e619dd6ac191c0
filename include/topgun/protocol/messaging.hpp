// Pub/sub topics, distributed locks and PN counters (PROTOCOL.md §3.I, §3.J, §3.K, §10.1–10.3).
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/message_base.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// ---- §3.I Topics ----

struct TopicName {
    std::string topic;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("topic", s.topic);
    }
    friend bool operator==(const TopicName&, const TopicName&) = default;
};

struct TopicSub : TopicName {
    static constexpr std::string_view kType = "TOPIC_SUB";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const TopicSub&, const TopicSub&) = default;
};

struct TopicUnsub : TopicName {
    static constexpr std::string_view kType = "TOPIC_UNSUB";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const TopicUnsub&, const TopicUnsub&) = default;
};

struct TopicPub {
    static constexpr std::string_view kType = "TOPIC_PUB";
    static constexpr Shape kShape = Shape::Payload;
    std::string topic;
    Value data;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("topic", s.topic);
        v("data", s.data);
    }
    friend bool operator==(const TopicPub&, const TopicPub&) = default;
};

struct TopicMessage {
    static constexpr std::string_view kType = "TOPIC_MESSAGE";
    static constexpr Shape kShape = Shape::Payload;
    std::string topic;
    Value data;
    std::optional<std::string> publisher_id;  // the Rust server leaves it out for WebSocket peers
    std::uint64_t timestamp = 0;              // server wall clock, ms

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("topic", s.topic);
        v("data", s.data);
        v("publisherId", s.publisher_id);
        v("timestamp", s.timestamp);
    }
    friend bool operator==(const TopicMessage&, const TopicMessage&) = default;
};

// ---- §3.J Locks ----

struct LockRequest {
    static constexpr std::string_view kType = "LOCK_REQUEST";
    static constexpr Shape kShape = Shape::Payload;
    std::string request_id;
    std::string name;
    std::optional<std::uint64_t> ttl;  // ms; absent = never expires

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("name", s.name);
        v("ttl", s.ttl);
    }
    friend bool operator==(const LockRequest&, const LockRequest&) = default;
};

struct LockRelease {
    static constexpr std::string_view kType = "LOCK_RELEASE";
    static constexpr Shape kShape = Shape::Payload;
    std::optional<std::string> request_id;
    std::string name;
    std::uint64_t fencing_token = 0;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("name", s.name);
        v("fencingToken", s.fencing_token);
    }
    friend bool operator==(const LockRelease&, const LockRelease&) = default;
};

struct LockGranted {
    static constexpr std::string_view kType = "LOCK_GRANTED";
    static constexpr Shape kShape = Shape::Payload;
    std::string request_id;
    std::string name;
    std::uint64_t fencing_token = 0;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("name", s.name);
        v("fencingToken", s.fencing_token);
    }
    friend bool operator==(const LockGranted&, const LockGranted&) = default;
};

// Also the denial of a LOCK_REQUEST (success false).
struct LockReleased {
    static constexpr std::string_view kType = "LOCK_RELEASED";
    static constexpr Shape kShape = Shape::Payload;
    std::string request_id;  // "" when the release carried none
    std::string name;
    bool success = false;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("name", s.name);
        v("success", s.success);
    }
    friend bool operator==(const LockReleased&, const LockReleased&) = default;
};

// ---- §3.K PN counters ----

struct CounterRequest {
    static constexpr std::string_view kType = "COUNTER_REQUEST";
    static constexpr Shape kShape = Shape::Payload;
    std::string name;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("name", s.name);
    }
    friend bool operator==(const CounterRequest&, const CounterRequest&) = default;
};

struct CounterState {
    std::string name;
    PNCounterStateData state;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("name", s.name);
        v("state", s.state);
    }
    friend bool operator==(const CounterState&, const CounterState&) = default;
};

struct CounterSync : CounterState {
    static constexpr std::string_view kType = "COUNTER_SYNC";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const CounterSync&, const CounterSync&) = default;
};

struct CounterResponse : CounterState {
    static constexpr std::string_view kType = "COUNTER_RESPONSE";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const CounterResponse&, const CounterResponse&) = default;
};

struct CounterUpdate : CounterState {
    static constexpr std::string_view kType = "COUNTER_UPDATE";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const CounterUpdate&, const CounterUpdate&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
