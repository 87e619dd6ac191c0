// What every message struct declares: its "type" string and its envelope.
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/fields.hpp>

#include <string_view>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// Flat: fields next to "type". Payload: {type, payload: {fields}}. (The
// reference's "optional payload" and "event" envelopes are flat messages with
// one nested field named "payload" or "event".)
enum class Shape : std::uint8_t { Flat, Payload };

template <class M>
concept MessageStruct = detail::Described<M> && requires {
    { M::kType } -> std::convertible_to<std::string_view>;
    { M::kShape } -> std::convertible_to<Shape>;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
