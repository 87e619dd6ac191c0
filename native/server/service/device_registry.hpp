// Device identity, present-or-mint (PROTOCOL.md §1.4): a client presents
// `deviceToken = "<deviceId>.<secret hex>"`; a known id with the right secret
// re-binds (the ack names the device), anything else mints a new identity
// (the ack carries the new token once). Only SHA-256(secret) is kept, under the
// meta namespace "device", keyed per principal so one user's device id cannot
// be claimed by another. Identity never makes authentication fail.
//
// Unlike the reference, a second connection of the same device does not close
// the first: browser tabs share one stored credential, and evicting each other
// would make them reconnect in a loop.
#pragma once

#include "storage/store.hpp"

#include <topgun/detail/string_map.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace topgun::server {

struct DeviceBinding {
    std::string device_id;
    std::optional<std::string> minted_token;      // set when a new identity was minted
    std::optional<storage::MetaPut> persist;      // the credential to store, when minted
};

class DeviceRegistry {
public:
    static constexpr std::string_view kMetaNamespace = "device";

    // The registry key of a device: per principal in JWT mode, shared in no-auth mode.
    static std::string key_for(const std::optional<std::string>& principal, std::string_view device_id);
    // The device id a presented token names, if it is well formed.
    static std::optional<std::string> device_id_of(std::string_view token);

    // Present-or-mint. The registry lives on shard 0 (one call per connection,
    // not a data path).
    DeviceBinding bind(const std::optional<std::string>& principal, const std::optional<std::string>& presented);

    // A credential loaded from storage.
    void restore(std::string_view key, std::string_view secret_hash_hex) {
        hashes_[std::string(key)] = std::string(secret_hash_hex);
    }

private:
    detail::StringHashMap<std::string> hashes_;  // registry key -> hex SHA-256 of the secret
};

}  // namespace topgun::server
