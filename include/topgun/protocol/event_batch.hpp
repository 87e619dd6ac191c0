// Data events gathered for one frame (PROTOCOL.md §5.4): their SERVER_EVENT
// payloads encoded back to back as they come, then sent as a SERVER_EVENT
// when there is one and as one SERVER_BATCH_EVENT when there are more. A
// server fills one per map as a write's ops apply, and joins the events
// waiting for a busy socket: each event is encoded once, with no message
// struct holding them all.
#pragma once

#include <topgun/config.hpp>
#include <topgun/msgpack/writer.hpp>
#include <topgun/protocol/fields.hpp>
#include <topgun/protocol/writes.hpp>

#include <cstdint>
#include <span>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

class EventBatch {
public:
    void add(const ServerEventPayload& event) {
        encode_struct(items_, event);
        ++count_;
    }
    // Events already encoded: `count` payloads back to back.
    void add_encoded(std::span<const std::uint8_t> items, std::uint32_t count) {
        items_.raw(items);
        count_ += count;
    }

    std::uint32_t count() const noexcept { return count_; }
    std::span<const std::uint8_t> items() const noexcept { return items_.bytes(); }

    // The frame, byte for byte what encode_message writes for the
    // SERVER_EVENT or SERVER_BATCH_EVENT holding these events. Needs one.
    Bytes frame() const {
        msgpack::Writer head(64);
        head.map_header(2);
        head.string("type");
        head.string(count_ == 1 ? ServerEvent::kType : ServerBatchEvent::kType);
        head.string("payload");
        if (count_ != 1) {
            head.map_header(1);
            head.string("events");
            head.array_header(count_);
        }
        Bytes out;
        out.reserve(head.size() + items_.size());
        out.insert(out.end(), head.bytes().begin(), head.bytes().end());
        out.insert(out.end(), items_.bytes().begin(), items_.bytes().end());
        return out;
    }

private:
    msgpack::Writer items_;
    std::uint32_t count_ = 0;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
