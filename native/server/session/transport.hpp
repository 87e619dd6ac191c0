// What a connection's protocol logic needs from its socket: queue a binary
// frame, close, and pause or resume reading (backpressure). The WebSocket
// session implements it; tests and the fuzz target use an in-memory one.
#pragma once

#include <topgun/value.hpp>

#include <cstdint>
#include <memory>
#include <string_view>

namespace topgun::server {

// Encoded once, shared by every connection it is sent to.
using SharedFrame = std::shared_ptr<const Bytes>;

inline SharedFrame make_frame(Bytes bytes) { return std::make_shared<const Bytes>(std::move(bytes)); }

class Transport {
public:
    virtual ~Transport() = default;
    virtual void send(SharedFrame frame) = 0;
    // Closes after the frames already queued are written.
    virtual void close(std::uint16_t code, std::string_view reason) = 0;
    virtual void pause_reading() = 0;
    virtual void resume_reading() = 0;
};

// WebSocket close codes used by the server.
namespace close_code {
inline constexpr std::uint16_t kGoingAway = 1001;       // shutdown
inline constexpr std::uint16_t kPolicyViolation = 1008;  // auth failed or timed out, idle
inline constexpr std::uint16_t kTooBig = 1009;
inline constexpr std::uint16_t kTryAgainLater = 1013;   // slow consumer
}  // namespace close_code

}  // namespace topgun::server
