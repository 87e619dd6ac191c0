// One live query of one connection, on the connection's home shard: the merge
// stage of a query that runs on every shard (service/shard_queries.hpp).
//
// Each shard sends its window's rows and then their ENTER/UPDATE/LEAVE; they
// are written into a private LWW map, the mirror, over which the core's
// LiveQueryRegistry runs the client's query. The shards run it without
// `fields` (the home sorts on full values and projects) and with one row more
// than the limit (so the union of the shards' windows holds the global window
// plus the row that decides hasMore). The global top N of the union of every
// shard's top N+1 is the global top N, so the client's window is exact.
//
// groupBy/aggregations are scatter/gather: each shard groups its own records
// (the where and predicate filter there) and keeps each group's partial row
// live (GroupTable::partial_row: count, each aggregation's accumulator, the
// key the groupBy values come from); the home merges a group's rows from
// every shard into the row one table over the whole map gives
// (merge_partial_rows) and keeps the merged rows in the mirror, where the
// client's sort, limit, cursor and fields run over them. So a write costs the
// home one group's merge over the shards' rows, and the mirror holds one row
// per group, not the matching records.
//
// Until every shard has answered, the mirror only fills (the registry is not
// attached yet, so the rows are indexed once, in bulk, not window by window);
// then QUERY_RESP is the registry's first page, and every later mirror change
// is a QUERY_UPDATE. The query is checked up front against an empty map. A
// shard event marked `echo` (the subscriber's own write of that key) updates
// the mirror without telling the client about that key (PROTOCOL.md §8.4),
// while rows it displaces or promotes are still reported; a group row is
// reported also when the subscriber's write changed it. Full-text leaves are
// answered over the mirror from its own indexes (service/live_text_indexes.hpp):
// the leaves served decide per document, so the mirror's statistics do not
// matter.
#pragma once

#include "service/live_text_indexes.hpp"
#include "service/mirror_map.hpp"
#include "service/shard_queries.hpp"

#include <topgun/crdt/lww_map.hpp>
#include <topgun/hlc.hpp>
#include <topgun/query/aggregation.hpp>
#include <topgun/query/live_query.hpp>

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace topgun::server {

// A grouped query's groups on the home: each shard's partial row per group.
class GroupMerge {
public:
    GroupMerge(const protocol::Query& q, std::size_t shards) : table_(q), shards_(shards) {}

    // Shard `shard`'s partial row of group `id` (nullopt: it has none now).
    // Returns the group's merged row, nullopt when no shard has the group.
    std::optional<Value> update(std::size_t shard, const std::string& id, std::optional<Value> partial) {
        auto it = parts_.find(id);
        if (it == parts_.end()) {
            if (!partial) return std::nullopt;
            it = parts_.try_emplace(id, std::vector<std::optional<Value>>(shards_)).first;
        }
        it->second.at(shard) = std::move(partial);
        std::vector<const Value*> present;
        for (const std::optional<Value>& part : it->second) {
            if (part) present.push_back(&*part);
        }
        if (present.empty()) {
            parts_.erase(it);
            return std::nullopt;
        }
        return table_.merge_partial_rows(present);
    }

private:
    query::GroupTable table_;
    std::size_t shards_;
    std::unordered_map<std::string, std::vector<std::optional<Value>>> parts_;
};

class QuerySubscription {
public:
    using Send = std::function<void(protocol::QueryUpdate)>;

    // The window cap of the reference (max_query_records).
    static constexpr std::size_t kMaxRecords = 10000;

    // `query` is the client's (projection included). Check refused() before use.
    QuerySubscription(std::string query_id, const protocol::Query& query, std::optional<Value> principal,
                      std::size_t shards, Send send)
        : query_id_(std::move(query_id)),
          remaining_(shards),
          send_(std::move(send)),
          query_(query),
          principal_(std::move(principal)),
          mirror_("query-mirror"),
          text_indexes_(mirror_.map()) {
        error_ = text_indexes_.prepare(query);
        if (!error_) {
            query::LiveQueryRegistry probe(mirror_.map(), [](std::span<const query::LiveQueryEvent>) {});
            probe.use_text_indexes(text_indexes_.resolver());
            const query::LiveQueryAdded added = probe.add(query, options());
            if (added.id == 0) error_ = added.initial.error.value_or("invalid query");
        }
        shard_query_ = query;
        shard_query_.projection.reset();
        if (query.group_by || query.aggregations) {
            shard_query_ = protocol::Query{};
            shard_query_.where = query.where;
            shard_query_.predicate = query.predicate;
            shard_query_.group_by = query.group_by;
            shard_query_.aggregations = query.aggregations;
            shard_max_records_ = std::numeric_limits<std::size_t>::max();
            groups_.emplace(query, shards);
            // The home orders, pages and projects the merged rows.
            query_.where.reset();
            query_.predicate.reset();
            query_.group_by.reset();
            query_.aggregations.reset();
        } else if (query.limit) {
            shard_query_.limit = *query.limit == std::numeric_limits<std::uint32_t>::max() ? *query.limit : *query.limit + 1;
        }
    }
    QuerySubscription(const QuerySubscription&) = delete;  // the registry's sink points at this
    QuerySubscription& operator=(const QuerySubscription&) = delete;

    // Why the query was refused (bad predicate, a full-text leaf not served live, bad aggregation).
    const std::optional<std::string>& refused() const noexcept { return error_; }
    const std::string& query_id() const noexcept { return query_id_; }

    // What each shard runs.
    const protocol::Query& shard_query() const noexcept { return shard_query_; }
    query::LiveQueryOptions shard_options(std::optional<Value> principal) const {
        query::LiveQueryOptions o;
        o.max_records = shard_max_records_;
        o.auth = std::move(principal);
        o.partial_groups = groups_.has_value();
        return o;
    }

    // Shard `shard`'s initial window. Returns the QUERY_RESP once every shard answered.
    std::optional<protocol::QueryResp> on_shard_rows(std::size_t shard, std::vector<protocol::QueryResultEntry> rows) {
        for (protocol::QueryResultEntry& row : rows) {
            if (groups_) {
                merge_group(shard, row.key, std::move(row.value));
            } else {
                mirror_.set(row.key, std::move(row.value));
            }
        }
        if (--remaining_ != 0) return std::nullopt;
        registry_ = std::make_unique<query::LiveQueryRegistry>(
            mirror_.map(), [this](std::span<const query::LiveQueryEvent> events) { forward(events); });
        registry_->use_text_indexes(text_indexes_.resolver());
        query::LiveQueryAdded added = registry_->add(query_, options());
        query::QueryResult page = std::move(added.initial);
        protocol::QueryResp resp;
        resp.query_id = query_id_;
        resp.results = std::move(page.rows);
        if (page.has_more) resp.has_more = true;
        resp.next_cursor = std::move(page.next_cursor);
        resp.cursor_status = page.cursor_status;
        return resp;
    }

    void on_shard_events(std::size_t shard, std::vector<ShardQueryEvent>& events) {
        for (ShardQueryEvent& e : events) {
            if (groups_) {
                merge_group(shard, e.key, e.change == protocol::ChangeType::Leave ? std::nullopt : std::optional(std::move(e.value)));
                continue;
            }
            if (e.echo) echo_key_ = e.key;
            if (e.change == protocol::ChangeType::Leave) {
                mirror_.remove(e.key);
            } else {
                mirror_.set(e.key, std::move(e.value));
            }
            echo_key_.reset();
        }
    }

private:
    // A shard's partial row of a group (nullopt: gone from that shard) into the group's merged row.
    void merge_group(std::size_t shard, const std::string& id, std::optional<Value> partial) {
        std::optional<Value> merged = groups_->update(shard, id, std::move(partial));
        if (!merged) {
            if (mirror_.map().get(id) != nullptr) mirror_.remove(id);
            return;
        }
        // A shard's accumulators can change while the row the client reads stays the same.
        if (const Value* current = mirror_.map().get(id); current && query::detail::same_on_wire(*current, *merged)) return;
        mirror_.set(id, std::move(*merged));
    }

    query::LiveQueryOptions options() const {
        query::LiveQueryOptions o;
        o.max_records = kMaxRecords;
        o.auth = principal_;
        return o;
    }

    void forward(std::span<const query::LiveQueryEvent> events) {
        for (const query::LiveQueryEvent& e : events) {
            if (echo_key_ && e.key == *echo_key_) continue;
            send_(e.to_update(query_id_));
        }
    }

    std::string query_id_;
    std::size_t remaining_;
    Send send_;
    protocol::Query query_;
    std::optional<Value> principal_;
    MirrorMap mirror_;
    LiveTextIndexes text_indexes_;  // over mirror_; the registry reads them until it is destroyed
    std::unique_ptr<query::LiveQueryRegistry> registry_;  // once every shard answered; after mirror_: detaches first
    std::optional<std::string> error_;
    protocol::Query shard_query_;
    std::size_t shard_max_records_ = kMaxRecords + 1;
    std::optional<std::string> echo_key_;
    std::optional<GroupMerge> groups_;  // groupBy/aggregations
};

}  // namespace topgun::server
