// The BM25 indexes that live queries' full-text leaves (match, matchPhrase)
// are answered from, over one LWW map: a shard's part of a map
// (service/shard_queries.hpp) or a subscription's mirror of the shards'
// windows (session/query_subscription.hpp): query::TextIndexes, one index per
// attribute, as on the WASM replica.
//
// Only leaves that decide per document are served
// (query::TextMatches::per_document): their answer does not depend on corpus
// statistics, which over a map spread across shards would be one shard's.
// minScore, fuzziness and matchPrefix are refused with a message.
// Touched only on its map's thread.
#pragma once

#include <topgun/protocol/query_types.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/query/text_indexes.hpp>

#include <optional>
#include <string>

namespace topgun::server {

class LiveTextIndexes {
public:
    explicit LiveTextIndexes(LWWMap& map) : indexes_(map) {}

    // Makes the indexes the query's full-text leaves name, and says why when
    // the query cannot be served (nullopt: it can, or it has no such leaves or
    // does not compile, which the registry reports). Not while the map reports
    // a change: an index subscribes to it.
    std::optional<std::string> prepare(const protocol::Query& q) {
        const std::optional<query::Predicate> predicate = query::Predicate::from_query(q);
        if (!predicate || !predicate->needs_search_index()) return std::nullopt;
        indexes_.add_for(*predicate);
        if (query::TextMatches::per_document(*predicate, resolver())) return std::nullopt;
        return std::string(
            "predicate: full-text leaves with minScore, fuzziness or matchPrefix are not supported in live queries "
            "(their answers depend on statistics of the whole map, which is spread over shards); use SEARCH_SUB");
    }

    query::TextIndexResolver resolver() const { return indexes_.resolver(); }

private:
    query::TextIndexes indexes_;
};

}  // namespace topgun::server
