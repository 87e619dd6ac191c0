#include "net/listener.hpp"

#include "net/sessions.hpp"
#include "node.hpp"

#include <spdlog/spdlog.h>

#include <future>
#include <stdexcept>

namespace topgun::server {

using tcp = boost::asio::ip::tcp;

Listener::Listener(Node& node) : node_(node) {}

Listener::~Listener() = default;

std::uint16_t Listener::bind() {
    std::uint16_t port = node_.config().port;
    for (const std::string& text : node_.config().bind_addresses) {
        const auto address = boost::asio::ip::make_address(text);
        auto acceptor = std::make_unique<tcp::acceptor>(node_.shards()[0].io());
        boost::system::error_code ec;
        const tcp::endpoint endpoint(address, port);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        // "::" serves IPv4 too (dual stack) unless the system forbids it.
        if (!ec && address.is_v6()) acceptor->set_option(boost::asio::ip::v6_only(!address.is_unspecified()), ec);
        if (!ec) acceptor->bind(endpoint, ec);
        if (!ec) acceptor->listen(boost::asio::socket_base::max_listen_connections, ec);
        if (ec) {
            // A loopback alias that the machine lacks (no IPv6) is not fatal
            // once another address serves the port.
            if (!acceptors_.empty() && address.is_loopback()) {
                spdlog::warn("not listening on {}: {}", text, ec.message());
                continue;
            }
            if (address.is_v6() && address.is_unspecified() && acceptors_.empty()) {
                spdlog::warn("IPv6 unavailable ({}); listening on 0.0.0.0", ec.message());
                return bind_fallback_v4(port);
            }
            throw std::runtime_error("cannot listen on " + text + " port " + std::to_string(port) + ": " + ec.message());
        }
        port = acceptor->local_endpoint().port();
        acceptors_.push_back(std::move(acceptor));
    }
    node_.set_public_port(port);
    return port;
}

std::uint16_t Listener::bind_fallback_v4(std::uint16_t port) {
    auto acceptor = std::make_unique<tcp::acceptor>(node_.shards()[0].io());
    const tcp::endpoint endpoint(tcp::v4(), port);
    boost::system::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on 0.0.0.0 port " + std::to_string(port) + ": " + ec.message());
    port = acceptor->local_endpoint().port();
    acceptors_.push_back(std::move(acceptor));
    node_.set_public_port(port);
    return port;
}

void Listener::start() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
        node_.shards()[0].post([this, i] { accept(i); });
    }
}

void Listener::accept(std::size_t index) {
    Shard& home = node_.shards().next_home();
    acceptors_[index]->async_accept(home.io(), [this, index, &home](boost::system::error_code ec, tcp::socket socket) {
        if (ec == boost::asio::error::operation_aborted) return;
        if (!ec) {
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            // The socket belongs to `home`; its session starts there.
            home.post([this, &home, s = std::move(socket)]() mutable { start_http_session(node_, home.index(), std::move(s)); });
        } else {
            spdlog::warn("accept failed: {}", ec.message());
        }
        accept(index);
    });
}

void Listener::stop() {
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    node_.shards()[0].post([this, done] {
        for (auto& a : acceptors_) {
            boost::system::error_code ignored;
            a->close(ignored);
        }
        done->set_value();
    });
    finished.wait_for(std::chrono::seconds(2));
}

}  // namespace topgun::server
