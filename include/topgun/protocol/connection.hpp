// Connection, authentication, heartbeat and error messages (PROTOCOL.md §1.4, §1.5, §3.A).
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/message_base.hpp>

#include <cstdint>
#include <optional>
#include <string>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

struct Auth {
    static constexpr std::string_view kType = "AUTH";
    static constexpr Shape kShape = Shape::Flat;
    std::string token;
    std::optional<std::uint32_t> protocol_version;
    std::optional<std::string> device_token;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("token", s.token);
        v("protocolVersion", s.protocol_version);
        v("deviceToken", s.device_token);
    }
    friend bool operator==(const Auth&, const Auth&) = default;
};

struct AuthRequired {
    static constexpr std::string_view kType = "AUTH_REQUIRED";
    static constexpr Shape kShape = Shape::Flat;
    std::optional<std::string> reason;  // not in the schema; the reference fixture carries it

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("reason", s.reason);
    }
    friend bool operator==(const AuthRequired&, const AuthRequired&) = default;
};

struct AuthAck {
    static constexpr std::string_view kType = "AUTH_ACK";
    static constexpr Shape kShape = Shape::Flat;
    std::optional<std::uint32_t> protocol_version;
    std::optional<std::string> user_id;
    std::optional<std::string> device_id;
    std::optional<std::string> device_token;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("protocolVersion", s.protocol_version);
        v("userId", s.user_id);
        v("deviceId", s.device_id);
        v("deviceToken", s.device_token);
    }
    friend bool operator==(const AuthAck&, const AuthAck&) = default;
};

struct AuthFail {
    static constexpr std::string_view kType = "AUTH_FAIL";
    static constexpr Shape kShape = Shape::Flat;
    std::optional<std::string> error;
    std::optional<std::uint32_t> code;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("error", s.error);
        v("code", s.code);
    }
    friend bool operator==(const AuthFail&, const AuthFail&) = default;
};

struct DeviceHello {
    static constexpr std::string_view kType = "DEVICE_HELLO";
    static constexpr Shape kShape = Shape::Flat;
    std::optional<std::string> device_token;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("deviceToken", s.device_token);
    }
    friend bool operator==(const DeviceHello&, const DeviceHello&) = default;
};

struct DeviceAck {
    static constexpr std::string_view kType = "DEVICE_ACK";
    static constexpr Shape kShape = Shape::Flat;
    std::optional<std::string> device_id;
    std::optional<std::string> device_token;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("deviceId", s.device_id);
        v("deviceToken", s.device_token);
    }
    friend bool operator==(const DeviceAck&, const DeviceAck&) = default;
};

struct Ping {
    static constexpr std::string_view kType = "PING";
    static constexpr Shape kShape = Shape::Flat;
    std::uint64_t timestamp = 0;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("timestamp", s.timestamp);
    }
    friend bool operator==(const Ping&, const Ping&) = default;
};

struct Pong {
    static constexpr std::string_view kType = "PONG";
    static constexpr Shape kShape = Shape::Flat;
    std::uint64_t timestamp = 0;
    std::uint64_t server_time = 0;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("timestamp", s.timestamp);
        v("serverTime", s.server_time);
    }
    friend bool operator==(const Pong&, const Pong&) = default;
};

struct ErrorMessage {
    static constexpr std::string_view kType = "ERROR";
    static constexpr Shape kShape = Shape::Payload;
    std::uint32_t code = 0;
    std::string message;
    Nullable<Value> details;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("code", s.code);
        v("message", s.message);
        v("details", s.details);
    }
    friend bool operator==(const ErrorMessage&, const ErrorMessage&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
