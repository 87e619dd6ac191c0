// The client port: accepts TCP connections on every configured address (one
// port for all of them), serves HTTP on each, and upgrades `/` and `/ws` to a
// WebSocket. Accepting runs on shard 0; each new connection is handed to a
// shard round robin and lives there from then on.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
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
    // A listening socket, and the pause before accepting again after a failed
    // accept: out of file descriptors (EMFILE) or memory, accepting again at
    // once would fail again at once, spinning a core and flooding the log.
    struct Port {
        boost::asio::ip::tcp::acceptor acceptor;
        boost::asio::steady_timer retry;
        std::chrono::milliseconds backoff{0};  // 0: the last accept succeeded
        std::uint64_t failures = 0;            // since the last success
    };

    std::uint16_t bind_fallback_v4(std::uint16_t port);
    Port& add_port();
    void accept(std::size_t index);

    Node& node_;
    std::vector<std::unique_ptr<Port>> ports_;
};

}  // namespace topgun::server
