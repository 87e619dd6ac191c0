#include "net/listener.hpp"

#include "net/sessions.hpp"
#include "node.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
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
        Port& p = add_port();
        tcp::acceptor* acceptor = &p.acceptor;
        boost::system::error_code ec;
        const tcp::endpoint endpoint(address, port);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        // "::" serves IPv4 too (dual stack) unless the system forbids it.
        if (!ec && address.is_v6()) acceptor->set_option(boost::asio::ip::v6_only(!address.is_unspecified()), ec);
        if (!ec) acceptor->bind(endpoint, ec);
        if (!ec) acceptor->listen(boost::asio::socket_base::max_listen_connections, ec);
        if (ec) {
            ports_.pop_back();
            // A loopback alias that the machine lacks (no IPv6) is not fatal
            // once another address serves the port.
            if (!ports_.empty() && address.is_loopback()) {
                spdlog::warn("not listening on {}: {}", text, ec.message());
                continue;
            }
            if (address.is_v6() && address.is_unspecified() && ports_.empty()) {
                spdlog::warn("IPv6 unavailable ({}); listening on 0.0.0.0", ec.message());
                return bind_fallback_v4(port);
            }
            throw std::runtime_error("cannot listen on " + text + " port " + std::to_string(port) + ": " + ec.message());
        }
        port = acceptor->local_endpoint().port();
    }
    node_.set_public_port(port);
    return port;
}

std::uint16_t Listener::bind_fallback_v4(std::uint16_t port) {
    tcp::acceptor* acceptor = &add_port().acceptor;
    const tcp::endpoint endpoint(tcp::v4(), port);
    boost::system::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on 0.0.0.0 port " + std::to_string(port) + ": " + ec.message());
    port = acceptor->local_endpoint().port();
    node_.set_public_port(port);
    return port;
}

Listener::Port& Listener::add_port() {
    auto& io = node_.shards()[0].io();
    ports_.push_back(std::make_unique<Port>(Port{tcp::acceptor(io), boost::asio::steady_timer(io)}));
    return *ports_.back();
}

void Listener::start() {
    for (std::size_t i = 0; i < ports_.size(); ++i) {
        node_.shards()[0].post([this, i] { accept(i); });
    }
}

void Listener::accept(std::size_t index) {
    Shard& home = node_.shards().next_home();
    Port& p = *ports_[index];
    p.acceptor.async_accept(home.io(), [this, index, &home, &p](boost::system::error_code ec, tcp::socket socket) {
        if (ec == boost::asio::error::operation_aborted || !p.acceptor.is_open()) return;
        if (!ec) {
            if (p.failures > 0) spdlog::info("accepting again after {} failed accepts", p.failures);
            p.backoff = std::chrono::milliseconds(0);
            p.failures = 0;
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            // The socket belongs to `home`; its session starts there.
            home.post([this, &home, s = std::move(socket)]() mutable { start_http_session(node_, home.index(), std::move(s)); });
            accept(index);
            return;
        }
        // Waiting connections stay in the kernel's backlog meanwhile. Logged at
        // the first failure and then once per ten, not per attempt.
        if (p.failures++ % 10 == 0) spdlog::warn("accept failed: {} (retrying with backoff)", ec.message());
        p.backoff = std::clamp(p.backoff * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
        p.retry.expires_after(p.backoff);
        p.retry.async_wait([this, index](boost::system::error_code wait_ec) {
            if (!wait_ec) accept(index);
        });
    });
}

void Listener::stop() {
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    node_.shards()[0].post([this, done] {
        for (auto& p : ports_) {
            boost::system::error_code ignored;
            p->acceptor.close(ignored);
            p->retry.cancel();
        }
        done->set_value();
    });
    finished.wait_for(std::chrono::seconds(2));
}

}  // namespace topgun::server
