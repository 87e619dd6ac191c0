// The client port: accepts TCP connections on every configured address (one
// port for all of them), serves HTTP on each, and upgrades `/` and `/ws` to a
// WebSocket. Accepting runs on shard 0; each new connection is handed to a
// shard round robin and lives there from then on.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace topgun::server {

class Node;

class Listener {
public:
    explicit Listener(Node& node);
    ~Listener();

    // Binds and listens on every configured address; with port 0 the first bind
    // picks the port and the others reuse it. Throws std::runtime_error naming
    // the address on failure. Returns the bound port.
    std::uint16_t bind();
    void start();
    // Stops accepting (safe from any thread).
    void stop();

private:
    std::uint16_t bind_fallback_v4(std::uint16_t port);
    void accept(std::size_t index);

    Node& node_;
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
};

}  // namespace topgun::server
