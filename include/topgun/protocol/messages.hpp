// Every message kind of the protocol (PROTOCOL.md §3), as one variant.
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/connection.hpp>
#include <topgun/protocol/writes.hpp>

#include <variant>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// Grouped by domain, in the order of PROTOCOL.md §3.
using Message = std::variant<
    // §3.A connection, auth, heartbeat, errors
    Auth, AuthRequired, AuthAck, AuthFail, DeviceHello, DeviceAck, Ping, Pong, ErrorMessage,
    // §3.B writes, acks, live data events
    ClientOpMessage, OpBatch, OpAck, OpRejected, ServerEvent, ServerBatchEvent, Batch>;

}  // namespace protocol
TOPGUN_END_NAMESPACE
