// One string for a name within a map: "<map length>:<map><name>",
// unambiguous for any bytes (the OR tag registry's entries, the stored
// per-key tombstone lists).
#pragma once

#include <string>
#include <string_view>

namespace topgun::server {

inline std::string map_scoped_id(std::string_view map, std::string_view name) {
    std::string id = std::to_string(map.size());
    id += ':';
    id += map;
    id += name;
    return id;
}

}  // namespace topgun::server
