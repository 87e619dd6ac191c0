// Entry point from the listener into the HTTP/WebSocket sessions (sessions.cpp).
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <cstddef>

namespace topgun::server {

class Node;

// Serves HTTP on an accepted socket (bound to shard `home`'s io_context),
// upgrading `/` and `/ws` to the TopGun WebSocket protocol.
void start_http_session(Node& node, std::size_t home, boost::asio::ip::tcp::socket socket);

}  // namespace topgun::server
