// Library version.
#pragma once

#define TOPGUN_VERSION_MAJOR 0
#define TOPGUN_VERSION_MINOR 1
#define TOPGUN_VERSION_PATCH 0
#define TOPGUN_VERSION_STRING "0.1.0"

namespace topgun {
inline constexpr const char* version() noexcept { return TOPGUN_VERSION_STRING; }
}  // namespace topgun
