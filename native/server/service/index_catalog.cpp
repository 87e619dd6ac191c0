#include "service/index_catalog.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <utility>

namespace topgun::server {
namespace {

constexpr std::pair<IndexDescriptor::Type, std::string_view> kTypeNames[] = {
    {IndexDescriptor::Type::Hash, "hash"}, {IndexDescriptor::Type::Navigable, "navigable"}, {IndexDescriptor::Type::Inverted, "inverted"}};

std::string meta_key(const IndexDescriptor& d) { return nlohmann::json::array({d.map_name, d.attribute, d.to_json()["indexType"]}).dump(); }

}  // namespace

std::variant<IndexDescriptor, std::string> IndexDescriptor::from_json(const nlohmann::json& j) {
    if (!j.is_object()) return std::string("an index is a JSON object {mapName, attribute, indexType}");
    IndexDescriptor d;
    for (auto [field, out] : {std::pair{"mapName", &d.map_name}, {"attribute", &d.attribute}}) {
        const auto it = j.find(field);
        if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) return std::string(field) + " must be a non-empty string";
        *out = it->get<std::string>();
    }
    if (d.attribute.size() > 256 || d.attribute.front() == '.' || d.attribute.back() == '.' ||
        d.attribute.find("..") != std::string::npos) {
        return "attribute \"" + d.attribute + "\" is not a field path such as \"price\" or \"address.city\"";
    }
    const auto type = j.find("indexType");
    const std::string name = type != j.end() && type->is_string() ? type->get<std::string>() : "";
    const auto known = std::find_if(std::begin(kTypeNames), std::end(kTypeNames), [&](const auto& t) { return t.second == name; });
    if (known != std::end(kTypeNames)) {
        d.type = known->first;
    } else if (name == "vector") {
        return std::string("indexType \"vector\" is not available on this server yet (hash, navigable and inverted are)");
    } else {
        return std::string("indexType must be hash, navigable or inverted");
    }
    return d;
}

nlohmann::json IndexDescriptor::to_json() const {
    const auto name = std::find_if(std::begin(kTypeNames), std::end(kTypeNames), [&](const auto& t) { return t.first == type; })->second;
    return {{"mapName", map_name}, {"attribute", attribute}, {"indexType", name}};
}

void IndexCatalog::add(const IndexDescriptor& index, const Apply& apply) {
    std::lock_guard lock(mutex_);
    std::vector<storage::Mutation> stored;
    if (std::find(indexes_.begin(), indexes_.end(), index) == indexes_.end()) {
        indexes_.push_back(index);
        const std::string text = index.to_json().dump();
        stored.emplace_back(storage::MetaPut{std::string(kMetaNamespace), meta_key(index), Bytes(text.begin(), text.end())});
    }
    if (apply) apply(std::move(stored));
}

bool IndexCatalog::remove(std::string_view map_name, std::string_view attribute, const Apply& apply) {
    std::lock_guard lock(mutex_);
    std::vector<storage::Mutation> forgotten;
    std::erase_if(indexes_, [&](const IndexDescriptor& d) {
        if (d.map_name != map_name || d.attribute != attribute) return false;
        forgotten.emplace_back(storage::MetaErase{std::string(kMetaNamespace), meta_key(d)});
        return true;
    });
    if (forgotten.empty()) return false;
    apply(std::move(forgotten));
    return true;
}

std::vector<IndexDescriptor> IndexCatalog::list() const {
    std::lock_guard lock(mutex_);
    return indexes_;
}

void IndexCatalog::restore(std::string_view value) {
    auto parsed = IndexDescriptor::from_json(nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false));
    if (auto* d = std::get_if<IndexDescriptor>(&parsed)) {
        add(*d);
    } else {
        spdlog::warn("stored index is unreadable ({}); skipped", std::get<std::string>(parsed));
    }
}

}  // namespace topgun::server
