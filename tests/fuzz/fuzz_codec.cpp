// Fuzzes the decoders: any input must decode or fail cleanly (no crash, no
// leak, no unbounded allocation), and whatever decodes must survive a round
// trip: encode(decode(x)) decodes to an equal value / message.
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
        if (!round_trip || !(round_trip.message() == decoded.message())) std::abort();
    } else if (decoded.error().message().empty()) {
        std::abort();  // every failure must explain itself
    }
    return 0;
}
