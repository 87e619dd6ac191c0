// SEARCH in the core's terms (PROTOCOL.md §9.1): the wire's options as the
// index's, and the index's hits as the wire's result entries with the
// records' values. One reading of the options for every place that searches
// a map (the server's per-map index, the WASM replica's local search).
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/search.hpp>
#include <topgun/search/bm25.hpp>

#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace search {

// Limit 10 and minScore 0 unless given. Boosts name fields: a member's name
// in an index by member (TextFields::ByMember, the server's), a path in one
// with field paths; over one unnamed field they change nothing.
inline SearchOptions from_wire(const protocol::SearchOptions& o) {
    SearchOptions out;
    out.limit = o.limit.value_or(10);
    out.min_score = o.min_score.value_or(0);
    if (o.boost) {
        for (const auto& [field, boost] : *o.boost) out.boosts.push_back(FieldBoost{field, boost});
    }
    return out;
}

// The hits in their order, each with its record's value from `map`. A hit
// whose record expired since it was indexed (the index drops it when the map
// reports the expiry) is left out.
inline std::vector<protocol::SearchResultEntry> with_values(std::vector<SearchResult> hits, const LWWMap& map) {
    std::vector<protocol::SearchResultEntry> out;
    out.reserve(hits.size());
    for (SearchResult& h : hits) {
        const Value* v = map.get(h.key);
        if (v == nullptr) continue;
        out.push_back(protocol::SearchResultEntry{std::move(h.key), *v, h.score, std::move(h.matched_terms)});
    }
    return out;
}

// The best `options.limit` hits of `index` over `map` whose records are live,
// with their values: when expired records not yet dropped from the index take
// places in the top hits, it searches again for more.
inline std::vector<protocol::SearchResultEntry> live_hits(const Bm25Index& index, std::string_view query, SearchOptions options,
                                                          const LWWMap& map) {
    const std::size_t wanted = options.limit;
    for (;;) {
        std::vector<SearchResult> hits = index.search(query, options);
        const bool all = hits.size() < options.limit;
        std::vector<protocol::SearchResultEntry> out = with_values(std::move(hits), map);
        if (out.size() >= wanted || all) {
            if (out.size() > wanted) out.resize(wanted);
            return out;
        }
        options.limit *= 2;
    }
}

}  // namespace search
TOPGUN_END_NAMESPACE
