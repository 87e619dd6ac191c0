// topgun-bench: a write-load generator that speaks the TopGun protocol over a
// plain WebSocket, so it measures any TopGun server (ours or the reference).
//
// Each connection writes OP_BATCHes of PUTs (client HLC timestamps, op ids
// "1", "2", ... per connection) and waits for their OP_ACKs:
//   faw  fire-and-wait: one batch in flight per connection;
//   faf  fire-and-forget: up to --window unacknowledged batches per connection.
// All connections first connect (and authenticate with an HS256 JWT when
// --jwt-secret is given); then the run starts for every connection at once:
// --warmup seconds not counted, then --duration seconds in which each OP_ACK
// counts its batch's ops and the batch's latency (queued for sending -> OP_ACK
// received). After that no new batch is sent; outstanding acks are awaited
// and each connection closes with a close handshake.
//
// An ack names its batch by lastId (the batch's last op id; matched by range,
// so an ack naming any op of the batch completes it, in any order). An
// OP_REJECTED names one op; a batch all of whose ops are rejected is complete.
// An ERROR names nothing, yet the reference server sends one instead of the
// OP_ACK of a failed or shed batch, and it runs a connection's batches
// concurrently, so which batch failed is unknown: each ERROR frees one window
// slot, and is pinned on a batch once that batch has waited --ack-timeout (or
// the run is over). A batch without an answer for --ack-timeout seconds, with
// no ERROR left to explain it, fails its connection.
//
// --live-queries N adds one connection that writes nothing: before the run it
// sends N QUERY_SUBs on the map, one after the other (each QUERY_SUB ->
// QUERY_RESP time is a snapshot latency), then counts the QUERY_UPDATEs the
// run's writes cause. With --owners M the values are {owner, body} maps with
// owner "u<key % M>", and query i is {where: {owner: "u<i % M>"}} (each write
// concerns one query's owner); without it every query matches everything.
// --query-misses makes query i {where: {owner: "x<i>"}}, which no write
// matches: the server still checks every write against them, sends nothing.
// --group-queries makes every query {groupBy: [owner], aggregations: [count,
// sum(n)]} over the whole map (the values get a number `n`): each write
// changes one group row of each.
// --searches N has that connection then send N SEARCHes, one at a time, of
// two words each (top 10), timing SEARCH -> SEARCH_RESP; the first builds the
// map's index and is reported apart. --words W makes each value's body W
// words drawn from a vocabulary of 1,000 ("w0" .. "w999"), so searches hit.
//
// Every connection runs on its own strand: its figures are touched by one
// handler at a time and merged after the io_context has stopped.
//
// Exit code: 0 ok; 1 no op acknowledged in the measured window; 2 usage or
// setup error; 3 ops acknowledged but a connection failed or closed early.
#include "auth/jwt.hpp"

#include <topgun/hlc.hpp>
#include <topgun/protocol/codec.hpp>

#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace protocol = topgun::protocol;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr auto kWatchdogPeriod = std::chrono::milliseconds(100);
constexpr auto kPingPeriod = std::chrono::seconds(5);  // the TS client's heartbeat; the reference reaps after 60 s
constexpr std::size_t kMaxSamples = 3;                 // error texts kept per kind and connection

struct Options {
    std::string url = "ws://127.0.0.1:8080/";
    unsigned connections = 50;
    double duration_s = 10;
    double warmup_s = 2;
    unsigned batch = 10;
    std::string mode = "faw";
    unsigned window = 64;
    std::string jwt_secret;
    std::string write_concern;
    std::uint64_t keys = 100'000;
    std::string key_order = "uniform";
    unsigned value_bytes = 100;
    std::string map = "bench";
    unsigned threads = 1;
    bool json = false;
    double ack_timeout_s = 10;
    double connect_timeout_s = 10;
    unsigned live_queries = 0;
    unsigned owners = 0;
    unsigned searches = 0;
    unsigned words = 0;
    bool query_misses = false;
    bool group_queries = false;
    unsigned topic_subscribers = 0;
};

constexpr std::string_view kBenchTopic = "bench";

Clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

struct Url {
    std::string host;
    std::string port;
    std::string path;
};

std::variant<Url, std::string> parse_url(std::string_view text) {
    constexpr std::string_view scheme = "ws://";
    if (text.starts_with("wss://")) return std::string("wss:// (TLS) is not supported; use ws://");
    if (!text.starts_with(scheme)) return "the URL must start with ws://, got \"" + std::string(text) + "\"";
    text.remove_prefix(scheme.size());
    const auto slash = text.find('/');
    std::string_view authority = text.substr(0, slash);
    Url url{.path = slash == std::string_view::npos ? "/" : std::string(text.substr(slash))};
    std::string_view port;
    if (authority.starts_with('[')) {  // [IPv6]:port
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::string("unterminated [IPv6] host in the URL");
        url.host = std::string(authority.substr(1, close - 1));
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) return std::string("unexpected text after the [IPv6] host");
        if (!rest.empty()) port = rest.substr(1);
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        url.host = std::string(authority.substr(0, colon));
        port = authority.substr(colon + 1);
    } else {
        url.host = std::string(authority);
    }
    if (url.host.empty()) return std::string("the URL has no host");
    url.port = port.empty() ? "80" : std::string(port);
    const bool digits = std::all_of(url.port.begin(), url.port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || url.port.size() > 5 || std::stoul(url.port) == 0 || std::stoul(url.port) > 65535) {
        return "invalid port \"" + url.port + "\" in the URL";
    }
    return url;
}

// One connection's figures. Latencies and ops count only acks that arrive in
// the measured window.
struct Stats {
    std::uint64_t acked_ops = 0;
    std::uint64_t acked_batches = 0;
    std::uint64_t warmup_ops = 0;  // acked before the window
    std::uint64_t late_ops = 0;    // acked after it (draining)
    std::uint64_t sent_batches = 0;
    std::vector<std::uint64_t> latencies_ns;
    Clock::time_point last_ack{};                   // the last one counted in the window
    std::map<std::string, std::uint64_t> achieved;  // achievedLevel -> acks in the window
    std::uint64_t error_messages = 0;               // ERROR frames
    std::uint64_t rejected_ops = 0;                 // OP_REJECTED frames
    std::uint64_t failed_batches = 0;               // batches ended by ERROR or all ops rejected
    std::uint64_t unmatched_acks = 0;               // OP_ACKs naming no outstanding batch
    std::uint64_t undecodable_frames = 0;
    std::vector<std::string> error_samples;
    std::uint64_t query_updates = 0;                 // QUERY_UPDATEs received by the subscriber
    std::uint64_t snapshot_rows = 0;                 // rows of its QUERY_RESPs
    std::vector<std::uint64_t> snapshot_latencies_ns;  // QUERY_SUB -> QUERY_RESP
    std::vector<std::uint64_t> search_latencies_ns;    // SEARCH -> SEARCH_RESP, the first (index build) excluded
    std::uint64_t first_search_ns = 0;
    std::uint64_t search_hits = 0;
    std::uint64_t topic_messages = 0;  // TOPIC_MESSAGEs a subscriber received in the window
    std::uint64_t published = 0;       // TOPIC_PUBs whose round (their PING) came back in the window
    std::optional<std::string> failure;  // why the connection ended early
    bool opened = false;                 // connected (and authenticated): reached the start line
};

class Connection;

// The start line: the run begins when every connection is ready or failed,
// so connection set-up never overlaps the measured window.
class Run {
public:
    explicit Run(const Options& options) : options_(options) {}

    const Options& options() const { return options_; }
    Clock::time_point measure_start() const { return measure_start_; }
    Clock::time_point measure_end() const { return measure_end_; }
    std::vector<std::shared_ptr<Connection>>& connections() { return connections_; }

    // Called once per connection, from its strand.
    void arrived(bool ready);

    // --key-order sequential: the next unwritten key index, shared by all
    // connections; none once every key has been handed out.
    std::optional<std::uint64_t> next_sequential_key() {
        const std::uint64_t k = next_key_.fetch_add(1, std::memory_order_relaxed);
        if (k >= options_.keys) return std::nullopt;
        return k;
    }

private:
    const Options& options_;
    std::vector<std::shared_ptr<Connection>> connections_;
    std::mutex mutex_;
    std::size_t arrived_ = 0;
    std::size_t ready_ = 0;
    std::atomic<std::uint64_t> next_key_{0};
    // Written before the start is posted to the connections, read after.
    Clock::time_point measure_start_;
    Clock::time_point measure_end_;
};

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(net::any_io_executor executor, Run& run, std::size_t index, const Url& url,
               const tcp::resolver::results_type& endpoints, bool subscriber = false)
        : subscriber_(subscriber),
          run_(run),
          options_(run.options()),
          url_(url),
          endpoints_(endpoints),
          ws_(executor),
          timer_(executor),
          hlc_("bench-" + std::to_string(index)),
          name_("bench-" + std::to_string(index)),
          rng_(std::random_device{}() ^ index),
          window_(options_.mode == "faf" ? options_.window : 1u) {
        std::string value(options_.value_bytes, 'x');
        for (auto& c : value) c = static_cast<char>('a' + rng_() % 26);
        value_ = topgun::Value(std::move(value));
        batch_.ops.resize(options_.batch);
        for (auto& op : batch_.ops) {
            op.map_name = options_.map;
            op.op_type = protocol::OpType::Put;
        }
        if (options_.write_concern == "APPLIED") batch_.write_concern = protocol::WriteConcern::Applied;
        if (options_.write_concern == "PERSISTED") batch_.write_concern = protocol::WriteConcern::Persisted;
    }

    net::any_io_executor executor() { return ws_.get_executor(); }
    const Stats& stats() const { return stats_; }

    void start() {
        net::post(executor(), [self = shared_from_this()] { self->connect(); });
    }

    // Posted by Run once every connection arrived at the start line.
    void begin_load() {
        if (state_ != State::Ready) return;
        state_ = State::Running;
        next_ping_ = Clock::now() + kPingPeriod;
        arm_watchdog();
        pump();
    }

    // Query i of the subscriber (see the top of the file).
    static protocol::Query live_query(const Options& o, unsigned i) {
        protocol::Query q;
        // "x<i>" owners are never written: each write is checked against the queries and matches none.
        const std::string owner = (o.query_misses ? "x" : "u") + std::to_string(o.owners > 0 ? i % o.owners : i);
        if (o.group_queries) {
            q.group_by = std::vector<std::string>{"owner"};
            q.aggregations = std::vector<protocol::Aggregation>{{protocol::AggregateFunction::Count, {}},
                                                                {protocol::AggregateFunction::Sum, "n"}};
            return q;
        }
        if (o.owners > 0 || o.query_misses) q.where = protocol::StringMap<topgun::Value>{{"owner", topgun::Value(owner)}};
        return q;
    }

private:
    enum class State { Connecting, Authenticating, Subscribing, Ready, Running, Draining, Closing, Done };

    struct InFlight {
        std::uint64_t first_id;
        std::uint64_t last_id;
        Clock::time_point sent;
        std::uint32_t rejected = 0;
        bool done = false;
    };

    // --- set-up -----------------------------------------------------------------------------------

    void connect() {
        auto& stream = beast::get_lowest_layer(ws_);
        stream.expires_after(seconds(options_.connect_timeout_s));
        stream.async_connect(endpoints_, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
            self->on_connect(ec);
        });
    }

    void on_connect(beast::error_code ec) {
        if (state_ == State::Done) return;
        if (ec) return fail("connect to " + url_.host + ":" + url_.port + " failed: " + ec.message());
        auto& stream = beast::get_lowest_layer(ws_);
        stream.expires_never();                               // the websocket's own timeouts take over
        stream.socket().set_option(tcp::no_delay(true), ec);  // latency: no Nagle delay on small frames
        websocket::stream_base::timeout timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
        timeouts.handshake_timeout = seconds(options_.connect_timeout_s);  // opening and closing handshakes
        ws_.set_option(timeouts);
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "topgun-bench"); }));
        ws_.binary(true);
        ws_.auto_fragment(false);
        ws_.read_message_max(2 * 1024 * 1024);
        const std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
        ws_.async_handshake(host + ":" + url_.port, url_.path,
                            [self = shared_from_this()](beast::error_code e) { self->on_handshake(e); });
    }

    void on_handshake(beast::error_code ec) {
        if (state_ == State::Done) return;
        if (ec) return fail("WebSocket handshake with " + url_.path + " failed: " + ec.message());
        read();
        if (options_.jwt_secret.empty()) return authenticated();
        state_ = State::Authenticating;
        const auto exp = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch() + std::chrono::hours(1))
                             .count();
        protocol::Auth auth;
        auth.token = topgun::auth::sign_hs256({{"sub", name_}, {"exp", exp}}, options_.jwt_secret);
        send(protocol::encode_message(auth));
        timer_.expires_after(seconds(options_.connect_timeout_s));
        timer_.async_wait([self = shared_from_this()](beast::error_code e) {
            if (e || self->state_ != State::Authenticating) return;
            self->fail("no AUTH_ACK within " + format_seconds(self->options_.connect_timeout_s) +
                       " s (a no-auth reference server ignores AUTH: drop --jwt-secret)");
        });
    }

    void authenticated() {
        if (!subscriber_) return ready();
        state_ = State::Subscribing;
        if (options_.topic_subscribers > 0) {
            // TOPIC_SUB has no answer: the PING behind it says it was handled.
            send(protocol::encode_message(protocol::TopicSub{std::string(kBenchTopic)}));
            send(protocol::encode_message(protocol::Ping{0}));
            return;
        }
        subscribe_next();
    }

    // One QUERY_SUB at a time, so each snapshot's latency is its own.
    void subscribe_next() {
        if (subscribed_ == options_.live_queries) return search_next();
        protocol::QuerySub sub;
        sub.query_id = "q" + std::to_string(subscribed_);
        sub.map_name = options_.map;
        sub.query = live_query(options_, subscribed_);
        subscribe_sent_ = Clock::now();
        send(protocol::encode_message(sub));
    }

    void search_next() {
        if (searched_ == options_.searches) return ready();
        protocol::Search search;
        search.request_id = "s" + std::to_string(searched_);
        search.map_name = options_.map;
        search.query = "w" + std::to_string(rng_() % kVocabulary) + " w" + std::to_string(rng_() % kVocabulary);
        search.options = protocol::SearchOptions{10, {}, {}};
        subscribe_sent_ = Clock::now();
        send(protocol::encode_message(search));
    }

    void on_search_resp(const protocol::SearchResp& resp) {
        if (state_ != State::Subscribing) return;
        if (resp.error) return fail("SEARCH refused: " + *resp.error);
        const auto ns = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - subscribe_sent_).count());
        if (searched_ == 0) {
            stats_.first_search_ns = ns;
        } else {
            stats_.search_latencies_ns.push_back(ns);
        }
        stats_.search_hits += resp.results.size();
        ++searched_;
        search_next();
    }

    void on_query_resp(const protocol::QueryResp& resp) {
        if (state_ != State::Subscribing) return;
        if (resp.error) return fail("QUERY_SUB " + resp.query_id + " refused: " + *resp.error);
        stats_.snapshot_latencies_ns.push_back(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - subscribe_sent_).count()));
        stats_.snapshot_rows += resp.results.size();
        ++subscribed_;
        subscribe_next();
    }

    void ready() {
        timer_.cancel();
        state_ = State::Ready;
        stats_.opened = true;
        reported_ = true;
        run_.arrived(true);
    }

    // --- load ---------------------------------------------------------------------------------------

    // Sends batches while the window has room and the run is on; closes once
    // the run is over and nothing is outstanding.
    void pump() {
        if (subscriber_) {
            // Listens until the writers stop (the watchdog calls in every 100 ms).
            if (state_ == State::Running && Clock::now() >= run_.measure_end()) close();
            return;
        }
        if (state_ == State::Running && Clock::now() >= run_.measure_end()) state_ = State::Draining;
        while (state_ == State::Running && unacked_ < window_ + unpinned_errors_) send_batch();
        if (state_ == State::Draining && unacked_ <= unpinned_errors_ && outbox_.empty() && !writing_) close();
    }

    // Topic mode: a round of --batch TOPIC_PUBs and a PING; the PONG closes
    // the round (the server handles one connection's frames in order).
    void send_topic_round() {
        for (unsigned i = 0; i < options_.batch; ++i) {
            send(protocol::encode_message(protocol::TopicPub{std::string(kBenchTopic), value_}));
        }
        send(protocol::encode_message(protocol::Ping{1}));
        round_sent_ = Clock::now();
        ++unacked_;
        ++stats_.sent_batches;
    }

    void on_pong() {
        if (subscriber_) {
            if (state_ == State::Subscribing) ready();
            return;
        }
        if (options_.topic_subscribers == 0 || unacked_ == 0) return;  // a heartbeat's
        --unacked_;
        const auto now = Clock::now();
        if (round_sent_ >= run_.measure_start() && now <= run_.measure_end()) {
            stats_.published += options_.batch;
            stats_.latencies_ns.push_back(
                static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - round_sent_).count()));
        }
        pump();
    }

    void send_batch() {
        if (options_.topic_subscribers > 0) return send_topic_round();
        const std::uint64_t first = next_op_id_;
        const bool sequential = options_.key_order == "sequential";
        for (std::size_t i = 0; i < batch_.ops.size(); ++i) {
            std::uint64_t key = 0;
            if (!sequential) {
                key = rng_() % options_.keys;
            } else if (const auto next = run_.next_sequential_key()) {
                key = *next;
            } else {
                // Every key is written: this batch is the last, the run ends here.
                state_ = State::Draining;
                batch_.ops.resize(i);
                if (i == 0) return;
                break;
            }
            auto& op = batch_.ops[i];
            op.id = std::to_string(next_op_id_++);
            op.key = "key-" + std::to_string(key);
            op.record = protocol::LWWRecordData{record_value(key), hlc_.now(), {}};
        }
        writer_.clear();
        protocol::encode_message(writer_, batch_);
        const auto bytes = writer_.bytes();
        inflight_.push_back({first, next_op_id_ - 1, Clock::now()});
        ++unacked_;
        ++stats_.sent_batches;
        send(topgun::Bytes(bytes.begin(), bytes.end()));
    }

    topgun::Value record_value(std::uint64_t key) {
        if (options_.owners == 0 && options_.words == 0) return value_;
        topgun::Value v = topgun::Value::map();
        if (options_.owners > 0) v.set("owner", topgun::Value("u" + std::to_string(key % options_.owners)));
        if (options_.group_queries) v.set("n", topgun::Value(static_cast<std::int64_t>(key % 100)));
        if (options_.words == 0) {
            v.set("body", value_);
            return v;
        }
        std::string body;
        for (unsigned i = 0; i < options_.words; ++i) body += "w" + std::to_string(rng_() % kVocabulary) + " ";
        v.set("body", topgun::Value(std::move(body)));
        return v;
    }

    // The outstanding batch holding op `id`, or null.
    InFlight* find_batch(std::uint64_t id) {
        auto it = std::lower_bound(inflight_.begin(), inflight_.end(), id,
                                   [](const InFlight& b, std::uint64_t v) { return b.last_id < v; });
        if (it == inflight_.end() || it->first_id > id || it->done) return nullptr;
        return &*it;
    }

    static std::optional<std::uint64_t> parse_id(const std::string& text) {
        std::uint64_t id = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
        if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
        return id;
    }

    void finish_batch(InFlight& batch) {
        batch.done = true;
        --unacked_;
        while (!inflight_.empty() && inflight_.front().done) inflight_.pop_front();
    }

    void on_ack(const protocol::OpAck& ack) {
        const auto now = Clock::now();
        const auto id = parse_id(ack.last_id);
        // A non-numeric lastId ("unknown") acknowledges the oldest batch.
        InFlight* batch = id ? find_batch(*id) : (inflight_.empty() ? nullptr : &inflight_.front());
        if (batch == nullptr) {
            ++stats_.unmatched_acks;
            return;
        }
        const std::uint64_t ops = batch->last_id - batch->first_id + 1 - batch->rejected;
        if (now < run_.measure_start()) {
            stats_.warmup_ops += ops;
        } else if (now < run_.measure_end()) {
            stats_.acked_ops += ops;
            ++stats_.acked_batches;
            stats_.last_ack = now;
            stats_.latencies_ns.push_back(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now - batch->sent).count()));
            ++stats_.achieved[ack.achieved_level ? std::string(protocol::enum_name(*ack.achieved_level)) : "(none)"];
        } else {
            stats_.late_ops += ops;
        }
        finish_batch(*batch);
        pump();
    }

    void on_rejected(const protocol::OpRejected& rejected) {
        ++stats_.rejected_ops;
        sample("OP_REJECTED " + rejected.op_id + ": " + rejected.reason);
        const auto id = parse_id(rejected.op_id);
        InFlight* batch = id ? find_batch(*id) : nullptr;
        if (batch == nullptr) return;
        if (++batch->rejected == batch->last_id - batch->first_id + 1) {
            ++stats_.failed_batches;
            finish_batch(*batch);
            pump();
        }
    }

    void on_error(const protocol::ErrorMessage& error) {
        ++stats_.error_messages;
        sample("ERROR " + std::to_string(error.code) + ": " + error.message);
        if (state_ == State::Authenticating) {
            return fail("ERROR " + std::to_string(error.code) + " while authenticating: " + error.message);
        }
        if (unacked_ <= unpinned_errors_) return;  // explains no outstanding batch
        ++unpinned_errors_;
        pump();
    }

    // Marks the oldest outstanding batch as the one an ERROR failed.
    void pin_error() {
        --unpinned_errors_;
        ++stats_.failed_batches;
        finish_batch(inflight_.front());
    }

    void sample(std::string text) {
        if (stats_.error_samples.size() < kMaxSamples) stats_.error_samples.push_back(std::move(text));
    }

    void arm_watchdog() {
        timer_.expires_after(kWatchdogPeriod);
        timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (!ec) self->on_watchdog();
        });
    }

    void on_watchdog() {
        if (state_ != State::Running && state_ != State::Draining) return;
        const auto now = Clock::now();
        const auto timeout = seconds(options_.ack_timeout_s);
        while (!inflight_.empty() && now - inflight_.front().sent > timeout && unpinned_errors_ > 0) pin_error();
        if (!inflight_.empty() && now - inflight_.front().sent > timeout) {
            const auto& b = inflight_.front();
            return fail("no OP_ACK for ops " + std::to_string(b.first_id) + ".." + std::to_string(b.last_id) +
                        " within " + format_seconds(options_.ack_timeout_s) + " s");
        }
        if (state_ == State::Running && now >= next_ping_) {
            next_ping_ += kPingPeriod;
            protocol::Ping ping;
            ping.timestamp = topgun::system_clock_millis();
            send(protocol::encode_message(ping));
        }
        pump();
        if (state_ == State::Running || state_ == State::Draining) arm_watchdog();
    }

    // --- frames -------------------------------------------------------------------------------------

    void send(topgun::Bytes frame) {
        outbox_.push_back(std::move(frame));
        if (!writing_) write_next();
    }

    void write_next() {
        writing_ = true;
        ws_.async_write(net::buffer(outbox_.front()),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
    }

    void on_write(beast::error_code ec) {
        writing_ = false;
        if (state_ == State::Done || state_ == State::Closing) return;
        if (ec) return fail("write failed: " + ec.message());
        outbox_.pop_front();
        if (!outbox_.empty()) return write_next();
        if (state_ == State::Draining) pump();
    }

    void read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (state_ == State::Done || state_ == State::Closing) return;
        if (ec == websocket::error::closed) {
            const auto& reason = ws_.reason();
            return fail("the server closed the connection (code " + std::to_string(reason.code) +
                        (reason.reason.empty() ? std::string() : ", \"" + std::string(reason.reason.c_str()) + "\"") +
                        ")");
        }
        if (ec) return fail("the connection broke: " + ec.message());
        if (ws_.got_binary()) {
            const auto data = buffer_.cdata();
            handle(std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(data.data()), data.size()));
        }  // text frames carry nothing in this protocol
        buffer_.consume(buffer_.size());
        if (state_ != State::Done) read();
    }

    void handle(std::span<const std::uint8_t> frame) {
        // A query subscriber also holds the map, so every write reaches it as a
        // SERVER_(BATCH_)EVENT; nothing here reads them, and decoding each would
        // make this client, not the server, the bottleneck (the kind leads the frame).
        if (subscriber_ && is_server_event(frame)) return;
        if (subscriber_ && starts_as(frame, "TOPIC_MESSAGE")) {
            const auto now = Clock::now();
            if (now >= run_.measure_start() && now <= run_.measure_end() && state_ == State::Running) ++stats_.topic_messages;
            return;
        }
        auto decoded = protocol::decode_message(frame);
        if (!decoded) {
            ++stats_.undecodable_frames;
            sample("undecodable frame: " + decoded.error().message());
            return;
        }
        auto& message = decoded.message();
        if (const auto* ack = std::get_if<protocol::OpAck>(&message)) return on_ack(*ack);
        if (const auto* rejected = std::get_if<protocol::OpRejected>(&message)) return on_rejected(*rejected);
        if (const auto* error = std::get_if<protocol::ErrorMessage>(&message)) return on_error(*error);
        if (std::holds_alternative<protocol::AuthRequired>(message)) {
            if (options_.jwt_secret.empty()) {
                fail("the server requires authentication (AUTH_REQUIRED): pass --jwt-secret");
            }
            return;  // with a token: expected first frame; AUTH went out on open already
        }
        if (std::holds_alternative<protocol::AuthAck>(message)) {
            if (state_ == State::Authenticating) authenticated();
            return;
        }
        if (std::holds_alternative<protocol::Pong>(message)) return on_pong();
        if (const auto* resp = std::get_if<protocol::QueryResp>(&message)) return on_query_resp(*resp);
        if (const auto* found = std::get_if<protocol::SearchResp>(&message)) return on_search_resp(*found);
        if (std::holds_alternative<protocol::QueryUpdate>(message)) {
            ++stats_.query_updates;
            return;
        }
        if (const auto* auth_fail = std::get_if<protocol::AuthFail>(&message)) {
            return fail("AUTH_FAIL: " + auth_fail->error.value_or("(no reason given)") +
                        " (is --jwt-secret the server's JWT_SECRET?)");
        }
        // PONG, SERVER_EVENT and others: nothing to measure.
    }

    static bool starts_as(std::span<const std::uint8_t> frame, std::string_view kind) {
        const std::string_view head(reinterpret_cast<const char*>(frame.data()), std::min<std::size_t>(frame.size(), 32));
        return head.find(kind) != std::string_view::npos;
    }
    static bool is_server_event(std::span<const std::uint8_t> frame) { return starts_as(frame, "SERVER_"); }

    // --- ending ---------------------------------------------------------------------------------------

    void close() {
        while (unpinned_errors_ > 0 && !inflight_.empty()) pin_error();
        state_ = State::Closing;
        timer_.cancel();
        ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code ec) {
            if (self->state_ == State::Done) return;
            self->state_ = State::Done;
            // The run's figures are complete either way; a failed close handshake is still reported.
            if (ec) self->stats_.failure = "the close handshake failed: " + ec.message();
        });
    }

    void fail(std::string reason) {
        if (state_ == State::Done) return;
        const char* phase = state_ == State::Connecting       ? "connecting"
                            : state_ == State::Authenticating ? "authenticating"
                            : state_ == State::Subscribing    ? "subscribing"
                            : state_ == State::Ready          ? "waiting for the start"
                                                              : "during the run";
        stats_.failure = reason + " [" + phase + "]";
        state_ = State::Done;
        timer_.cancel();
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
        beast::get_lowest_layer(ws_).close();
        if (!reported_) {
            reported_ = true;
            run_.arrived(false);
        }
    }

    static std::string format_seconds(double s) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", s);
        return buf;
    }

    static constexpr unsigned kVocabulary = 1000;
    bool subscriber_;
    unsigned subscribed_ = 0;
    unsigned searched_ = 0;
    Clock::time_point subscribe_sent_;
    Run& run_;
    const Options& options_;
    const Url& url_;
    const tcp::resolver::results_type& endpoints_;
    websocket::stream<beast::tcp_stream> ws_;
    net::steady_timer timer_;  // auth deadline, then the watchdog
    beast::flat_buffer buffer_;
    std::deque<topgun::Bytes> outbox_;
    bool writing_ = false;
    State state_ = State::Connecting;
    bool reported_ = false;  // arrived at the start line (ready or failed)

    topgun::HLC hlc_;
    std::string name_;
    std::mt19937_64 rng_;
    topgun::Value value_;
    protocol::OpBatch batch_;
    topgun::msgpack::Writer writer_{4096};
    std::uint64_t next_op_id_ = 1;
    std::deque<InFlight> inflight_;  // ascending op ids; the front is never done
    unsigned unacked_ = 0;           // outstanding batches
    unsigned unpinned_errors_ = 0;   // ERRORs not yet pinned on an outstanding batch
    unsigned window_;
    Clock::time_point next_ping_;
    Clock::time_point round_sent_;  // topic mode: when the outstanding round went out
    Stats stats_;
};

void Run::arrived(bool ready) {
    std::lock_guard lock(mutex_);
    ++arrived_;
    if (ready) ++ready_;
    if (arrived_ != connections_.size() || ready_ == 0) return;
    measure_start_ = Clock::now() + seconds(options_.warmup_s);
    measure_end_ = measure_start_ + seconds(options_.duration_s);
    for (auto& c : connections_) net::post(c->executor(), [c] { c->begin_load(); });
}

// --- report -------------------------------------------------------------------------------------------

struct Summary {
    Stats total;
    std::size_t connections = 0;
    std::size_t opened = 0;
    std::map<std::string, std::size_t> failures;  // reason -> connections
    double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
    double measured_s = 0;  // the window, or up to the last ack when every key was written before its end
    double ops_per_s = 0;
    double snapshot_p50_us = 0, snapshot_max_us = 0;
    double search_p50_us = 0, search_p99_us = 0;
};

// Nearest-rank percentile of sorted samples.
double percentile_us(const std::vector<std::uint64_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

Summary summarize(const std::vector<std::shared_ptr<Connection>>& connections, const Options& options,
                  Clock::time_point measure_start) {
    Summary s;
    Clock::time_point last_ack = measure_start;
    s.connections = connections.size();
    for (const auto& c : connections) {
        const Stats& st = c->stats();
        Stats& t = s.total;
        t.acked_ops += st.acked_ops;
        t.acked_batches += st.acked_batches;
        t.warmup_ops += st.warmup_ops;
        t.late_ops += st.late_ops;
        t.sent_batches += st.sent_batches;
        t.latencies_ns.insert(t.latencies_ns.end(), st.latencies_ns.begin(), st.latencies_ns.end());
        for (const auto& [level, n] : st.achieved) t.achieved[level] += n;
        t.error_messages += st.error_messages;
        t.rejected_ops += st.rejected_ops;
        t.failed_batches += st.failed_batches;
        t.unmatched_acks += st.unmatched_acks;
        t.undecodable_frames += st.undecodable_frames;
        t.query_updates += st.query_updates;
        t.search_latencies_ns.insert(t.search_latencies_ns.end(), st.search_latencies_ns.begin(), st.search_latencies_ns.end());
        t.first_search_ns = std::max(t.first_search_ns, st.first_search_ns);
        t.search_hits += st.search_hits;
        t.topic_messages += st.topic_messages;
        t.published += st.published;
        t.snapshot_rows += st.snapshot_rows;
        t.snapshot_latencies_ns.insert(t.snapshot_latencies_ns.end(), st.snapshot_latencies_ns.begin(),
                                       st.snapshot_latencies_ns.end());
        for (const auto& e : st.error_samples) {
            if (t.error_samples.size() < kMaxSamples &&
                std::find(t.error_samples.begin(), t.error_samples.end(), e) == t.error_samples.end()) {
                t.error_samples.push_back(e);
            }
        }
        last_ack = std::max(last_ack, st.last_ack);
        if (st.opened) ++s.opened;
        if (st.failure) ++s.failures[*st.failure];
    }
    auto& lat = s.total.latencies_ns;
    std::sort(lat.begin(), lat.end());
    s.p50_us = percentile_us(lat, 0.50);
    s.p99_us = percentile_us(lat, 0.99);
    s.p999_us = percentile_us(lat, 0.999);
    s.max_us = lat.empty() ? 0 : static_cast<double>(lat.back()) / 1000.0;
    double sum = 0;
    for (const auto v : lat) sum += static_cast<double>(v);
    s.mean_us = lat.empty() ? 0 : sum / static_cast<double>(lat.size()) / 1000.0;
    s.measured_s = options.duration_s;
    if (options.key_order == "sequential" && s.total.acked_ops + s.total.warmup_ops >= options.keys) {
        s.measured_s = std::max(std::chrono::duration<double>(last_ack - measure_start).count(), 1e-3);
    }
    s.ops_per_s = static_cast<double>(s.total.acked_ops) / s.measured_s;
    auto& snapshots = s.total.snapshot_latencies_ns;
    std::sort(snapshots.begin(), snapshots.end());
    s.snapshot_p50_us = percentile_us(snapshots, 0.50);
    s.snapshot_max_us = snapshots.empty() ? 0 : static_cast<double>(snapshots.back()) / 1000.0;
    auto& searches = s.total.search_latencies_ns;
    std::sort(searches.begin(), searches.end());
    s.search_p50_us = percentile_us(searches, 0.50);
    s.search_p99_us = percentile_us(searches, 0.99);
    return s;
}

std::size_t failed_connections(const Summary& s) {
    std::size_t n = 0;
    for (const auto& [reason, count] : s.failures) n += count;
    return n;
}

void print_json(const Summary& s, const Options& o) {
    json failures = json::array();
    for (const auto& [reason, count] : s.failures) failures.push_back({{"reason", reason}, {"connections", count}});
    const json out = {
        {"url", o.url},
        {"connections", o.connections},
        {"threads", o.threads},
        {"batch", o.batch},
        {"mode", o.mode},
        {"window", o.mode == "faf" ? o.window : 1u},
        {"writeConcern", o.write_concern.empty() ? json(nullptr) : json(o.write_concern)},
        {"durationS", o.duration_s},
        {"measuredS", s.measured_s},
        {"keys", o.keys},
        {"keyOrder", o.key_order},
        {"warmupS", o.warmup_s},
        {"ackedOps", s.total.acked_ops},
        {"ackedBatches", s.total.acked_batches},
        {"opsPerS", s.ops_per_s},
        {"latencyUs",
         {{"p50", s.p50_us}, {"p99", s.p99_us}, {"p999", s.p999_us}, {"max", s.max_us}, {"mean", s.mean_us}}},
        {"achievedLevels", s.total.achieved},
        {"errors",
         {{"errorMessages", s.total.error_messages},
          {"rejectedOps", s.total.rejected_ops},
          {"failedBatches", s.total.failed_batches},
          {"unmatchedAcks", s.total.unmatched_acks},
          {"undecodableFrames", s.total.undecodable_frames},
          {"samples", s.total.error_samples}}},
        {"topics",
         {{"subscribers", o.topic_subscribers},
          {"publishedPerS", static_cast<double>(s.total.published) / s.measured_s},
          {"deliveredPerS", static_cast<double>(s.total.topic_messages) / s.measured_s}}},
        {"liveQueries",
         {{"queries", o.live_queries},
          {"owners", o.owners},
          {"updates", s.total.query_updates},
          {"snapshotRows", s.total.snapshot_rows},
          {"snapshotUs", {{"p50", s.snapshot_p50_us}, {"max", s.snapshot_max_us}}}}},
        {"searches",
         {{"count", o.searches},
          {"hits", s.total.search_hits},
          {"firstUs", static_cast<double>(s.total.first_search_ns) / 1000.0},
          {"latencyUs", {{"p50", s.search_p50_us}, {"p99", s.search_p99_us}}}}},
        {"connectionsOpened", s.opened},
        {"connectionFailures", failures},
    };
    std::cout << out.dump() << '\n';
}

void print_text(const Summary& s, const Options& o) {
    std::printf("topgun-bench %s: %u connections, batch %u, %s", o.url.c_str(), o.connections, o.batch, o.mode.c_str());
    if (o.mode == "faf") std::printf(" (window %u)", o.window);
    if (!o.write_concern.empty()) std::printf(", writeConcern %s", o.write_concern.c_str());
    std::printf(", %g s after %g s warmup, %u thread(s)%s\n", o.duration_s, o.warmup_s, o.threads,
                o.jwt_secret.empty() ? "" : ", JWT auth");
    std::printf("  acked ops      %llu in %g s = %.0f ops/s (%llu batches)\n",
                static_cast<unsigned long long>(s.total.acked_ops), s.measured_s, s.ops_per_s,
                static_cast<unsigned long long>(s.total.acked_batches));
    std::printf("  ack latency    p50 %.1f us  p99 %.1f us  p999 %.1f us  max %.1f us  mean %.1f us\n", s.p50_us,
                s.p99_us, s.p999_us, s.max_us, s.mean_us);
    std::printf("  achieved level");
    if (s.total.achieved.empty()) std::printf(" -");
    for (const auto& [level, n] : s.total.achieved)
        std::printf(" %s=%llu", level.c_str(), static_cast<unsigned long long>(n));
    std::printf(
        "\n  errors         ERROR %llu, OP_REJECTED %llu, failed batches %llu, unmatched acks %llu, "
        "undecodable frames %llu\n",
        static_cast<unsigned long long>(s.total.error_messages), static_cast<unsigned long long>(s.total.rejected_ops),
        static_cast<unsigned long long>(s.total.failed_batches),
        static_cast<unsigned long long>(s.total.unmatched_acks),
        static_cast<unsigned long long>(s.total.undecodable_frames));
    for (const auto& e : s.total.error_samples) std::printf("                 e.g. %s\n", e.c_str());
    if (o.live_queries > 0) {
        std::printf("  live queries   %u (owners %u): %llu QUERY_UPDATEs; snapshots %llu rows, p50 %.1f us, max %.1f us\n",
                    o.live_queries, o.owners, static_cast<unsigned long long>(s.total.query_updates),
                    static_cast<unsigned long long>(s.total.snapshot_rows), s.snapshot_p50_us, s.snapshot_max_us);
    }
    if (o.searches > 0) {
        std::printf("  searches       %u (top 10, 2 words): %llu hits; first (builds the index) %.1f us; then p50 %.1f us, p99 %.1f us\n",
                    o.searches, static_cast<unsigned long long>(s.total.search_hits),
                    static_cast<double>(s.total.first_search_ns) / 1000.0, s.search_p50_us, s.search_p99_us);
    }
    if (o.topic_subscribers > 0) {
        std::printf("  topic fan-out  %u subscribers: %.0f TOPIC_PUB/s published, %.0f TOPIC_MESSAGEs/s delivered (%.0f%% of published x subscribers)\n",
                    o.topic_subscribers, static_cast<double>(s.total.published) / s.measured_s,
                    static_cast<double>(s.total.topic_messages) / s.measured_s,
                    s.total.published == 0 ? 0.0
                                           : 100.0 * static_cast<double>(s.total.topic_messages) /
                                                 (static_cast<double>(s.total.published) * o.topic_subscribers));
    }
    std::printf("  connections    %zu opened, %zu failed or closed early\n", s.opened, failed_connections(s));
    for (const auto& [reason, count] : s.failures) std::printf("                 %zu x %s\n", count, reason.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"topgun-bench: write load over the TopGun WebSocket protocol (OP_BATCH -> OP_ACK)"};
    app.footer(
        "Exit code: 0 ok; 1 no op acknowledged in the measured window; 2 usage or setup error; 3 ops acknowledged "
        "but a connection failed or closed early.");
    app.add_option("--url", o.url, "Server WebSocket URL, ws://HOST:PORT/ or ws://HOST:PORT/ws")->capture_default_str();
    app.add_option("--connections", o.connections, "Concurrent connections")
        ->capture_default_str()
        ->check(CLI::Range(1u, 100'000u));
    app.add_option("--duration", o.duration_s, "Measured seconds")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--warmup", o.warmup_s, "Seconds of load before measuring")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--batch", o.batch, "PUTs per OP_BATCH")->capture_default_str()->check(CLI::Range(1u, 100'000u));
    app.add_option("--mode", o.mode, "faw: one batch in flight per connection; faf: up to --window")
        ->capture_default_str()
        ->check(CLI::IsMember({"faw", "faf"}));
    app.add_option("--window", o.window, "Unacknowledged batches per connection in faf mode")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1'000'000u));
    app.add_option("--jwt-secret", o.jwt_secret, "Sign an HS256 token per connection and send AUTH on open");
    app.add_option("--write-concern", o.write_concern, "OP_BATCH.writeConcern (absent when not given)")
        ->check(CLI::IsMember({"APPLIED", "PERSISTED"}));
    app.add_option("--keys", o.keys, "Key space (keys key-0 .. key-N-1)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--key-order", o.key_order,
                   "uniform: random keys; sequential: each key once, in order across connections, then the run "
                   "ends (fills a server with --keys records)")
        ->capture_default_str()
        ->check(CLI::IsMember({"uniform", "sequential"}));
    app.add_option("--value-bytes", o.value_bytes, "Bytes of the string value of each PUT")->capture_default_str();
    app.add_option("--map", o.map, "Map name")->capture_default_str();
    app.add_option("--threads", o.threads, "io_context threads")->capture_default_str()->check(CLI::Range(1u, 256u));
    app.add_flag("--json", o.json, "Print one JSON object on stdout instead of text");
    app.add_option("--ack-timeout", o.ack_timeout_s,
                   "Seconds a batch may wait for its answer before its connection fails")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--connect-timeout", o.connect_timeout_s, "Seconds for connect, WebSocket handshake and AUTH_ACK")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--live-queries", o.live_queries, "QUERY_SUBs of one extra, non-writing connection on --map")
        ->capture_default_str();
    app.add_flag("--query-misses", o.query_misses, "Live queries on owners no write uses (their upkeep alone, no QUERY_UPDATE)");
    app.add_flag("--group-queries", o.group_queries, "Live queries group the whole map by owner (count, sum of n)");
    app.add_option("--searches", o.searches, "SEARCHes the non-writing connection sends before the run")->capture_default_str();
    app.add_option("--words", o.words, "Write {body: W words of a 1,000-word vocabulary} values (0: a random string)")
        ->capture_default_str();
    app.add_option("--topic-subscribers", o.topic_subscribers,
                   "Topic fan-out: this many extra connections subscribe to one topic, and the writers publish to it "
                   "(--batch TOPIC_PUBs per round, a PING closing each) instead of writing")
        ->capture_default_str();
    app.add_option("--owners", o.owners, "Write {owner, body} maps with this many owners (0: string values)")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    const auto parsed = parse_url(o.url);
    if (const auto* error = std::get_if<std::string>(&parsed)) {
        std::fprintf(stderr, "topgun-bench: %s\n", error->c_str());
        return 2;
    }
    const Url& url = std::get<Url>(parsed);

    net::io_context ioc(static_cast<int>(o.threads));
    tcp::resolver::results_type endpoints;
    try {
        endpoints = tcp::resolver(ioc).resolve(url.host, url.port);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "topgun-bench: cannot resolve %s:%s: %s\n", url.host.c_str(), url.port.c_str(), e.what());
        return 2;
    }

    Run run(o);
    for (unsigned i = 0; i < o.connections; ++i) {
        run.connections().push_back(std::make_shared<Connection>(net::make_strand(ioc), run, i, url, endpoints));
    }
    const unsigned subscribers = o.topic_subscribers > 0 ? o.topic_subscribers : (o.live_queries > 0 || o.searches > 0 ? 1u : 0u);
    for (unsigned i = 0; i < subscribers; ++i) {
        run.connections().push_back(
            std::make_shared<Connection>(net::make_strand(ioc), run, o.connections + i, url, endpoints, /*subscriber=*/true));
    }
    for (auto& c : run.connections()) c->start();

    std::vector<std::thread> extra;
    for (unsigned i = 1; i < o.threads; ++i) extra.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : extra) t.join();

    const Summary summary = summarize(run.connections(), o, run.measure_start());
    if (o.json) {
        print_json(summary, o);
    } else {
        print_text(summary, o);
    }
    if (summary.total.acked_ops == 0 && summary.total.published == 0) {
        std::fprintf(stderr, "topgun-bench: no op was acknowledged\n");
        return 1;
    }
    return failed_connections(summary) > 0 ? 3 : 0;
}
