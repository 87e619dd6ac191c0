#include "net/outbound_queue.hpp"

#include <topgun/msgpack/reader.hpp>
#include <topgun/protocol/query.hpp>
#include <topgun/protocol/search.hpp>
#include <topgun/protocol/writes.hpp>

#include <string_view>

namespace topgun::server {
namespace {

// The encoded events a frame carries: a SERVER_EVENT's payload, or the items
// of a SERVER_BATCH_EVENT's events array. Nothing for any other frame. The
// frames are the server's own encodings, where the payload is the last member
// (and the events array the payload's only one): what follows its header is
// the events, found without reading them.
struct EncodedEvents {
    std::span<const std::uint8_t> items;
    std::uint32_t count = 0;
};

// Reads the keys of a map's members up to `wanted`, skipping the others'
// values; true when `wanted` is the map's last member (the reader is then at its value).
bool at_last_member(msgpack::Reader& r, std::string_view wanted, std::string_view* type = nullptr) {
    std::uint32_t members = 0;
    if (!r.read_map_header(members)) return false;
    for (std::uint32_t i = 0; i < members; ++i) {
        std::string_view key;
        if (!r.read_string(key)) return false;
        if (key == wanted) return i + 1 == members;
        if (type != nullptr && key == "type") {
            if (!r.read_string(*type)) return false;
        } else if (!r.skip()) {
            return false;
        }
    }
    return false;
}

std::optional<EncodedEvents> encoded_events(std::span<const std::uint8_t> frame) {
    msgpack::Reader r(frame, msgpack::Limits{.max_bytes = frame.size()});
    std::string_view type;
    if (!at_last_member(r, "payload", &type)) return std::nullopt;
    if (type == protocol::ServerEvent::kType) {
        if (r.peek() != msgpack::Kind::Map) return std::nullopt;
        return EncodedEvents{frame.subspan(r.offset()), 1};
    }
    if (type != protocol::ServerBatchEvent::kType || !at_last_member(r, "events")) return std::nullopt;
    EncodedEvents out;
    if (!r.read_array_header(out.count)) return std::nullopt;
    out.items = frame.subspan(r.offset());
    return out;
}

// "QUERY_UPDATE\0<queryId>\0<key>" (or SEARCH_UPDATE and its subscriptionId)
// for an update frame; nothing for any other frame.
std::optional<std::string> update_id(std::span<const std::uint8_t> frame) {
    msgpack::Reader r(frame, msgpack::Limits{.max_bytes = frame.size()});
    std::string_view type;
    if (!at_last_member(r, "payload", &type)) return std::nullopt;
    std::string_view id_field;
    if (type == protocol::QueryUpdate::kType) {
        id_field = "queryId";
    } else if (type == protocol::SearchUpdate::kType) {
        id_field = "subscriptionId";
    } else {
        return std::nullopt;
    }
    std::uint32_t members = 0;
    if (!r.read_map_header(members)) return std::nullopt;
    std::string_view id, key;
    bool has_id = false, has_key = false;
    for (std::uint32_t i = 0; i < members && !(has_id && has_key); ++i) {
        std::string_view name;
        if (!r.read_string(name)) return std::nullopt;
        bool ok = true;
        if (name == id_field) {
            ok = has_id = r.read_string(id);
        } else if (name == "key") {
            ok = has_key = r.read_string(key);
        } else {
            ok = r.skip();
        }
        if (!ok) return std::nullopt;
    }
    if (!has_id || !has_key) return std::nullopt;
    std::string out;
    out.reserve(type.size() + id.size() + key.size() + 2);
    out.append(type).append(1, '\0').append(id).append(1, '\0').append(key);
    return out;
}

}  // namespace

bool OutboundQueue::push(SharedFrame frame) {
    if (bytes_ + frame->size() > max_bytes_) return false;
    bytes_ += frame->size();
    // Only what waits behind a write in flight is compacted: an idle socket
    // gets the frame at once.
    if (in_flight_ && (add_events(frame) || add_update(frame))) return true;
    close_batch();
    entries_.push_back({std::move(frame), {}});
    return true;
}

bool OutboundQueue::add_update(const SharedFrame& frame) {
    std::optional<std::string> id = update_id(*frame);
    if (!id) return false;
    close_batch();
    const std::uint64_t number = popped_ + entries_.size();
    const auto [it, inserted] = waiting_updates_.try_emplace(std::move(*id), number);
    if (!inserted) {
        // Waiting ones only are in the index (start_write takes an update out).
        Entry& older = entries_[it->second - popped_];
        bytes_ -= older.frame->size();
        older.frame = nullptr;
        older.update_id.clear();
        it->second = number;
    }
    entries_.push_back({frame, it->first});
    return true;
}

bool OutboundQueue::add_events(const SharedFrame& frame) {
    const std::optional<EncodedEvents> events = encoded_events(*frame);
    if (!events) return false;
    if (batch_ && batch_->items.bytes().size() + events->items.size() > kMaxBatchBytes) close_batch();
    if (!batch_) batch_.emplace().first = frame;
    batch_->items.raw(events->items);
    batch_->count += events->count;
    batch_->accounted += frame->size();
    return true;
}

void OutboundQueue::close_batch() {
    if (!batch_) return;
    OutboundEventBatch batch = std::move(*batch_);
    batch_.reset();
    if (batch.accounted == batch.first->size()) {  // nothing joined the first frame
        entries_.push_back({std::move(batch.first), {}});
        return;
    }
    msgpack::Writer head(64);
    head.map_header(2);
    head.string("type");
    head.string(protocol::ServerBatchEvent::kType);
    head.string("payload");
    head.map_header(1);
    head.string("events");
    head.array_header(batch.count);
    const std::span<const std::uint8_t> items = batch.items.bytes();
    Bytes bytes;
    bytes.reserve(head.bytes().size() + items.size());
    bytes.insert(bytes.end(), head.bytes().begin(), head.bytes().end());
    bytes.insert(bytes.end(), items.begin(), items.end());
    SharedFrame merged = make_frame(std::move(bytes));
    bytes_ = bytes_ - batch.accounted + merged->size();
    entries_.push_back({std::move(merged), {}});
}

SharedFrame OutboundQueue::start_write() {
    while (!entries_.empty() && entries_.front().frame == nullptr) {  // superseded
        entries_.pop_front();
        ++popped_;
    }
    if (entries_.empty()) close_batch();
    if (entries_.empty()) return nullptr;
    Entry& next = entries_.front();
    if (!next.update_id.empty()) {
        waiting_updates_.erase(next.update_id);
        next.update_id.clear();
    }
    in_flight_ = true;
    return next.frame;
}

void OutboundQueue::written() {
    bytes_ -= entries_.front().frame->size();
    entries_.pop_front();
    ++popped_;
    in_flight_ = false;
}

void OutboundQueue::drop_pending() {
    batch_.reset();
    waiting_updates_.clear();
    const std::size_t keep = in_flight_ ? 1 : 0;
    entries_.resize(keep);
    bytes_ = in_flight_ ? entries_.front().frame->size() : 0;
}

}  // namespace topgun::server
