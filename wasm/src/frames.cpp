// Module-level functions: checking a server frame with the core's codec (the
// message kind, or why it is malformed) and validating a node id before an
// HLC is built from it.
#include "js_bytes.hpp"

#include <topgun/hlc.hpp>
#include <topgun/protocol/codec.hpp>

#include <emscripten/bind.h>

#include <string>

namespace topgun::wasm {
namespace {

using emscripten::val;

// `{type}` for a frame the codec decodes (the JS layer then reads it with
// msgpackr), `{error}` otherwise: truncated or garbage bytes, unknown kinds,
// wrong field types, nesting over 256.
val decode_frame(const std::string& frame) {
    const protocol::DecodeResult decoded = protocol::decode_message(as_bytes(frame));
    if (!decoded) return error_value(decoded.error().message());
    val out = val::object();
    out.set("type", std::string(protocol::type_name(decoded.message())));
    return out;
}

bool valid_node_id_js(const std::string& node_id) { return valid_node_id(node_id); }

}  // namespace

EMSCRIPTEN_BINDINGS(topgun_frames) {
    emscripten::function("decodeFrame", &decode_frame);
    emscripten::function("validNodeId", &valid_node_id_js);
}

}  // namespace topgun::wasm
