// The byte boundary between JavaScript and the core: MsgPack in as the bytes of
// a Uint8Array (copied into WASM memory in one block), MsgPack out as a fresh
// Uint8Array, and errors as a plain `{error}` object the JS layer turns into a
// thrown Error. The build catches no C++ exceptions (smaller and faster), so no
// error may travel as one: every failure path returns an error value instead.
#pragma once

#include <topgun/protocol/codec.hpp>

#include <emscripten/val.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace topgun::wasm {

// The bytes of a Uint8Array (or an ArrayBuffer) copied into WASM memory with
// one TypedArray.set: embind's own std::string conversion copies byte by byte
// in JavaScript, which was ~8 % of a merge call.
class InputBytes {
public:
    explicit InputBytes(const emscripten::val& input);  // js_bytes.cpp: one copy of it in the module
    std::span<const std::uint8_t> span() const noexcept { return {data_.get(), size_}; }

private:
    std::unique_ptr<std::uint8_t[]> data_;
    std::size_t size_ = 0;
};

// A copy: a view into WASM memory would go stale when the memory grows.
inline emscripten::val to_uint8array(std::span<const std::uint8_t> bytes) {
    return emscripten::val::global("Uint8Array")
        .new_(emscripten::typed_memory_view(bytes.size(), bytes.data()));
}

inline emscripten::val error_value(std::string_view what) {
    emscripten::val error = emscripten::val::object();
    error.set("error", std::string(what));
    return error;
}

// Numbers out in one block (a copy, as above).
inline emscripten::val to_float64array(std::span<const double> numbers) {
    return emscripten::val::global("Float64Array").new_(emscripten::typed_memory_view(numbers.size(), numbers.data()));
}

template <class T>
emscripten::val encoded(const T& body) {
    return to_uint8array(protocol::encode_body(body));
}

// Inputs come from this process (local writes, snapshots from storage, frames
// the socket layer already bounded), so no 2 MiB frame limit: a snapshot holds
// a whole replica. The nesting limit stays.
inline constexpr msgpack::Limits kInputLimits{.max_bytes = std::numeric_limits<std::size_t>::max()};

// Decodes the input as a T and hands it to `use`; malformed input never
// reaches it and comes back as `{error: "<what>: <where and why>"}`.
template <class T, class Use>
emscripten::val with_input(const emscripten::val& bytes, std::string_view what, Use&& use) {
    T input;
    msgpack::Error e;
    if (!protocol::decode_body(InputBytes(bytes).span(), input, e, kInputLimits)) return error_value(std::string(what) + ": " + e.message());
    return use(input);
}

}  // namespace topgun::wasm
