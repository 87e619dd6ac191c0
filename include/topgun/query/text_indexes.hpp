// The BM25 indexes that full-text predicate leaves (match, matchPhrase,
// matchPrefix) are answered from, over one LWW map: one per attribute, made
// when a predicate first names it (the strings under that path, split and
// lower-cased as SEARCH indexes them) and kept in step with the map.
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/query/text_match.hpp>
#include <topgun/search/map_index.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

class TextIndexes {
public:
    explicit TextIndexes(LWWMap& map) : map_(&map) {}
    TextIndexes(const TextIndexes&) = delete;  // resolvers point at this
    TextIndexes& operator=(const TextIndexes&) = delete;

    // Makes the indexes the predicate's full-text leaves name. Not while the
    // map reports a change: an index subscribes to it.
    void add_for(const Predicate& predicate) { add_for(predicate.root()); }

    // Answers for the attributes indexed so far (nullptr for any other).
    TextIndexResolver resolver() const {
        return [this](std::string_view attribute) -> const search::Bm25Index* {
            const auto it = indexes_.find(attribute);
            return it == indexes_.end() ? nullptr : &it->second->index();
        };
    }

private:
    void add_for(const Predicate::Node& n) {
        using Op = Predicate::Op;
        if (n.op == Op::Match || n.op == Op::MatchPhrase || n.op == Op::MatchPrefix) {
            const std::string& attribute = n.attribute.text();
            if (indexes_.find(attribute) == indexes_.end()) {
                indexes_.emplace(attribute, std::make_unique<search::MapSearchIndex>(
                                                *map_, std::vector<search::IndexedField>{{attribute, 1.0}}));
            }
        }
        for (const Predicate::Node& child : n.children) add_for(child);
    }

    LWWMap* map_;
    std::map<std::string, std::unique_ptr<search::MapSearchIndex>, std::less<>> indexes_;
};

}  // namespace query
TOPGUN_END_NAMESPACE
