// Fuzzes the MsgPack decoder: any input must decode or fail cleanly (no crash,
// no leak, no unbounded allocation), and whatever decodes must re-encode to
// bytes that decode to an equal value.
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
    return 0;
}
