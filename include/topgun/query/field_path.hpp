// Dot paths into record values ("address.city"), as predicate attributes and
// sort fields name them (PROTOCOL.md §8.2): each segment is a map key; a
// non-map intermediate means "not found", never an array index.
#pragma once

#include <topgun/config.hpp>
#include <topgun/value.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

// Resolves `path` in `root`; nullptr when a segment is missing or an
// intermediate is not a map. The empty path names the root itself.
inline const Value* resolve_path(const Value& root, std::string_view path) noexcept {
    const Value* cur = &root;
    if (path.empty()) return cur;
    for (;;) {
        const std::size_t dot = path.find('.');
        cur = cur->find(path.substr(0, dot));
        if (cur == nullptr || dot == std::string_view::npos) return cur;
        path.remove_prefix(dot + 1);
    }
}

// A path split once, for evaluation against many records.
class FieldPath {
public:
    FieldPath() = default;
    explicit FieldPath(std::string_view path) : text_(path) {
        if (path.empty()) return;
        for (;;) {
            const std::size_t dot = path.find('.');
            segments_.emplace_back(path.substr(0, dot));
            if (dot == std::string_view::npos) break;
            path.remove_prefix(dot + 1);
        }
    }

    const Value* resolve(const Value& root) const noexcept {
        const Value* cur = &root;
        for (const std::string& segment : segments_) {
            cur = cur->find(segment);
            if (cur == nullptr) return nullptr;
        }
        return cur;
    }

    const std::string& text() const noexcept { return text_; }
    const std::vector<std::string>& segments() const noexcept { return segments_; }

private:
    std::string text_;
    std::vector<std::string> segments_;
};

}  // namespace query
TOPGUN_END_NAMESPACE
