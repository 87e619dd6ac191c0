// Equality of short strings (field and member names) on hot paths: decoding
// matches each member key against a struct's field names, and query scans look
// members up by name in every record. Most candidates differ in length or
// first byte, so those are checked before memcmp is called.
#pragma once

#include <topgun/config.hpp>

#include <cstring>
#include <string_view>
#include <type_traits>

TOPGUN_BEGIN_NAMESPACE
namespace detail {

constexpr bool same_short_string(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    if (std::is_constant_evaluated()) return a == b;
    return a[0] == b[0] && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace detail
TOPGUN_END_NAMESPACE
