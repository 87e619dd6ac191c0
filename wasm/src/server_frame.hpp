// ServerFrame: one frame from the server, decoded once by the core's codec.
// A frame that carries LWW records (SERVER_EVENT, SERVER_BATCH_EVENT,
// SYNC_RESP_LEAF) hands them to the replicas of their maps (LwwReplica's
// mergeFrame) without turning them into JavaScript objects and back: JS reads
// the rest of a frame with msgpackr, only when it needs it.
#pragma once

#include "js_bytes.hpp"

#include <topgun/protocol/codec.hpp>

#include <emscripten/val.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace topgun::wasm {

namespace frame_detail {

// As the reference client: OR_ADD / OR_REMOVE events go to OR maps, any other
// event with a record is an LWW write.
inline bool is_or_event(const protocol::ServerEventPayload& e) {
    return e.event_type == protocol::ServerEventType::OrAdd || e.event_type == protocol::ServerEventType::OrRemove;
}
inline bool is_lww_event(const protocol::ServerEventPayload& e) { return !is_or_event(e) && e.record.has_value(); }

// The events of a SERVER_EVENT (one) or a SERVER_BATCH_EVENT; none for other frames.
template <class Message>
auto events_of(Message& m) {
    using Event = std::conditional_t<std::is_const_v<Message>, const protocol::ServerEventPayload, protocol::ServerEventPayload>;
    if (auto* one = std::get_if<protocol::ServerEvent>(&m)) return std::span<Event>(static_cast<Event*>(one), 1);
    if (auto* batch = std::get_if<protocol::ServerBatchEvent>(&m)) return std::span<Event>(batch->events);
    return std::span<Event>();
}

}  // namespace frame_detail

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

    // How many LWW records for `map_name` take_lww_records would hand over.
    std::size_t count_lww_records(std::string_view map_name) const {
        std::size_t n = 0;
        if (!taken(map_name)) for_each_lww_record(decoded_, map_name, [&n](const auto&, const auto&) { ++n; });
        return n;
    }

    // Hands each LWW record for `map_name` to `take(key, record)`, which may
    // move them out: a second visit gets none (nor one after a take that
    // failed halfway). No copy of the batch is made.
    template <class Take>
    void take_lww_records(std::string_view map_name, Take&& take) {
        if (taken(map_name)) return;
        taken_.emplace_back(map_name);
        for_each_lww_record(decoded_, map_name, take);
    }

private:
    // visit(key, record) for each LWW record of `map_name` in `decoded` (const or not).
    template <class Decoded, class Visit>
    static void for_each_lww_record(Decoded& decoded, std::string_view map_name, Visit&& visit) {
        if (!decoded) return;
        auto& message = decoded.message();
        if (auto* leaf = std::get_if<protocol::SyncRespLeaf>(&message)) {
            if (leaf->map_name != map_name) return;
            for (auto& r : leaf->records) visit(r.key, r.record);
            return;
        }
        for (auto& e : frame_detail::events_of(message)) {
            if (frame_detail::is_lww_event(e) && e.map_name == map_name) visit(e.key, *e.record);
        }
    }

    bool taken(std::string_view map_name) const { return std::find(taken_.begin(), taken_.end(), map_name) != taken_.end(); }

    protocol::DecodeResult decoded_;
    std::vector<std::string> taken_;  // maps whose records were handed over
};

}  // namespace topgun::wasm
