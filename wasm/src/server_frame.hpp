// ServerFrame: one frame from the server, decoded once by the core's codec.
// A frame that carries LWW records (SERVER_EVENT, SERVER_BATCH_EVENT,
// SYNC_RESP_LEAF) hands them to the replicas of their maps (LwwReplica's
// mergeFrame) without turning them into JavaScript objects and back: JS reads
// the rest of a frame with msgpackr, only when it needs it.
#pragma once

#include "js_bytes.hpp"

#include <topgun/protocol/codec.hpp>

#include <emscripten/val.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace topgun::wasm {

// A frame of the kinds the client acts on, decoded; any other kind only checked (frames.cpp).
protocol::DecodeResult decode_client_frame(std::span<const std::uint8_t> bytes);

class ServerFrame {
public:
    explicit ServerFrame(const emscripten::val& bytes);

    // `{type}`, or `{error}` for a malformed frame (truncated or garbage bytes,
    // unknown kinds, nesting over 256, over 2 MiB; in the kinds the client acts
    // on, wrong field types too: `checked` says whether it was). A frame
    // with LWW records also names their maps (`lwwMaps`; a SYNC_RESP_LEAF names
    // its map even when empty) and counts the events it carries for OR maps (`orEvents`).
    emscripten::val summary() const;

    // The LWW records for `map_name`, moved out: a second call gets none.
    std::vector<protocol::SyncLeafRecord> take_lww_records(std::string_view map_name);

private:
    protocol::DecodeResult decoded_;
};

}  // namespace topgun::wasm
