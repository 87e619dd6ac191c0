// POST /sync (PROTOCOL.md §13): one MsgPack request body — operations, map
// deltas since a timestamp, one-shot queries, searches — answered with one
// MsgPack body, for clients that cannot hold a WebSocket open. Operations take
// the same way as a WebSocket write (session/write_path.hpp).
//
// Where we differ from the reference: with authentication on, a bearer JWT is
// required (the reference lets anonymous HTTP clients in by default);
// `syncMaps` and `searches` are answered (the reference ignores them); query
// rows are `{key, value}` (the TS client turns them into QUERY_RESP rows,
// which need the key); rejected ops are listed in `errors` next to the ack.
#pragma once

#include "session/http_answer.hpp"

#include <cstddef>
#include <functional>
#include <string_view>

namespace topgun::server {

class Node;

// Rows one query or one map's delta returns at most per request; a delta cut
// short says so through its serverSyncTimestamp (the next poll continues).
inline constexpr std::size_t kHttpSyncMaxRows = 10'000;

// Serves one request on shard `home` (the caller's); `done` runs there.
// `authorization` is the request's Authorization header ("" when absent).
void serve_http_sync(Node& node, std::size_t home, std::string_view authorization, std::string_view body,
                     std::function<void(HttpAnswer)> done);

}  // namespace topgun::server
