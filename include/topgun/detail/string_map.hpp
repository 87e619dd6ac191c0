// String-keyed hash containers that look up by std::string_view without
// building a std::string (no allocation on the read and merge paths).
#pragma once

#include <topgun/config.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

TOPGUN_BEGIN_NAMESPACE
namespace detail {

struct StringHash {
    using is_transparent = void;
    // noexcept also tells libstdc++ the hash is cheap, so nodes do not cache it
    // (8 bytes less per entry).
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Node-based: element addresses stay stable, which the Merkle tries rely on.
// (Named apart from protocol::StringMap, the ordered wire map.)
template <class T>
using StringHashMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;
using StringHashSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

}  // namespace detail
TOPGUN_END_NAMESPACE
