// Fuzzes the decoders: any input must decode or fail cleanly (no crash, no
// leak, no unbounded allocation), and whatever decodes must survive a round
// trip: encode(decode(x)) decodes to an equal value / message (or, with NaN
// in a typed double, to one that encodes to the same bytes).
#include <topgun/topgun.hpp>

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> input(data, size);

    topgun::Value value;
    topgun::msgpack::Error error;
    if (topgun::msgpack::decode(input, value, error)) {
        const topgun::Bytes again = topgun::msgpack::encode(value);
        topgun::Value round_trip;
        if (!topgun::msgpack::decode(again, round_trip, error) || !(round_trip == value)) std::abort();
    }

    auto decoded = topgun::protocol::decode_message(input);
    if (decoded) {
        const topgun::Bytes again = topgun::protocol::encode_message(decoded.message());
        auto round_trip = topgun::protocol::decode_message(again);
        if (!round_trip) std::abort();
        // Typed double fields compare NaN unequal to itself: then the second
        // encoding must at least be byte-identical to the first.
        if (!(round_trip.message() == decoded.message()) &&
            topgun::protocol::encode_message(round_trip.message()) != again) {
            std::abort();
        }
    } else if (decoded.error().message().empty()) {
        std::abort();  // every failure must explain itself
    }
    return 0;
}
