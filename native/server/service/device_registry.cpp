#include "service/device_registry.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <stdexcept>

namespace topgun::server {
namespace {

constexpr std::size_t kSecretBytes = 32;

std::string hex(const unsigned char* data, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(2 * n, '0');
    for (std::size_t i = 0; i < n; ++i) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0xF];
    }
    return out;
}

std::string sha256_hex(std::string_view text) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
    return hex(digest.data(), digest.size());
}

void random_bytes(unsigned char* out, std::size_t n) {
    if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("the system random generator failed");
}

// A version-4 UUID in its 36-character text form.
std::string uuid_v4() {
    std::array<unsigned char, 16> b{};
    random_bytes(b.data(), b.size());
    b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
    const std::string h = hex(b.data(), b.size());
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

bool is_hex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace

std::string DeviceRegistry::key_for(const std::optional<std::string>& principal, std::string_view device_id) {
    if (!principal) return "n:" + std::string(device_id);
    return "a" + std::to_string(principal->size()) + ":" + *principal + "|" + std::string(device_id);
}

std::optional<std::string> DeviceRegistry::device_id_of(std::string_view token) {
    const auto dot = token.find('.');
    if (dot != 36 || token.size() != 36 + 1 + 2 * kSecretBytes) return std::nullopt;
    const std::string_view id = token.substr(0, 36);
    for (std::size_t i = 0; i < id.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? id[i] != '-' : !is_hex(id.substr(i, 1))) return std::nullopt;
    }
    if (!is_hex(token.substr(37))) return std::nullopt;
    return std::string(id);
}

DeviceBinding DeviceRegistry::bind(const std::optional<std::string>& principal, const std::optional<std::string>& presented) {
    if (presented) {
        if (const auto id = device_id_of(*presented)) {
            const auto it = hashes_.find(key_for(principal, *id));
            const std::string presented_hash = sha256_hex(presented->substr(37));
            if (it != hashes_.end() && it->second.size() == presented_hash.size() &&
                CRYPTO_memcmp(it->second.data(), presented_hash.data(), presented_hash.size()) == 0) {
                return DeviceBinding{*id, std::nullopt, std::nullopt};
            }
        }
    }
    DeviceBinding minted;
    minted.device_id = uuid_v4();
    std::array<unsigned char, kSecretBytes> secret{};
    random_bytes(secret.data(), secret.size());
    const std::string secret_hex = hex(secret.data(), secret.size());
    minted.minted_token = minted.device_id + "." + secret_hex;
    const std::string key = key_for(principal, minted.device_id);
    const std::string hash = sha256_hex(secret_hex);
    hashes_[key] = hash;
    minted.persist = storage::MetaPut{std::string(kMetaNamespace), key, Bytes(hash.begin(), hash.end())};
    return minted;
}

}  // namespace topgun::server
