// Partitioning of keys over the fixed partition space, as the reference client routes.
#pragma once

#include <topgun/config.hpp>
#include <topgun/hash.hpp>

#include <cstdint>
#include <string_view>

TOPGUN_BEGIN_NAMESPACE

// Prime, so that keys with regular hash patterns still spread evenly.
inline constexpr std::uint32_t kPartitionCount = 271;

constexpr std::uint32_t partition_of(std::string_view key) noexcept { return fnv1a(key) % kPartitionCount; }

TOPGUN_END_NAMESPACE
