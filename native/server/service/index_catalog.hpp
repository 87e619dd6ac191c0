// The secondary indexes an operator asked for through the admin API
// (`POST /api/admin/indexes`), kept in the store so they come back after a
// restart. Each shard builds the index over its part of the map
// (ShardState::add_index); live queries then take their initial rows from the
// index's candidates instead of a scan, and POST /sync queries likewise. A
// full-text ("inverted") index is the map's search index instead.
//
// Touched by the admin API from any shard: a lock.
#pragma once

#include "storage/store.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace topgun::server {

struct IndexDescriptor {
    // Equality, ranges and order, full text (the reference's names). A full-text
    // index is the map's search index (service/map_search.hpp), which takes
    // every string of a record as the reference's does: naming one attribute
    // builds it at once (and at every start) instead of on the first search.
    enum class Type : std::uint8_t { Hash, Navigable, Inverted };
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

    // What a caller does with a change, under the catalog's lock: gets the
    // mutations that store it and hands the change to every shard and to the
    // store, so both see the catalog's changes in the order they happened.
    using Apply = std::function<void(std::vector<storage::Mutation>)>;

    // Adds an index; `apply` gets its stored entry, or nothing when it was
    // there already (the shards are told again all the same).
    void add(const IndexDescriptor& index, const Apply& apply = {});
    // Forgets the indexes of every type on map.attribute; `apply` only runs,
    // and the result is true, when there was one.
    bool remove(std::string_view map_name, std::string_view attribute, const Apply& apply);
    std::vector<IndexDescriptor> list() const;
    // Loading: one stored entry (an unreadable one is skipped: an index only speeds reads up).
    void restore(std::string_view value);

private:
    mutable std::mutex mutex_;
    std::vector<IndexDescriptor> indexes_;
};

}  // namespace topgun::server
