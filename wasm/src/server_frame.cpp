// ServerFrame (server_frame.hpp), compiled for speed: what it decodes here is
// most of the bytes a client receives.
#include "server_frame.hpp"

#include <topgun/protocol/codec.hpp>

#include <emscripten/bind.h>

#include <algorithm>
#include <string>
#include <variant>
#include <vector>

namespace topgun::wasm {

using emscripten::val;

// The kinds that carry records decode here, at -O2 (this file links first, so
// its copies of their decoders are the ones kept); every other kind through
// decode_client_frame, built for size.
ServerFrame::ServerFrame(const val& bytes)
    : decoded_(protocol::decode_message_of<protocol::ServerBatchEvent, protocol::SyncRespLeaf>(InputBytes(bytes).span(),
                                                                                                                    decode_client_frame)) {}

val ServerFrame::summary() const {
    val out = val::object();
    if (!decoded_) {
        if (decoded_.skipped_kind().empty()) return error_value(decoded_.error().message());
        out.set("type", std::string(decoded_.skipped_kind()));
        out.set("checked", false);
        return out;
    }
    out.set("type", std::string(protocol::type_name(decoded_.message())));
    out.set("checked", true);
    const protocol::Message& message = decoded_.message();
    if (const auto* leaf = std::get_if<protocol::SyncRespLeaf>(&message)) {
        out.set("lwwMaps", val::array(std::vector<std::string>{leaf->map_name}));
        return out;
    }
    if (!std::holds_alternative<protocol::ServerEvent>(message) && !std::holds_alternative<protocol::ServerBatchEvent>(message)) return out;
    std::vector<std::string> maps;
    int or_events = 0;
    for (const protocol::ServerEventPayload& e : frame_detail::events_of(message)) {
        if (frame_detail::is_lww_event(e)) {
            if (std::find(maps.begin(), maps.end(), e.map_name) == maps.end()) maps.push_back(e.map_name);
        } else if (frame_detail::is_or_event(e)) {
            ++or_events;
        }
    }
    out.set("lwwMaps", val::array(maps));
    out.set("orEvents", or_events);
    return out;
}

EMSCRIPTEN_BINDINGS(topgun_server_frame) {
    emscripten::class_<ServerFrame>("ServerFrame").constructor<const val&>().function("summary", &ServerFrame::summary);
}

}  // namespace topgun::wasm
