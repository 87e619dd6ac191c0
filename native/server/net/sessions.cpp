// HTTP and WebSocket sessions on Boost.Beast. The HTTP session answers the
// health endpoints and hands an upgrade on `/` or `/ws` to a WebSocket
// session, which feeds binary frames to a Connection and writes its frames
// from a bounded queue that merges waiting events (outbound_queue.hpp; a
// consumer that falls behind by more than the backlog limit is dropped; its
// client resyncs through Merkle sync when it returns).
#include "net/sessions.hpp"

#include "net/outbound_queue.hpp"

#include "metrics.hpp"

#include "node.hpp"
#include "session/connection.hpp"
#include "session/admin_api.hpp"
#include "session/http_sync.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unordered_set>

namespace topgun::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

constexpr auto kHttpTimeout = std::chrono::seconds(30);
constexpr std::size_t kHttpBodyLimit = 2 * 1024 * 1024;

std::string endpoint_text(const beast::tcp_stream& stream) {
    boost::system::error_code ec;
    const auto ep = stream.socket().remote_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// Whether a Host header names this machine by loopback ("localhost",
// "127.0.0.1:8080", "[::1]:8080"). A page that rebinds its own domain to
// 127.0.0.1 reaches a loopback server without an Origin on its GETs, but its
// requests carry its domain as Host.
bool loopback_host(std::string_view host) {
    std::string_view name = host;
    if (name.starts_with('[')) {
        const auto close = name.find(']');
        if (close == std::string_view::npos) return false;
        name = name.substr(1, close - 1);
    } else if (const auto colon = name.find(':'); colon != std::string_view::npos) {
        name = name.substr(0, colon);
    }
    if (beast::iequals(name, "localhost")) return true;
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(name, ec);
    return !ec && address.is_loopback();
}

class WebSocketSession final : public Transport, public std::enable_shared_from_this<WebSocketSession> {
public:
    WebSocketSession(Node& node, std::size_t home, beast::tcp_stream&& stream)
        : node_(node), home_(home), ws_(std::move(stream)), remote_(endpoint_text(ws_.next_layer())) {}

    ~WebSocketSession() override {
        if (connection_) connection_->detach();
    }

    void accept(http::request<http::string_body> request) {
        ws_.next_layer().expires_never();  // the websocket stream has its own timeouts
        auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
        timeouts.keep_alive_pings = false;  // liveness is the protocol's PING (§1.5)
        timeouts.idle_timeout = websocket::stream_base::none();
        ws_.set_option(timeouts);
        ws_.read_message_max(node_.config().max_frame_bytes);
        ws_.auto_fragment(false);
        ws_.binary(true);
        ws_.async_accept(request, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
    }

    void send(SharedFrame frame) override {
        if (closing_) return;
        if (!queue_.push(std::move(frame))) {
            node_.metrics().slow_consumers_dropped.fetch_add(1, std::memory_order_relaxed);
            spdlog::warn("connection {} from {}: over {} bytes queued, dropping a slow consumer", connection_->id(), remote_,
                         node_.config().max_backlog_bytes);
            // The frame being written stays until its write completes (on_write).
            queue_.drop_pending();
            close(close_code::kTryAgainLater, "slow consumer");
            return;
        }
        if (!writing_) write_next();
    }

    void close(std::uint16_t code, std::string_view reason) override {
        if (closing_) return;
        closing_ = true;
        close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
        if (!writing_) write_next();
    }

    // While paused no read is pending, and with nothing to write no Asio
    // operation would hold the session: it holds itself until resumed.
    void pause_reading() override {
        paused_ = true;
        paused_self_ = shared_from_this();
    }
    void resume_reading() override {
        const auto hold = std::move(paused_self_);
        paused_ = false;
        if (!reading_ && !handling_ && !finished_) read_next();
    }

private:
    void on_accept(beast::error_code ec) {
        if (ec) {
            spdlog::debug("websocket handshake with {} failed: {}", remote_, ec.message());
            return;
        }
        connection_ = std::make_shared<Connection>(node_, home_, *this, remote_);
        connection_->start();
        read_next();
    }

    void read_next() {
        if (paused_ || finished_) return;
        reading_ = true;
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        reading_ = false;
        if (ec) {
            if (ec == websocket::error::message_too_big) {
                spdlog::info("connection {} from {}: frame over {} bytes, closing", connection_->id(), remote_,
                             node_.config().max_frame_bytes);
            } else {
                spdlog::debug("connection {} from {}: read ended: {}", connection_->id(), remote_, ec.message());
            }
            finish();
            return;
        }
        const auto data = buffer_.cdata();
        // The connection may pause and resume reading while it handles the
        // frame; the next read starts only after the buffer is released.
        handling_ = true;
        if (ws_.got_text()) {
            connection_->on_text_frame();
        } else {
            connection_->on_frame({static_cast<const std::uint8_t*>(data.data()), data.size()});
        }
        handling_ = false;
        buffer_.consume(buffer_.size());
        read_next();
    }

    void write_next() {
        if (finished_) return;
        SharedFrame frame = queue_.start_write();
        if (frame == nullptr) {
            writing_ = false;
            if (closing_ && !close_sent_) {
                close_sent_ = true;
                writing_ = true;
                ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {
                    self->writing_ = false;
                    self->finish();
                });
            }
            return;
        }
        writing_ = true;
        // The queue keeps the frame alive until written().
        ws_.async_write(boost::asio::buffer(*frame), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_write(ec);
        });
    }

    void on_write(beast::error_code ec) {
        if (ec) {
            writing_ = false;
            spdlog::debug("connection {} from {}: write failed: {}", connection_->id(), remote_, ec.message());
            finish();
            return;
        }
        queue_.written();
        write_next();
    }

    // The connection is over (read error, close done, write error): forget it
    // once; pending Asio operations finish on their own and release `this`.
    void finish() {
        if (finished_) return;
        finished_ = true;
        paused_self_.reset();
        if (connection_) connection_->on_closed();
        beast::error_code ignored;
        ws_.next_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
        ws_.next_layer().close();
    }

    Node& node_;
    std::size_t home_;
    websocket::stream<beast::tcp_stream> ws_;
    std::string remote_;
    std::shared_ptr<Connection> connection_;
    beast::flat_buffer buffer_;
    OutboundQueue queue_{node_.config().max_backlog_bytes};
    bool writing_ = false;
    bool reading_ = false;
    bool handling_ = false;  // inside on_read, between the read and the buffer's release
    bool paused_ = false;
    bool closing_ = false;
    bool close_sent_ = false;
    bool finished_ = false;
    websocket::close_reason close_reason_;
    std::shared_ptr<WebSocketSession> paused_self_;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
public:
    HttpSession(Node& node, std::size_t home, tcp::socket&& socket) : node_(node), home_(home), stream_(std::move(socket)) {}

    void run() { read_next(); }

private:
    void read_next() {
        parser_.emplace();
        parser_->body_limit(kHttpBodyLimit);
        stream_.expires_after(kHttpTimeout);
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_read(ec);
        });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream) {
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            return;
        }
        if (ec == http::error::body_limit) {
            // The headers were read: an allowed origin may read the refusal, and no
            // earlier request's origin applies to it.
            const auto origin = parser_->get()[http::field::origin];
            cors_origin_ = allowed_origin(std::string_view(origin.data(), origin.size()));
            respond_json(http::status::payload_too_large, {{"code", 413}, {"message", "request body over 2 MiB"}}, false);
            return;
        }
        if (ec) return;
        http::request<http::string_body> request = parser_->release();
        const std::string_view target(request.target().data(), request.target().size());
        const std::string_view path = target.substr(0, target.find('?'));
        if (websocket::is_upgrade(request)) {
            if (path == "/" || path == "/ws") {
                std::make_shared<WebSocketSession>(node_, home_, std::move(stream_))->accept(std::move(request));
                return;
            }
            respond_json(http::status::not_found, {{"code", 404}, {"message", "WebSocket upgrades are served on / and /ws"}},
                         false);
            return;
        }
        route(request, path);
    }

    // Cross-origin HTTP requests (WebSockets are not subject to CORS): denied
    // unless TOPGUN_CORS_ORIGINS lists the origin (or `*`). Returns false when
    // the request has been answered (a refusal or a preflight).
    bool admit_origin(const http::request<http::string_body>& request, bool keep_alive) {
        const auto header = request[http::field::origin];
        const std::string_view origin(header.data(), header.size());
        cors_origin_ = allowed_origin(origin);
        if (origin.empty()) return true;
        if (cors_origin_.empty()) {
            respond_json(http::status::forbidden,
                         {{"code", 403}, {"message", "origin " + std::string(origin) + " is not allowed (TOPGUN_CORS_ORIGINS)"}},
                         keep_alive);
            return false;
        }
        if (request.method() != http::verb::options) return true;
        auto response = std::make_shared<http::response<http::string_body>>(http::status::no_content, 11);
        response->set(http::field::access_control_allow_methods, "GET, POST, DELETE, OPTIONS");
        response->set(http::field::access_control_allow_headers, "Authorization, Content-Type");
        response->set(http::field::access_control_max_age, "600");
        send(std::move(response), keep_alive);
        return false;
    }

    // Without auth the admin API trusts tools on this machine only: a loopback
    // peer with no proxy in front (a forwarded request's peer is the proxy,
    // not the client), addressed by a loopback Host (not a rebound domain),
    // that is no browser page, unless TOPGUN_CORS_ORIGINS names its origin
    // (`*` is not enough: any site open in a local browser could change
    // policies).
    bool local_tool(const http::request<http::string_body>& request) {
        beast::error_code ec;
        const auto remote = stream_.socket().remote_endpoint(ec);
        if (ec || !remote.address().is_loopback()) return false;
        for (const std::string_view proxy_header : {"Forwarded", "X-Forwarded-For", "X-Real-IP"}) {
            if (request.find(proxy_header) != request.end()) return false;
        }
        const auto host = request[http::field::host];
        if (!host.empty() && !loopback_host(std::string_view(host.data(), host.size()))) return false;
        const auto header = request[http::field::origin];
        const std::string_view origin(header.data(), header.size());
        const auto& named = node_.config().cors_origins;
        return origin.empty() || std::find(named.begin(), named.end(), origin) != named.end();
    }

    // The Access-Control-Allow-Origin answering an Origin header: empty when
    // there is none or TOPGUN_CORS_ORIGINS does not list it (or `*`).
    std::string allowed_origin(std::string_view origin) const {
        if (origin.empty()) return {};
        const auto& allowed = node_.config().cors_origins;
        if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end()) return "*";
        return std::find(allowed.begin(), allowed.end(), origin) == allowed.end() ? std::string() : std::string(origin);
    }

    void route(const http::request<http::string_body>& request, std::string_view path) {
        const bool keep_alive = request.keep_alive();
        const bool ready = node_.lifecycle() == Lifecycle::Ready;
        if (!admit_origin(request, keep_alive)) return;
        auto answer = [self = shared_from_this(), keep_alive](HttpAnswer a) {
            self->respond(static_cast<http::status>(a.status), std::move(a.body), a.content_type, keep_alive);
        };
        if (path.starts_with("/api/admin/")) {
            const auto auth = request[http::field::authorization];
            const auto method = request.method_string();
            serve_admin(node_, home_,
                        AdminRequest{std::string_view(method.data(), method.size()), path, std::string_view(auth.data(), auth.size()),
                                     local_tool(request), request.body()},
                        answer);
        } else if (path == "/sync") {
            if (request.method() != http::verb::post) {
                respond_json(http::status::method_not_allowed, {{"code", 405}, {"message", "POST /sync with a MsgPack body"}},
                             keep_alive);
                return;
            }
            const auto auth = request[http::field::authorization];
            serve_http_sync(node_, home_, std::string_view(auth.data(), auth.size()), request.body(), answer);
        } else if (request.method() != http::verb::get && request.method() != http::verb::head) {
            respond_json(http::status::method_not_allowed, {{"code", 405}, {"message", "method not allowed"}}, keep_alive);
        } else if (path == "/health") {
            const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - node_.started_at());
            respond_json(http::status::ok,
                         {{"state", std::string(to_string(node_.lifecycle()))},
                          {"connections", node_.metrics().connections_active.load()},
                          {"in_flight", node_.metrics().writes_in_flight.load()},
                          {"uptime_secs", uptime.count()}},
                         keep_alive);
        } else if (path == "/metrics") {
            respond_metrics(keep_alive);
        } else if (path == "/health/live") {
            respond(http::status::ok, "", "text/plain", keep_alive);
        } else if (path == "/health/ready" || path == "/healthz") {
            respond(ready ? http::status::ok : http::status::service_unavailable, ready ? "ready" : "not ready", "text/plain",
                    keep_alive);
        } else {
            respond_json(http::status::not_found, {{"code", 404}, {"message", "no such endpoint: " + std::string(path)}},
                         keep_alive);
        }
    }

    // Maps and records are counted on their shards; the answer goes out from
    // this session's shard once every shard has reported.
    void respond_metrics(bool keep_alive) {
        struct ShardCounts {
            std::vector<std::string> maps;
            std::size_t records = 0;
        };
        node_.scatter(
            home_,
            [](ShardState& state) {
                ShardCounts c;
                for (const auto& [name, map] : state.lww_maps()) {
                    c.maps.push_back(name);
                    c.records += map.size();
                }
                for (auto& [name, map] : state.or_maps()) {
                    c.maps.push_back(name);
                    c.records += map.map.total_records();
                }
                return c;
            },
            [self = shared_from_this(), keep_alive](std::vector<ShardCounts>& shards) {
                std::unordered_set<std::string> names;
                DataCounts data;
                for (ShardCounts& c : shards) {
                    names.insert(std::make_move_iterator(c.maps.begin()), std::make_move_iterator(c.maps.end()));
                    data.records += c.records;
                }
                data.maps = names.size();
                self->respond(http::status::ok, render_metrics(self->node_, data), "text/plain; version=0.0.4", keep_alive);
            });
    }

    void respond_json(http::status status, const nlohmann::json& body, bool keep_alive) {
        respond(status, body.dump(), "application/json", keep_alive);
    }

    void respond(http::status status, std::string body, std::string_view content_type, bool keep_alive) {
        auto response = std::make_shared<http::response<http::string_body>>(status, 11);
        response->set(http::field::content_type, content_type);
        response->body() = std::move(body);
        send(std::move(response), keep_alive);
    }

    void send(std::shared_ptr<http::response<http::string_body>> response, bool keep_alive) {
        response->set(http::field::server, "topgun-server");
        if (!cors_origin_.empty()) {
            response->set(http::field::access_control_allow_origin, cors_origin_);
            response->set(http::field::vary, "Origin");
        }
        response->keep_alive(keep_alive);
        response->prepare_payload();
        http::async_write(stream_, *response, [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
            if (ec) return;
            if (response->keep_alive()) {
                self->read_next();
            } else {
                beast::error_code ignored;
                self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            }
        });
    }

    Node& node_;
    std::size_t home_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::string cors_origin_;  // the Access-Control-Allow-Origin of the current request's answer, if any
    std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

void start_http_session(Node& node, std::size_t home, boost::asio::ip::tcp::socket socket) {
    std::make_shared<HttpSession>(node, home, std::move(socket))->run();
}

}  // namespace topgun::server
