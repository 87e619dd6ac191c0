// Module-level functions, built for size: the general frame decoder (every
// message kind; ServerFrame decodes the record-carrying ones itself, for speed)
// and validating a node id before an HLC is built from it.
#include "server_frame.hpp"

#include <topgun/hlc.hpp>
#include <topgun/protocol/codec.hpp>

#include <emscripten/bind.h>

#include <string>

namespace topgun::wasm {

protocol::DecodeResult decode_any_frame(std::span<const std::uint8_t> bytes) { return protocol::decode_message(bytes); }

namespace {

bool valid_node_id_js(const std::string& node_id) { return valid_node_id(node_id); }

}  // namespace

EMSCRIPTEN_BINDINGS(topgun_frames) {
    emscripten::function("validNodeId", &valid_node_id_js);
}

}  // namespace topgun::wasm
