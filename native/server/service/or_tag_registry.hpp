// Which key each OR tag belongs to, across every worker of the node. Tags are
// unique per map (an add's timestamp string), and clients drop a removed tag
// under whichever key holds it, so a tag reused under a second key would let
// a remove of one record take the other from every client. A map's keys are
// spread over workers, so the check needs one registry for all of them; a
// claim lasts until the tag's tombstone is collected.
// Thread-safe: striped by tag, so workers rarely wait for one another.
#pragma once

#include "service/map_scoped_id.hpp"

#include <topgun/hash.hpp>

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace topgun::server {

class OrTagRegistry {
public:
    // Claims `tag` of map `map` for `key`: true when it was free or is already
    // this key's, false when another key holds it.
    bool claim(std::string_view map, std::string_view tag, std::string_view key) {
        const std::string id = map_scoped_id(map, tag);
        const std::uint64_t owner = key_hash(key);
        Stripe& stripe = stripe_of(id);
        const std::lock_guard lock(stripe.mutex);
        const auto [it, inserted] = stripe.owners.try_emplace(id, owner);
        return inserted || it->second == owner;
    }

    // Forgets tags whose tombstones were collected.
    void release(std::string_view map, std::span<const std::string> tags) {
        for (const std::string& tag : tags) {
            const std::string id = map_scoped_id(map, tag);
            Stripe& stripe = stripe_of(id);
            const std::lock_guard lock(stripe.mutex);
            stripe.owners.erase(id);
        }
    }

private:
    struct Stripe {
        std::mutex mutex;
        std::unordered_map<std::string, std::uint64_t> owners;  // entry id -> hash of the owning key
    };

    // Keys are kept as 64-bit hashes (two FNV-1a halves): a collision would
    // only let one key reuse another's tag.
    static std::uint64_t key_hash(std::string_view key) {
        return (std::uint64_t{fnv1a(key)} << 32) | Fnv1a{}.add_char('\x1f').add_utf8(key).value();
    }

    Stripe& stripe_of(std::string_view id) { return stripes_[fnv1a(id) % stripes_.size()]; }

    std::array<Stripe, 16> stripes_;
};

}  // namespace topgun::server
