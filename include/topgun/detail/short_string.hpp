// Equality of short strings (field and member names) on hot paths: decoding
// matches each member key against a struct's field names, and query scans look
// members up by name in every record. Names are short and most candidates
// differ in length or first byte, so an inline loop after the length check
// beats a call to memcmp (measured: 7 % on BM_DecodeClientOpScalarValue).
#pragma once

#include <topgun/config.hpp>

#include <cstddef>
#include <string_view>

TOPGUN_BEGIN_NAMESPACE
namespace detail {

constexpr bool same_short_string(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) return false;
    }
    return true;
}

}  // namespace detail
TOPGUN_END_NAMESPACE
