// The BM25 indexes that live queries' full-text leaves (match, matchPhrase)
// are answered from, over one LWW map: a shard's part of a map
// (service/shard_queries.hpp) or a subscription's mirror of the shards'
// windows (session/query_subscription.hpp). One index per attribute, made
// when a query first names it, lower-casing like SEARCH's.
//
// Only leaves that decide per document are served
// (query::TextMatches::per_document): their answer does not depend on corpus
// statistics, which over a map spread across shards would be one shard's.
// minScore, fuzziness and matchPrefix are refused with a message.
// Touched only on its map's thread.
#pragma once

#include <topgun/crdt/lww_map.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/query/text_match.hpp>
#include <topgun/search/map_index.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topgun::server {

class LiveTextIndexes {
public:
    explicit LiveTextIndexes(LWWMap& map) : map_(&map) {}
    LiveTextIndexes(const LiveTextIndexes&) = delete;  // resolvers point at this
    LiveTextIndexes& operator=(const LiveTextIndexes&) = delete;

    // Makes the indexes the query's full-text leaves name, and says why when
    // the query cannot be served (nullopt: it can, or it has no such leaves or
    // does not compile, which the registry reports). Not while the map reports
    // a change: an index subscribes to it.
    std::optional<std::string> prepare(const protocol::Query& q) {
        const std::optional<query::Predicate> predicate = query::Predicate::from_query(q);
        if (!predicate || !predicate->needs_search_index()) return std::nullopt;
        add_indexes(predicate->root());
        if (query::TextMatches::per_document(*predicate, resolver())) return std::nullopt;
        return std::string(
            "predicate: full-text leaves with minScore, fuzziness or matchPrefix are not supported in live queries "
            "(their answers depend on statistics of the whole map, which is spread over shards); use SEARCH_SUB");
    }

    query::TextIndexResolver resolver() const {
        return [this](std::string_view attribute) -> const search::Bm25Index* {
            const auto it = indexes_.find(attribute);
            return it == indexes_.end() ? nullptr : &it->second->index();
        };
    }

private:
    void add_indexes(const query::Predicate::Node& n) {
        using Op = query::Predicate::Op;
        if (n.op == Op::Match || n.op == Op::MatchPhrase || n.op == Op::MatchPrefix) {
            const std::string& attribute = n.attribute.text();
            if (indexes_.find(attribute) == indexes_.end()) {
                indexes_.emplace(attribute, std::make_unique<search::MapSearchIndex>(
                                                *map_, std::vector<search::IndexedField>{{attribute, 1.0}}));
            }
        }
        for (const query::Predicate::Node& child : n.children) add_indexes(child);
    }

    LWWMap* map_;
    std::map<std::string, std::unique_ptr<search::MapSearchIndex>, std::less<>> indexes_;
};

}  // namespace topgun::server
