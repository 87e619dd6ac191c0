// ServerFrame (server_frame.hpp), compiled for speed: what it decodes here is
// most of the bytes a client receives.
#include "server_frame.hpp"

#include <topgun/protocol/codec.hpp>

#include <emscripten/bind.h>

#include <algorithm>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace topgun::wasm {

using emscripten::val;

namespace {

// As the reference client: OR_ADD / OR_REMOVE events go to OR maps, any other
// event with a record is an LWW write.
bool is_or_event(const protocol::ServerEventPayload& e) {
    return e.event_type == protocol::ServerEventType::OrAdd || e.event_type == protocol::ServerEventType::OrRemove;
}
bool is_lww_event(const protocol::ServerEventPayload& e) { return !is_or_event(e) && e.record.has_value(); }

// The events of a SERVER_EVENT (one) or a SERVER_BATCH_EVENT; none for other frames.
template <class Message>
auto events_of(Message& m) {
    using Event = std::conditional_t<std::is_const_v<Message>, const protocol::ServerEventPayload, protocol::ServerEventPayload>;
    if (auto* one = std::get_if<protocol::ServerEvent>(&m)) return std::span<Event>(static_cast<Event*>(one), 1);
    if (auto* batch = std::get_if<protocol::ServerBatchEvent>(&m)) return std::span<Event>(batch->events);
    return std::span<Event>();
}

}  // namespace

// The kinds that carry records decode here, at -O3 (this file links first, so
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
    for (const protocol::ServerEventPayload& e : events_of(message)) {
        if (is_lww_event(e)) {
            if (std::find(maps.begin(), maps.end(), e.map_name) == maps.end()) maps.push_back(e.map_name);
        } else if (is_or_event(e)) {
            ++or_events;
        }
    }
    out.set("lwwMaps", val::array(maps));
    out.set("orEvents", or_events);
    return out;
}

std::vector<protocol::SyncLeafRecord> ServerFrame::take_lww_records(std::string_view map_name) {
    std::vector<protocol::SyncLeafRecord> records;
    if (!decoded_) return records;
    if (auto* leaf = std::get_if<protocol::SyncRespLeaf>(&decoded_.message())) {
        if (leaf->map_name == map_name) records = std::move(leaf->records);
        return records;
    }
    for (protocol::ServerEventPayload& e : events_of(decoded_.message())) {
        if (!is_lww_event(e) || e.map_name != map_name) continue;
        records.push_back({std::move(e.key), std::move(*e.record)});
        e.record.reset();
    }
    return records;
}

EMSCRIPTEN_BINDINGS(topgun_server_frame) {
    emscripten::class_<ServerFrame>("ServerFrame").constructor<const val&>().function("summary", &ServerFrame::summary);
}

}  // namespace topgun::wasm
