// Record expiry shared by the CRDTs.
#pragma once

#include <topgun/config.hpp>

#include <cstdint>
#include <optional>

TOPGUN_BEGIN_NAMESPACE

// Whether a record written at `millis` with this TTL has expired at `now`
// (millis + ttl < now). A TTL of 0 counts as none, as in the TS client, which
// tests the TTL for truthiness. Written so that a huge TTL cannot overflow.
inline bool ttl_expired(std::uint64_t millis, std::optional<std::uint64_t> ttl_ms, std::uint64_t now) noexcept {
    return ttl_ms && *ttl_ms != 0 && *ttl_ms < now && millis < now - *ttl_ms;
}

TOPGUN_END_NAMESPACE
