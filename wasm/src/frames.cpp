// Module-level functions, built for size: the decoder of the frames the client
// acts on (ServerFrame decodes the record-carrying ones itself, for speed) and
// validating a node id before an HLC is built from it.
#include "server_frame.hpp"

#include <topgun/hlc.hpp>
#include <topgun/protocol/codec.hpp>

#include <emscripten/bind.h>

#include <string>

namespace topgun::wasm {

// The kinds client.js acts on (#dispatch), decoded member by member so that a
// wrong type never reaches it; any other kind it ignores, so only its MsgPack
// is checked (the decoders of the protocol's ~90 kinds would be a tenth of the
// module).
protocol::DecodeResult decode_client_frame(std::span<const std::uint8_t> bytes) {
    using namespace protocol;
    return decode_message_among<AuthRequired, AuthAck, AuthFail, DeviceAck, Pong, ErrorMessage, OpAck, OpRejected, ServerEvent,
                                SyncRespRoot, SyncRespBuckets, ORMapSyncRespRoot, ORMapSyncRespBuckets, ORMapSyncRespLeaf,
                                QueryResp, SearchResp, SearchUpdate, TopicMessage, LockGranted, LockReleased, CounterResponse,
                                CounterUpdate, JournalEvent, JournalReadResponse>(bytes);
}

namespace {

bool valid_node_id_js(const std::string& node_id) { return valid_node_id(node_id); }

}  // namespace

EMSCRIPTEN_BINDINGS(topgun_frames) {
    emscripten::function("validNodeId", &valid_node_id_js);
}

}  // namespace topgun::wasm
