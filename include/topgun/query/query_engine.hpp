// One-shot query execution (PROTOCOL.md §8.3): the rows of a QUERY_RESP, over
// one LWW map or scattered over many partitions and gathered. Both run the
// DAG plan of query_plan.hpp:
//
//   read (planner.hpp: scan, index candidates, or an ordered-index walk that
//   stops after the page) → filter (Predicate::from_query) → [partial group +
//   aggregate → merge (aggregation.hpp)] → rows after the cursor → top-k in
//   the SortOrder (key ascending without sort; limit+1 rows decide has_more,
//   clamped to max_records) → `fields` projection.
//
// Group rows go through the same sort, cursor, limit and projection steps, so
// "sort by __count desc" pages like any other query.
//
// An invalid or foreign cursor is reported ("invalid") and ignored: the page
// starts at the beginning. Errors (a predicate that does not compile, full-text
// ops without a search index, sum/min/max/avg without a field) give no rows.
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/query/query_plan.hpp>

#include <span>

TOPGUN_BEGIN_NAMESPACE
namespace query {

// Over one map (options.indexes are used when they belong to it), rows by
// reference: valid until the map changes (see QueryPage).
inline QueryPage execute_page(const LWWMap& map, const protocol::Query& q, const QueryOptions& options = {}) {
    const QueryPart part{&map, indexes_of(map, options.indexes)};
    QueryRun run(std::span<const QueryPart>(&part, 1), q, options);
    run.run();
    return run.page();
}

// Over one map, rows copied out.
inline QueryResult execute(const LWWMap& map, const protocol::Query& q, const QueryOptions& options = {}) {
    return QueryRun::copied(execute_page(map, q, options));
}

// Scatter/gather over partitions (each with its own indexes); the rows are
// those of one map holding every part's records.
inline QueryResult execute(std::span<const QueryPart> parts, const protocol::Query& q, const QueryOptions& options = {}) {
    QueryRun run(parts, q, options);
    run.run();
    return run.result();
}

}  // namespace query
TOPGUN_END_NAMESPACE
