// LwwReplica: one LWW map with its own HLC, for JavaScript. A coarse surface:
// one call per batch of local writes, per server frame's records, per Merkle
// node; everything in and out as MsgPack (replica_messages.hpp). A call that
// gets malformed input changes nothing and returns `{error}`.
//
// Queries run on the replica with the server's engine (same results, offline
// too): query() once, addQuery() live — its ENTER/UPDATE/LEAVE wait in
// takeQueryEvents() until JS drains them after the writes or merges that
// caused them, so one drain serves a whole batch. They live in
// lww_replica_queries.cpp, which is compiled for size: the query engine is
// most of the module, the CRDT paths in lww_replica.cpp are the hot ones.
//
// Full-text search runs on the replica too (lww_replica_search.cpp): a BM25
// index built on the first search (or by enableSearch, which picks the fields)
// and kept in step with every write and merge from then on. Queries' full-text
// leaves have indexes of their own, one per attribute (query::TextIndexes).
#pragma once

#include "batch_clock.hpp"
#include "server_frame.hpp"

#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/protocol/search.hpp>
#include <topgun/query/live_query.hpp>

#include <emscripten/val.h>

#include <memory>
#include <string>
#include <vector>

namespace topgun::search {
class MapSearchIndex;
class LiveSearch;
}
namespace topgun::query {
class TextIndexes;
}

namespace topgun::wasm {

// A page as the QUERY_RESP body the server would send; queryId is the live
// query's id ("0": one-shot or refused). In lww_replica_queries.cpp.
protocol::QueryResp page_body(query::LiveQueryId id, query::QueryResult page);

class LwwReplica {
public:
    // The node id must be valid (validNodeId); the JS layer checks it first,
    // since the HLC constructor's exception cannot be caught in this build.
    explicit LwwReplica(const std::string& node_id);
    ~LwwReplica();
    LwwReplica(const LwwReplica&) = delete;  // live queries point at map_
    LwwReplica& operator=(const LwwReplica&) = delete;

    // LocalWrites in; out a Float64Array of [millis, counter, ttlMs or 0] per
    // write: the stamps of the records the writes produced (the caller has
    // their keys and values, and this replica's node id).
    emscripten::val apply_local(const emscripten::val& input);
    // KeyedRecords in (records from elsewhere, or a snapshot); MergeOutcome out.
    emscripten::val merge(const emscripten::val& input);
    // The same for the records a server frame carries for map_name.
    emscripten::val merge_frame(ServerFrame& frame, const std::string& map_name);
    // The live value's MsgPack, or undefined.
    emscripten::val get(const std::string& key) const;
    emscripten::val entries() const;
    // Every stored record, tombstones included: restore() is merge().
    emscripten::val snapshot() const;
    double root_hash() const { return map_.merkle().root_hash(); }
    emscripten::val buckets(const std::string& path) const;
    emscripten::val leaf(const std::string& path) const;
    double size() const { return static_cast<double>(map_.size()); }
    // Tells the live queries and the search index of records whose TTL ran
    // out since the last call, keeping the records (LWWMap::report_expired):
    // the keys, as an array. Free while no record has ever had a TTL.
    emscripten::val report_expired();

    // A Query in; its page (a QUERY_RESP body) out. Full-text leaves (match,
    // matchPhrase, matchPrefix) are answered from an index per attribute,
    // made when a query first names it and kept in step from then on.
    emscripten::val query(const emscripten::val& input);
    // A Query in; its first page out, queryId naming the live query (0 when refused, with error).
    emscripten::val add_query(const emscripten::val& input);
    bool remove_query(double id);
    // The current page of a live query, or undefined for an unknown id.
    emscripten::val query_page(double id) const;
    // The events since the last call, as QUERY_UPDATE bodies (queryId = the id), in order.
    emscripten::val take_query_events();

    // SearchSetup in: (re)builds the search index over the fields named, or
    // every string; undefined, or {error}.
    emscripten::val enable_search(const emscripten::val& input);
    // LocalSearch in; a SEARCH_RESP body out: the best hits with their values.
    emscripten::val search(const emscripten::val& input);
    // LocalSearch in; a standing search's hits out, as search() answers, with
    // requestId naming it. Its changes wait in take_search_events().
    emscripten::val add_search(const emscripten::val& input);
    bool remove_search(double id);
    // The standing searches' changes since the last call, as SEARCH_UPDATE
    // bodies (subscriptionId = the id), in order; values as they are now.
    emscripten::val take_search_events();

private:
    // Merges the `count` records `each(take)` hands to take(key, record); the
    // MergeOutcome body out.
    template <class Each>
    emscripten::val merge_records(std::size_t count, Each&& each);
    // The text indexes with those the query's full-text leaves name.
    query::TextIndexes& text_indexes_for(const protocol::Query& q);
    // The search index, built over every string on first use.
    search::MapSearchIndex& search_index();

    BatchClock clock_;
    HLC hlc_;
    LWWMap map_;
    std::unique_ptr<query::TextIndexes> text_indexes_;  // after map_: detaches from it first
    std::unique_ptr<query::LiveQueryRegistry> live_;     // after both: reads the text indexes until it goes
    std::unique_ptr<search::MapSearchIndex> search_;  // the same
    std::unique_ptr<search::LiveSearch> live_search_;  // after search_: stops observing it first
    std::vector<protocol::SearchUpdate> search_events_;
    std::vector<query::LiveQueryEvent> pending_;
    bool had_ttl_ = false;  // a write or merge brought a record with a TTL
};

}  // namespace topgun::wasm
