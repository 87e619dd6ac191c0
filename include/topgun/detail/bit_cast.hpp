// std::bit_cast where the standard library has it; the compiler builtin where it
// does not (libc++ before 14, as shipped with Emscripten 3.1.6), so the same
// headers build natively and for WASM.
#pragma once

#include <topgun/config.hpp>

#include <bit>
#include <type_traits>

TOPGUN_BEGIN_NAMESPACE
namespace detail {

template <class To, class From>
    requires(sizeof(To) == sizeof(From) && std::is_trivially_copyable_v<To> && std::is_trivially_copyable_v<From>)
constexpr To bit_cast(const From& from) noexcept {
#if defined(__cpp_lib_bit_cast)
    return std::bit_cast<To>(from);
#else
    return __builtin_bit_cast(To, from);
#endif
}

}  // namespace detail
TOPGUN_END_NAMESPACE
