// Frames <-> typed messages. Decoding never throws and never trusts a length
// it has not seen: on malformed input it returns a typed error naming the
// field path and byte offset. Encoding produces msgpackr's bytes.
#pragma once

#include <topgun/config.hpp>
#include <topgun/hash.hpp>
#include <topgun/msgpack/reader.hpp>
#include <topgun/msgpack/writer.hpp>
#include <topgun/protocol/messages.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

inline constexpr std::size_t kMessageKinds = std::variant_size_v<Message>;
static_assert(kMessageKinds == 90, "PROTOCOL.md §3 defines 90 message kinds");

// Writes one message with its envelope.
template <MessageStruct M>
void encode_message(msgpack::Writer& w, const M& m) {
    if constexpr (M::kShape == Shape::Payload) {
        w.map_header(2);
        w.string("type");
        w.string(M::kType);
        w.string("payload");
        encode_struct(w, m);
    } else {
        const std::size_t at = w.begin_map();
        w.string("type");
        w.string(M::kType);
        w.end_map(at, 1 + encode_members(w, m));
    }
}
inline void encode_message(msgpack::Writer& w, const Message& m) {
    std::visit([&](const auto& alt) { encode_message(w, alt); }, m);
}
template <class M>
    requires MessageStruct<M> || std::same_as<M, Message>
Bytes encode_message(const M& m) {
    msgpack::Writer w(128);
    encode_message(w, m);
    return w.take();
}

// The "type" string of a message.
inline std::string_view type_name(const Message& m) {
    return std::visit([](const auto& alt) { return std::string_view(std::remove_cvref_t<decltype(alt)>::kType); }, m);
}

class DecodeResult;
inline DecodeResult decode_message(std::span<const std::uint8_t> frame, msgpack::Limits limits = {});
namespace detail {
template <class Pick>
DecodeResult decode_frame_with(std::span<const std::uint8_t> frame, msgpack::Limits limits, Pick&& pick);
}  // namespace detail

class DecodeResult {
public:
    DecodeResult() = default;
    DecodeResult(Message m) : message_(std::move(m)) {}  // NOLINT: implicit by design
    DecodeResult(msgpack::Error e) : error_(std::move(e)) {}  // NOLINT
    // A well-formed frame of a known kind that was not decoded (decode_message_among).
    static DecodeResult skipped(std::string_view kind) {
        DecodeResult r;
        r.skipped_kind_ = kind;
        return r;
    }
    explicit operator bool() const noexcept { return message_.has_value(); }
    Message& message() { return *message_; }
    const Message& message() const { return *message_; }
    // Meaningful when there is no message and no skipped kind.
    const msgpack::Error& error() const noexcept { return error_; }
    // The kind of a skipped frame (its "type"); empty for a decoded or a malformed one.
    std::string_view skipped_kind() const noexcept { return skipped_kind_; }

private:
    template <class Pick>
    friend DecodeResult detail::decode_frame_with(std::span<const std::uint8_t>, msgpack::Limits, Pick&&);
    std::optional<Message> message_;
    msgpack::Error error_;
    std::string_view skipped_kind_;  // a kType constant
};

namespace detail {

using MemberDecoder = bool (*)(msgpack::Reader&, std::uint32_t, Message&);

// Decodes the top-level map's members (the reader is just past its header)
// into alternative I.
template <std::size_t I>
bool decode_alternative(msgpack::Reader& r, std::uint32_t count, Message& out) {
    using M = std::variant_alternative_t<I, Message>;
    M& m = out.template emplace<I>();
    if constexpr (M::kShape == Shape::Flat) {
        return decode_members(r, m, count);
    } else {
        bool found = false;
        for (std::uint32_t i = 0; i < count; ++i) {
            std::string_view key;
            if (!read_member_key(r, key)) return false;
            if (detail::same_short_string(key, "payload")) {
                // A second payload is refused: MsgPack readers keep the last, so
                // one that reads the frame again would see what was not checked.
                if (found) {
                    r.fail(msgpack::Errc::InvalidValue, "a second payload");
                    r.error().path = "payload";
                    return false;
                }
                found = true;
                if (!decode_struct(r, m)) {
                    prefix_path(r, "payload");
                    return false;
                }
            } else if (!r.skip()) {
                return false;
            }
        }
        if (!found) {
            r.fail(msgpack::Errc::MissingField);
            r.error().path = "payload";
        }
        return found;
    }
}

struct TypeEntry {
    std::string_view name;
    std::uint32_t hash;  // fnv1a(name): the table is searched by hash, then one name compare
    std::size_t index;   // the kind's alternative in Message
};

template <std::size_t... I>
constexpr std::array<TypeEntry, sizeof...(I)> make_type_table(std::index_sequence<I...>) {
    std::array<TypeEntry, sizeof...(I)> table{TypeEntry{std::variant_alternative_t<I, Message>::kType,
                                                        fnv1a(std::variant_alternative_t<I, Message>::kType), I}...};
    std::sort(table.begin(), table.end(), [](const TypeEntry& a, const TypeEntry& b) { return a.hash < b.hash; });
    return table;
}

inline constexpr auto kTypeTable = make_type_table(std::make_index_sequence<kMessageKinds>{});

// Every kind's member decoder, by alternative. Apart from the names, so that a
// reader of a few kinds (decode_message_among) links only their decoders.
template <std::size_t... I>
constexpr std::array<MemberDecoder, sizeof...(I)> make_decoders(std::index_sequence<I...>) {
    return {&decode_alternative<I>...};
}

inline constexpr auto kDecoders = make_decoders(std::make_index_sequence<kMessageKinds>{});

constexpr const TypeEntry* find_type(std::string_view name) {
    const std::uint32_t h = fnv1a(name);
    auto it = std::lower_bound(kTypeTable.begin(), kTypeTable.end(), h,
                               [](const TypeEntry& e, std::uint32_t v) { return e.hash < v; });
    for (; it != kTypeTable.end() && it->hash == h; ++it) {
        if (same_short_string(it->name, name)) return &*it;
    }
    return nullptr;
}

// Reads the discriminator among `count` members; msgpackr writes it first, but
// it may be anywhere. Fails the reader when it is absent.
inline bool read_message_type(msgpack::Reader& r, std::uint32_t count, std::string_view& type) {
    for (std::uint32_t i = 0; i < count; ++i) {
        std::string_view key;
        if (!read_member_key(r, key)) return false;
        if (!same_short_string(key, "type")) {
            if (!r.skip()) return false;
            continue;
        }
        if (!r.read_string(type)) {
            r.error().path = "type";
            return false;
        }
        return true;
    }
    if (r.ok()) {
        r.fail(msgpack::Errc::MissingField);
        r.error().path = "type";
    }
    return false;
}

inline void fail_unknown_type(msgpack::Reader& r, std::string_view type) {
    r.fail(msgpack::Errc::UnknownType, "\"" + std::string(type) + "\"");
    r.error().path = "type";
}

// The member decoder of a message kind; fails the reader for an unknown one.
inline MemberDecoder decoder_named(msgpack::Reader& r, std::string_view type) {
    if (const TypeEntry* entry = find_type(type)) return kDecoders[entry->index];
    fail_unknown_type(r, type);
    return nullptr;
}

}  // namespace detail

// Every message kind's "type" string.
inline std::vector<std::string_view> message_type_names() {
    std::vector<std::string_view> names;
    for (const auto& entry : detail::kTypeTable) names.push_back(entry.name);
    std::sort(names.begin(), names.end());
    return names;
}

// True when `name` is one of the protocol's message kinds.
constexpr bool is_message_type(std::string_view name) { return detail::find_type(name) != nullptr; }

namespace detail {

// Decodes one frame with the member decoder `pick(reader, type)` chooses for
// its kind (nullptr: not decoded; pick fails the reader for an error). See
// decode_message.
template <class Pick>
DecodeResult decode_frame_with(std::span<const std::uint8_t> frame, msgpack::Limits limits, Pick&& pick) {
    // One result object for every path, so it is constructed in place (a Message
    // is large; moving it would cost more than decoding a small frame).
    DecodeResult result;
    msgpack::Reader r(frame, limits);
    MemberDecoder decode = nullptr;
    std::uint32_t count = 0;
    if (r.ok() && r.read_map_header(count) && r.enter()) {
        const std::size_t members = r.offset();
        if (std::string_view type; read_message_type(r, count, type)) decode = pick(r, type);
        r.rewind(members);
    }
    if (decode != nullptr && decode(r, count, result.message_.emplace())) {
        r.leave();
        if (!r.at_end()) r.fail(msgpack::Errc::TrailingBytes);
    }
    if (!r.ok()) {
        result.message_.reset();
        result.error_ = r.error();
    }
    return result;
}

// The member decoder of message kind M.
template <class M, std::size_t I = 0>
constexpr MemberDecoder decoder_of() {
    if constexpr (std::is_same_v<std::variant_alternative_t<I, Message>, M>) {
        return &decode_alternative<I>;
    } else {
        return decoder_of<M, I + 1>();
    }
}

}  // namespace detail

// Decodes one frame: exactly one MsgPack map with a known "type" (anywhere in
// the map). Unknown keys are ignored; limits: nesting depth and frame size.
inline DecodeResult decode_message(std::span<const std::uint8_t> frame, msgpack::Limits limits) {
    return detail::decode_frame_with(frame, limits, detail::decoder_named);
}

namespace detail {

// The member decoder of one of Kinds..., told apart by name alone (a table of
// every kind's decoder would bring all of them into the instantiation); nullptr
// for any other kind.
template <class... Kinds>
MemberDecoder decoder_among(std::string_view type) {
    for (const auto& [name, decoder] : {std::pair{Kinds::kType, decoder_of<Kinds>()}...}) {
        if (type == name) return decoder;
    }
    return nullptr;
}

}  // namespace detail

// decode_message for a reader that acts on a few kinds only (the WASM client):
// a frame of one of Kinds... is decoded; a frame of any other known kind is
// only checked to be well-formed MsgPack within the limits, and comes back
// skipped (skipped_kind() names it); an unknown kind is an error.
template <class... Kinds>
DecodeResult decode_message_among(std::span<const std::uint8_t> frame, msgpack::Limits limits = {}) {
    std::string_view skipped;
    DecodeResult result = detail::decode_frame_with(frame, limits, [&](msgpack::Reader& r, std::string_view type) -> detail::MemberDecoder {
        if (detail::MemberDecoder decode = detail::decoder_among<Kinds...>(type)) return decode;
        if (const detail::TypeEntry* entry = detail::find_type(type)) {
            skipped = entry->name;
        } else {
            detail::fail_unknown_type(r, type);
        }
        return nullptr;
    });
    if (skipped.empty()) return result;
    msgpack::Reader r(frame, limits);
    if (r.skip() && !r.at_end()) r.fail(msgpack::Errc::TrailingBytes);
    return r.ok() ? DecodeResult::skipped(skipped) : DecodeResult(r.error());
}

// decode_message for a caller that compiles a few kinds apart (the WASM client
// builds the record-carrying kinds for speed and the rest for size): a frame of
// one of the kinds Fast... is decoded by this instantiation, any other by
// `decode_other` (decode_message, compiled elsewhere).
template <class... Fast>
DecodeResult decode_message_of(std::span<const std::uint8_t> frame, DecodeResult (*decode_other)(std::span<const std::uint8_t>)) {
    bool other = false;
    DecodeResult result = detail::decode_frame_with(frame, {}, [&](msgpack::Reader&, std::string_view type) -> detail::MemberDecoder {
        detail::MemberDecoder decode = detail::decoder_among<Fast...>(type);
        other = decode == nullptr;
        return decode;
    });
    if (other) return decode_other(frame);
    return result;  // moved: `other ? ... : result` would copy the whole message
}

// Decodes a body that is not a Message (the HTTP sync request and response).
template <detail::Described T>
bool decode_body(std::span<const std::uint8_t> bytes, T& out, msgpack::Error& error, msgpack::Limits limits = {}) {
    msgpack::Reader r(bytes, limits);
    if (r.ok() && decode_struct(r, out) && !r.at_end()) r.fail(msgpack::Errc::TrailingBytes);
    error = r.error();
    return r.ok();
}
template <detail::Described T>
Bytes encode_body(const T& body) {
    msgpack::Writer w(128);
    encode_struct(w, body);
    return w.take();
}

// The most inner messages one BATCH may carry (as the reference server).
inline constexpr std::size_t kMaxBatchItems = 8192;

// Walks a BATCH's data: each inner frame is a u32 big-endian length then that
// many bytes (the reference server's layout, D8); a truncated tail ends the
// walk, as in the reference. Calls visit(frame) for each and returns how many.
template <class Visit>
std::size_t for_each_batch_item(std::span<const std::uint8_t> data, Visit&& visit) {
    std::size_t count = 0;
    std::size_t at = 0;
    while (data.size() - at >= 4) {
        const std::uint32_t len = (std::uint32_t{data[at]} << 24) | (std::uint32_t{data[at + 1]} << 16) |
                                  (std::uint32_t{data[at + 2]} << 8) | std::uint32_t{data[at + 3]};
        at += 4;
        if (data.size() - at < len) break;
        visit(data.subspan(at, len));
        ++count;
        at += len;
    }
    return count;
}

// The number of inner frames a BATCH carries: what the rate limiter charges,
// whatever its `count` field claims.
inline std::size_t count_batch_items(std::span<const std::uint8_t> data) {
    return for_each_batch_item(data, [](std::span<const std::uint8_t>) {});
}

// Splits a BATCH's data into its inner frames. Returns nothing when the batch
// holds more than kMaxBatchItems items.
inline std::optional<std::vector<std::span<const std::uint8_t>>> unpack_batch(std::span<const std::uint8_t> data) {
    if (count_batch_items(data) > kMaxBatchItems) return std::nullopt;
    std::vector<std::span<const std::uint8_t>> items;
    for_each_batch_item(data, [&](std::span<const std::uint8_t> item) { items.push_back(item); });
    return items;
}

// Builds BATCH data in the same layout.
inline Bytes pack_batch(std::span<const Bytes> frames) {
    Bytes out;
    for (const Bytes& f : frames) {
        const auto len = static_cast<std::uint32_t>(f.size());
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(len >> shift));
        out.insert(out.end(), f.begin(), f.end());
    }
    return out;
}

}  // namespace protocol
TOPGUN_END_NAMESPACE
