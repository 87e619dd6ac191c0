// Feeds random frames through the whole per-connection handler in-process: a
// fresh two-shard node (thread-less, memory backend) per input, one
// Connection, every frame followed by running whatever the shards queued.
// Input: a sequence of [u16 big-endian length][frame bytes].
#include "auth/jwt.hpp"
#include "node.hpp"
#include "session/connection.hpp"
#include "session/memory_transport.hpp"
#include "storage/store.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

using namespace topgun::server;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ServerConfig config;
    config.no_auth = true;
    config.workers = 2;
    config.storage = StorageBackend::Memory;
    Node node(config, nullptr, nullptr);
    node.start(/*threads=*/false);
    MemoryTransport transport;
    auto connection = std::make_shared<Connection>(node, 0, transport, "fuzz");
    connection->start();
    std::size_t at = 0;
    while (size - at >= 2 && !transport.closed) {
        const std::size_t len = (std::size_t{data[at]} << 8) | data[at + 1];
        at += 2;
        const std::size_t n = len < size - at ? len : size - at;
        connection->on_frame({data + at, n});
        node.poll();
        at += n;
        transport.frames.clear();
    }
    connection->on_closed();
    node.poll();
    return 0;
}
