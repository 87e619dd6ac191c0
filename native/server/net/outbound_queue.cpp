#include "net/outbound_queue.hpp"

#include <topgun/msgpack/reader.hpp>
#include <topgun/protocol/codec.hpp>

#include <string_view>
#include <variant>

namespace topgun::server {
namespace {

using FrameHead = OutboundQueue::FrameHead;

msgpack::Reader reader_of(std::span<const std::uint8_t> bytes) {
    return msgpack::Reader(bytes, msgpack::Limits{.max_bytes = bytes.size()});
}

std::optional<FrameHead> frame_head(std::span<const std::uint8_t> frame) {
    msgpack::Reader r = reader_of(frame);
    std::uint32_t members = 0;
    if (!r.read_map_header(members)) return std::nullopt;
    FrameHead head{};
    for (std::uint32_t i = 0; i < members; ++i) {
        std::string_view key;
        if (!r.read_string(key)) return std::nullopt;
        if (key == "payload") {
            if (i + 1 != members || head.type.empty()) return std::nullopt;
            head.payload = r.offset();
            return head;
        }
        if (!(key == "type" ? r.read_string(head.type) : r.skip())) return std::nullopt;
    }
    return std::nullopt;
}

// The encoded events of a SERVER_EVENT (its payload) or a SERVER_BATCH_EVENT
// (the items of its events array, the payload's only member): what follows
// the array's header, found without reading the events.
struct EncodedEvents {
    std::span<const std::uint8_t> items;
    std::uint32_t count = 0;
};

std::optional<EncodedEvents> encoded_events(std::span<const std::uint8_t> frame, const FrameHead& head) {
    const std::span<const std::uint8_t> payload = frame.subspan(head.payload);
    if (payload.empty()) return std::nullopt;
    if (head.type == protocol::ServerEvent::kType) {
        if (msgpack::detail::kind_of(payload.front()) != msgpack::Kind::Map) return std::nullopt;
        return EncodedEvents{payload, 1};
    }
    if (head.type != protocol::ServerBatchEvent::kType) return std::nullopt;
    msgpack::Reader r = reader_of(payload);
    std::uint32_t members = 0;
    std::string_view key;
    if (!r.read_map_header(members) || members != 1 || !r.read_string(key) || key != "events") return std::nullopt;
    EncodedEvents out;
    if (!r.read_array_header(out.count)) return std::nullopt;
    out.items = payload.subspan(r.offset());
    return out;
}

// What identifies an update frame (its type, query or subscription id and
// key, written so that no two differ only in where the id ends) and its change.
struct UpdateHead {
    std::string id;
    protocol::ChangeType change = protocol::ChangeType::Enter;
};

std::optional<UpdateHead> update_head(std::span<const std::uint8_t> frame, const FrameHead& head) {
    std::string_view id_field;
    if (head.type == protocol::QueryUpdate::kType) {
        id_field = "queryId";
    } else if (head.type == protocol::SearchUpdate::kType) {
        id_field = "subscriptionId";
    } else {
        return std::nullopt;
    }
    msgpack::Reader r = reader_of(frame.subspan(head.payload));
    std::uint32_t members = 0;
    if (!r.read_map_header(members)) return std::nullopt;
    std::optional<std::string_view> id, key;
    std::optional<protocol::ChangeType> change;
    for (std::uint32_t i = 0; i < members; ++i) {
        std::string_view name, text;
        if (!r.read_string(name)) return std::nullopt;
        if (name == id_field || name == "key" || name == "changeType") {
            if (!r.read_string(text)) return std::nullopt;
            if (name == id_field) id = text;
            if (name == "key") key = text;
            if (name == "changeType" && !(change = protocol::enum_from<protocol::ChangeType>(text))) return std::nullopt;
        } else if (!r.skip()) {
            return std::nullopt;
        }
    }
    if (!id || !key || !change) return std::nullopt;
    UpdateHead out{std::string(head.type), *change};
    out.id.append(1, '\0').append(std::to_string(id->size())).append(1, ':').append(*id).append(*key);
    return out;
}

// What a client that was sent `before` and now `after` for one key sees
// from the state it had before `before`.
protocol::ChangeType combined(protocol::ChangeType before, protocol::ChangeType after) {
    using protocol::ChangeType;
    if (before == ChangeType::Enter && after == ChangeType::Update) return ChangeType::Enter;
    if (before == ChangeType::Leave && after == ChangeType::Enter) return ChangeType::Update;
    return after;
}

// The update frame with another change type.
SharedFrame with_change(const SharedFrame& frame, protocol::ChangeType change) {
    protocol::DecodeResult decoded = protocol::decode_message(*frame);
    if (!decoded) return frame;
    return std::visit(
        [&](auto& m) -> SharedFrame {
            using M = std::remove_cvref_t<decltype(m)>;
            if constexpr (std::is_same_v<M, protocol::QueryUpdate> || std::is_same_v<M, protocol::SearchUpdate>) {
                m.change_type = change;
                return make_frame(protocol::encode_message(m));
            } else {
                return frame;
            }
        },
        decoded.message());
}

}  // namespace

bool OutboundQueue::push(SharedFrame frame) {
    // Only what waits behind a write in flight is compacted: an idle socket
    // gets the frame at once.
    const std::optional<FrameHead> head = in_flight_ ? frame_head(*frame) : std::nullopt;
    if (head) {
        bool refused = false;
        if (add_update(frame, *head, refused)) return true;
        if (refused) return false;
    }
    if (bytes_ + frame->size() > max_bytes_) return false;
    if (head && add_events(frame, *head)) return true;
    bytes_ += frame->size();
    close_batch();
    entries_.push_back({std::move(frame)});
    return true;
}

bool OutboundQueue::add_update(const SharedFrame& frame, const FrameHead& head, bool& refused) {
    std::optional<UpdateHead> update = update_head(*frame, head);
    if (!update) return false;
    const auto found = waiting_updates_.find(update->id);
    if (found == waiting_updates_.end()) {
        if (bytes_ + frame->size() > max_bytes_) return !(refused = true);
        bytes_ += frame->size();
        close_batch();
        const auto [it, inserted] = waiting_updates_.emplace(std::move(update->id), popped_ + entries_.size());
        entries_.push_back({frame, &it->first, update->change});
        return true;
    }
    // Waiting ones only are in the index (start_write takes an update out).
    Entry& older = entries_[found->second - popped_];
    const protocol::ChangeType change = combined(older.change, update->change);
    SharedFrame newer = change == update->change ? frame : with_change(frame, change);
    if (bytes_ - older.frame->size() + newer->size() > max_bytes_) return !(refused = true);
    bytes_ = bytes_ - older.frame->size() + newer->size();
    older.frame = std::move(newer);
    older.change = change;
    return true;
}

bool OutboundQueue::add_events(const SharedFrame& frame, const FrameHead& head) {
    const std::optional<EncodedEvents> events = encoded_events(*frame, head);
    // The caller checked the backlog has room for the whole frame.
    if (!events) return false;
    if (batch_ && batch_->accounted + events->items.size() > kMaxBatchBytes) close_batch();
    bytes_ += frame->size();
    if (!batch_) {
        batch_.emplace();
        batch_->first = frame;
        batch_->first_items = events->items;
        batch_->first_count = events->count;
    } else {
        if (batch_->frames == 1) batch_->joined.add_encoded(batch_->first_items, batch_->first_count);  // a second frame joins
        batch_->joined.add_encoded(events->items, events->count);
    }
    ++batch_->frames;
    batch_->accounted += frame->size();
    return true;
}

void OutboundQueue::close_batch() {
    if (!batch_) return;
    OutboundEventBatch batch = std::move(*batch_);
    batch_.reset();
    if (batch.frames == 1) {  // nothing joined the first frame
        entries_.push_back({std::move(batch.first)});
        return;
    }
    SharedFrame merged = make_frame(batch.joined.frame());
    bytes_ = bytes_ - batch.accounted + merged->size();
    entries_.push_back({std::move(merged)});
}

SharedFrame OutboundQueue::start_write() {
    if (entries_.empty()) close_batch();
    if (entries_.empty()) return nullptr;
    Entry& next = entries_.front();
    if (next.update_id != nullptr) {
        waiting_updates_.erase(*next.update_id);
        next.update_id = nullptr;
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
    entries_.resize(in_flight_ ? 1 : 0);
    bytes_ = in_flight_ ? entries_.front().frame->size() : 0;
}

}  // namespace topgun::server
