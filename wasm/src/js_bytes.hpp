// The byte boundary between JavaScript and the core: MsgPack in as the bytes of
// a Uint8Array (embind copies them into a std::string), MsgPack out as a fresh
// Uint8Array, and errors as a plain `{error}` object the JS layer turns into a
// thrown Error. The build catches no C++ exceptions (smaller and faster), so no
// error may travel as one: every failure path returns an error value instead.
#pragma once

#include <emscripten/val.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace topgun::wasm {

inline std::span<const std::uint8_t> as_bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

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

}  // namespace topgun::wasm
