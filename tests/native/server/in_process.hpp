// An in-process server for protocol tests: a Node whose shards run on the
// test's thread (poll()), and clients that are Connections over an in-memory
// transport. Deterministic and fast; the process tests cover the sockets.
#pragma once

#include "auth/jwt.hpp"
#include "node.hpp"
#include "storage/store.hpp"
#include "session/connection.hpp"
#include "session/memory_transport.hpp"

#include <topgun/protocol/codec.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

namespace topgun::server::testing {

inline ServerConfig test_config(unsigned workers = 2) {
    ServerConfig c;
    c.no_auth = true;
    c.workers = workers;
    c.storage = StorageBackend::Memory;
    return c;
}

class TestClient {
public:
    TestClient(Node& node, std::size_t home) : node_(node) {
        connection_ = std::make_shared<Connection>(node, home, transport_, "test");
        connection_->start();
        node_.poll();
    }
    ~TestClient() { disconnect(); }

    void disconnect() {
        if (connection_) connection_->on_closed();
        connection_.reset();
    }

    template <class M>
    void send(const M& message) {
        send_bytes(protocol::encode_message(message));
    }
    void send_bytes(const Bytes& frame) {
        connection_->on_frame(frame);
        node_.poll();
    }

    // Messages received since the last call, decoded.
    std::vector<protocol::Message> take() {
        std::vector<protocol::Message> out;
        for (const SharedFrame& f : transport_.frames) {
            auto decoded = protocol::decode_message(*f);
            REQUIRE(decoded);
            out.push_back(std::move(decoded.message()));
        }
        transport_.frames.clear();
        return out;
    }

    // Exactly one message of type M among what arrived (others are kept out).
    template <class M>
    std::vector<M> take_all() {
        std::vector<M> out;
        for (auto& m : take()) {
            if (auto* typed = std::get_if<M>(&m)) out.push_back(std::move(*typed));
        }
        return out;
    }
    template <class M>
    M take_one() {
        auto all = take_all<M>();
        REQUIRE(all.size() == 1);
        return std::move(all.front());
    }

    // The SERVER_EVENTs received, those inside SERVER_BATCH_EVENTs included, in order.
    std::vector<protocol::ServerEventPayload> take_server_events() {
        std::vector<protocol::ServerEventPayload> out;
        for (auto& m : take()) {
            if (auto* single = std::get_if<protocol::ServerEvent>(&m)) out.push_back(std::move(*single));
            if (auto* batch = std::get_if<protocol::ServerBatchEvent>(&m)) {
                for (auto& e : batch->events) out.push_back(std::move(e));
            }
        }
        return out;
    }

    MemoryTransport& transport() noexcept { return transport_; }
    Connection& connection() noexcept { return *connection_; }

private:
    Node& node_;
    MemoryTransport transport_;
    std::shared_ptr<Connection> connection_;
};

class InProcessServer {
public:
    explicit InProcessServer(ServerConfig config = test_config(), std::unique_ptr<storage::Store> store = nullptr,
                             std::unique_ptr<auth::JwtVerifier> verifier = nullptr)
        : node_(std::move(config), std::move(store), std::move(verifier)) {
        node_.load();
        node_.start(/*threads=*/false);
        node_.set_lifecycle(Lifecycle::Ready);
        node_.poll();
    }

    Node& node() noexcept { return node_; }
    // Clients alternate home shards, so cross-shard paths are always exercised.
    std::unique_ptr<TestClient> connect() { return std::make_unique<TestClient>(node_, next_++ % node_.shards().size()); }
    void poll() { node_.poll(); }

private:
    Node node_;
    std::size_t next_ = 0;
};

// Message builders.
inline protocol::ClientOp put_op(std::string id, std::string map, std::string key, Value value, Timestamp ts) {
    protocol::ClientOp op;
    op.id = std::move(id);
    op.map_name = std::move(map);
    op.key = std::move(key);
    op.op_type = protocol::OpType::Put;
    op.record = protocol::LWWRecordData{std::move(value), std::move(ts), {}};
    return op;
}

inline protocol::ClientOp remove_op(std::string id, std::string map, std::string key, Timestamp ts) {
    protocol::ClientOp op;
    op.id = std::move(id);
    op.map_name = std::move(map);
    op.key = std::move(key);
    op.op_type = protocol::OpType::Remove;
    op.record = protocol::LWWRecordData{Value(), std::move(ts), {}};
    return op;
}

// An OR add whose tag is the timestamp's string, as the TS client makes them.
inline protocol::ClientOp or_add_op(std::string id, std::string map, std::string key, Value value, const Timestamp& ts) {
    protocol::ClientOp op;
    op.id = std::move(id);
    op.map_name = std::move(map);
    op.key = std::move(key);
    op.op_type = protocol::OpType::OrAdd;
    op.or_record = protocol::ORMapRecordData{std::move(value), ts, ts.to_string(), {}};
    return op;
}

inline protocol::ClientOp or_remove_op(std::string id, std::string map, std::string key, std::string tag) {
    protocol::ClientOp op;
    op.id = std::move(id);
    op.map_name = std::move(map);
    op.key = std::move(key);
    op.op_type = protocol::OpType::OrRemove;
    op.or_tag = std::move(tag);
    return op;
}

inline Timestamp stamp(std::uint64_t millis, std::uint32_t counter = 0, std::string node = "client-a") {
    return Timestamp{millis, counter, std::move(node)};
}

inline std::uint64_t now_millis() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace topgun::server::testing
