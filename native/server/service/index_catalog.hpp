// The secondary indexes an operator asked for through the admin API
// (`POST /api/admin/indexes`), kept in the store so they come back after a
// restart. Each shard builds the index over its part of the map
// (ShardState::add_index); live queries then take their initial rows from the
// index's candidates instead of a scan, and POST /sync queries likewise.
//
// Touched by the admin API from any shard: a lock.
#pragma once

#include "storage/store.hpp"

#include <nlohmann/json.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace topgun::server {

struct IndexDescriptor {
    enum class Type : std::uint8_t { Hash, Navigable };  // equality / ranges and order (the reference's names)
    std::string map_name;
    std::string attribute;  // a dot path into the record value
    Type type = Type::Hash;

    static std::variant<IndexDescriptor, std::string> from_json(const nlohmann::json& j);
    nlohmann::json to_json() const;
    friend bool operator==(const IndexDescriptor&, const IndexDescriptor&) = default;
};

class IndexCatalog {
public:
    static constexpr std::string_view kMetaNamespace = "indexes";

    // The mutation that stores it, or nothing when it was there already.
    std::optional<storage::Mutation> add(const IndexDescriptor& index);
    // The mutation that forgets it, or nothing when there was none.
    std::optional<storage::Mutation> remove(const IndexDescriptor& index);
    std::vector<IndexDescriptor> list() const;
    // Loading: one stored entry (an unreadable one is skipped: an index only speeds reads up).
    void restore(std::string_view value);

private:
    mutable std::mutex mutex_;
    std::vector<IndexDescriptor> indexes_;
};

}  // namespace topgun::server
