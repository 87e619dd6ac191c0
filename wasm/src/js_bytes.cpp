#include "js_bytes.hpp"

namespace topgun::wasm {

InputBytes::InputBytes(const emscripten::val& input) {
    const emscripten::val uint8array = emscripten::val::global("Uint8Array");
    const emscripten::val array = input.instanceof(uint8array) ? input : uint8array.new_(input);
    size_ = array["length"].as<std::size_t>();
    data_.reset(new std::uint8_t[size_]);  // not zeroed: the copy fills it
    emscripten::val(emscripten::typed_memory_view(size_, data_.get())).call<void>("set", array);
}

}  // namespace topgun::wasm
