// Standing queries over one LWW map (PROTOCOL.md §8.4): a registry that keeps
// every live query's result current as the map changes and reports the
// difference as ENTER / UPDATE / LEAVE events.
//
// Windows. A query's rows are its matching records (or group rows) strictly
// after its cursor; its window is the first min(limit, max_records) of them in
// the one total SortOrder (no limit: up to max_records), exactly the rows
// query::execute would return now. Unlike the reference, which only promotes
// rows its window has seen, every row is kept in an ordered set
// (live_window.hpp), so a promotion after a delete picks the right row.
// add() returns the initial page computed from that set; it equals
// query::execute on the same map (rows, order, has_more, next_cursor,
// cursor_status), and page(id) gives the same for the current state.
//
// Events. Every map change (set, remove, merge, prune, expire, clear) yields,
// per affected query, the minimal difference between its window before and
// after: a row entering → ENTER; a row leaving (deleted, no longer matching,
// moved out of the window, displaced) → LEAVE, plus ENTER of the row promoted
// into its place; a row that stays in the window → UPDATE when its projected
// value changed or it moved among the other rows. An UPDATE whose projected
// value encodes to the same MsgPack bytes as before (what the client sees)
// and whose position is unchanged is suppressed, so a write to a field
// outside `fields` or a rewrite of the same value emits nothing; so does any
// write that changes nothing in a window.
// Events carry the row value projected by `fields` (nil for LEAVE). The events
// of one change go to the sink in one call, grouped by query (ascending id);
// within a query LEAVEs come first, then UPDATEs, then ENTERs, so a client's
// copy never holds more than `limit` rows.
//
// Grouped queries (groupBy / aggregations) are live too: each group keeps the
// keys of its member records, and a write recomputes the (at most two) groups
// it leaves and joins, with query::execute's own row builder (GroupTable);
// a write to a field no group row reads changes nothing. Group rows, keyed by
// bucket id, are windowed, sorted, cursored and projected like records.
// Recomputing a group reads its members' values: O(group size) for
// sum/min/max/avg, O(log n) when every aggregation is a count. Groups add
// their members in key order, execute in storage order, so the two agree
// exactly except for what depends on that order: float sums of non-integers
// may round differently, and min/max of members holding equal values of
// different types (42 and 42.0) may show the other one.
//
// Which queries a write can affect: the queries the key belongs to now (an
// exact key → membership index kept by the registry) and those whose predicate
// the new value may satisfy (the reverse index of live_reverse_index.hpp:
// equality and `in` clauses file a query under (field, value), range clauses
// under (field, interval); the rest are checked on every write). Removals
// only touch the key's own queries.
//
// "auth.<path>" valueRefs resolve against the principal given per query in
// LiveQueryOptions::auth. Any query execute rejects is rejected by add() with
// the same message.
//
// Full-text predicates (match, matchPhrase, matchPrefix) need the indexes of
// use_text_indexes (the resolver execute takes), kept current by listeners
// that run before the registry's (LWWMap::subscribe_index). A node matches
// what a fresh search would match, so windows stay equal to execute:
//   per document  (plain or phrase words, no fuzziness, no minScore: see
//                 TextMatches::per_document) only a record's own write can
//                 change whether it matches; such a query is a candidate
//                 like any other, its match nodes score the written document
//                 alone, and phrase nodes search again when the index changed.
//   otherwise     BM25 scores and prefix/fuzzy expansions move with every
//                 write, so the query searches again after each change of the
//                 index and re-checks the written key and every key whose
//                 full-text answers changed (cost: its searches, per write).
//
// Expiry: a record whose TTL has passed stays in the windows until the map
// reports it — remove_expired() (a server's sweep) or report_expired() (a
// client's, keeping the record); the change stream is the registry's only
// input, so sweep regularly. During a sweep a row may be promoted and then
// expire in the same sweep, giving ENTER then LEAVE.
//
// Lifetime: the registry subscribes to its map on construction and
// unsubscribes in its destructor; the map must outlive it and must not move
// while it is attached (rows hold views of the map's record keys). The sink
// runs synchronously inside the map's change notification, after the
// registry has finished the change: it may add and remove queries, but must
// not write to the map (the map may be in the middle of a sweep).
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/bit_cast.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/msgpack/writer.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/query.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/query/aggregation.hpp>
#include <topgun/query/cursor.hpp>
#include <topgun/query/live_reverse_index.hpp>
#include <topgun/query/live_window.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/query/query_engine.hpp>
#include <topgun/query/sort_order.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

using LiveQueryId = std::uint64_t;


struct LiveQueryOptions {
    std::size_t max_records = 10000;  // window size cap, as QueryOptions::max_records
    std::optional<Value> auth;        // the subscriber's principal for "auth.<path>" valueRefs
    // Grouped queries: rows are GroupTable::partial_rows, for a merge of this
    // map's rows with other parts' (a server's shards).
    bool partial_groups = false;
};

struct LiveQueryEvent {
    LiveQueryId query = 0;
    std::string key;
    protocol::ChangeType change_type = protocol::ChangeType::Enter;
    Value value;  // projected by `fields`; nil for LEAVE

    protocol::QueryUpdate to_update(std::string query_id) const {
        return protocol::QueryUpdate{std::move(query_id), key, value, change_type};
    }
    friend bool operator==(const LiveQueryEvent&, const LiveQueryEvent&) = default;
};

struct LiveQueryAdded {
    LiveQueryId id = 0;  // 0 when refused; initial.error says why
    QueryResult initial;
};

struct LiveQueryStats {
    std::uint64_t changes = 0;     // map changes seen
    std::uint64_t candidates = 0;  // queries examined over all changes
};

namespace detail {

// Same types and contents all the way down (Value's == treats 1 and 1.0 as
// equal; the registry keeps exactly what execute would return).
inline bool identical(const Value& a, const Value& b) noexcept {
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case Value::Type::Nil:
            return true;
        case Value::Type::Bool:
            return a.as_bool() == b.as_bool();
        case Value::Type::Int:
            return a.as_int() == b.as_int();
        case Value::Type::UInt:
            return a.as_uint() == b.as_uint();
        case Value::Type::Double:
            return ::topgun::detail::bit_cast<std::uint64_t>(a.as_double()) == ::topgun::detail::bit_cast<std::uint64_t>(b.as_double());
        case Value::Type::String:
            return a.as_string() == b.as_string();
        case Value::Type::Binary:
            return a.as_binary() == b.as_binary();
        case Value::Type::Array:
            return std::equal(a.as_array().begin(), a.as_array().end(), b.as_array().begin(), b.as_array().end(),
                              [](const Value& x, const Value& y) { return identical(x, y); });
        case Value::Type::Map:
            return std::equal(
                a.as_map().begin(), a.as_map().end(), b.as_map().begin(), b.as_map().end(),
                [](const auto& x, const auto& y) { return x.first == y.first && identical(x.second, y.second); });
    }
    return false;
}

// Whether the client could tell the values apart: equal MsgPack bytes. Only
// numbers can differ in type and still encode alike (a whole double is
// written as the integer, as msgpackr writes JS numbers); numerically
// different numbers never encode alike.
inline bool same_on_wire(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (identical(a, b)) return true;
        if (Value::compare(a, b) != 0) return false;
        msgpack::Writer wa, wb;
        wa.value(a);
        wb.value(b);
        const auto a_bytes = wa.bytes();
        const auto b_bytes = wb.bytes();
        return std::equal(a_bytes.begin(), a_bytes.end(), b_bytes.begin(), b_bytes.end());
    }
    if (a.type() != b.type()) return false;
    switch (a.type()) {
        case Value::Type::Array:
            return std::equal(a.as_array().begin(), a.as_array().end(), b.as_array().begin(), b.as_array().end(),
                              [](const Value& x, const Value& y) { return same_on_wire(x, y); });
        case Value::Type::Map:
            return std::equal(
                a.as_map().begin(), a.as_map().end(), b.as_map().begin(), b.as_map().end(),
                [](const auto& x, const auto& y) { return x.first == y.first && same_on_wire(x.second, y.second); });
        default:
            return identical(a, b);
    }
}

// The same for the `fields` projections of two values, without building them.
inline bool same_projection_on_wire(const Value& a, const Value& b, const std::vector<std::string>& fields) {
    if (!a.is_map() || !b.is_map()) return same_on_wire(a, b);  // scalars are not projected
    const auto kept = [&](const Value::Member& m) {
        return std::find(fields.begin(), fields.end(), m.first) != fields.end();
    };
    auto x = a.as_map().begin(), y = b.as_map().begin();
    const auto x_end = a.as_map().end(), y_end = b.as_map().end();
    for (;;) {
        while (x != x_end && !kept(*x)) ++x;
        while (y != y_end && !kept(*y)) ++y;
        if (x == x_end || y == y_end) return x == x_end && y == y_end;
        if (x->first != y->first || !same_on_wire(x->second, y->second)) return false;
        ++x, ++y;
    }
}

struct LiveGroup {
    std::string_view id;  // the bucket id: the key of the group's node in LiveGrouping::groups
    // Member record keys (views of the map's), in key order: the first one
    // supplies the groupBy values, as in GroupTable.
    std::set<std::string_view> members;
    Value value;                          // the group row, unprojected (nil before the first computation)
    std::optional<LiveWindow::Iter> row;  // set while the row is after the cursor
};

struct LiveGrouping {
    LiveGrouping(const protocol::Query& q, bool partial_rows) : table(q), partial(partial_rows) {
        if (q.group_by) {
            for (const std::string& f : *q.group_by) group_paths.emplace_back(f);
        }
        if (q.aggregations) {
            for (const protocol::Aggregation& a : *q.aggregations) {
                counts_only = counts_only && a.func == protocol::AggregateFunction::Count;
                aggregation_paths.emplace_back(a.field.value_or(""));
                aggregations.push_back(a.func);
            }
        }
        for (const FieldPath& p : group_paths) read_paths.push_back(&p);
        for (std::size_t i = 0; i < aggregations.size(); ++i) {
            if (aggregations[i] != protocol::AggregateFunction::Count) read_paths.push_back(&aggregation_paths[i]);
        }
    }
    LiveGrouping(const LiveGrouping&) = delete;  // read_paths point into this
    LiveGrouping& operator=(const LiveGrouping&) = delete;

    GroupTable table;  // builds the rows, exactly as execute does
    bool partial;      // rows are partial rows (LiveQueryOptions::partial_groups)
    std::vector<FieldPath> group_paths;
    std::vector<protocol::AggregateFunction> aggregations;
    std::vector<FieldPath> aggregation_paths;
    std::vector<const FieldPath*> read_paths;  // every field a group row depends on
    bool counts_only = true;                   // no aggregation reads field values
    std::map<std::string, LiveGroup, std::less<>> groups;
};

struct LiveQueryState {
    LiveQueryState(LiveQueryId id_, const protocol::Query& q, Predicate p, std::optional<Value> principal,
                   std::size_t capacity)
        : id(id_),
          query(q),
          predicate(std::move(p)),
          auth(std::move(principal)),
          shape(query_shape_hash(q)),
          window(q.sort ? SortOrder(*q.sort) : SortOrder(), capacity) {}

    const Value* principal() const noexcept { return auth ? &*auth : nullptr; }
    const SortOrder& order() const noexcept { return window.order(); }

    // Rows before or at the cursor do not belong to the query.
    bool after_cursor(const Slots& slots, std::string_view key) const {
        if (!cursor) return true;
        return with_slot_pointers(slots, [&](std::span<const Value* const> s) {
                   return order().compare(s, key, cursor_slots, cursor->key);
               }) > 0;
    }

    Value project(const Value& v) const { return query.projection ? detail::project(v, *query.projection) : v; }
    bool same_projection(const Value& a, const Value& b) const {
        return query.projection ? same_projection_on_wire(a, b, *query.projection) : same_on_wire(a, b);
    }

    LiveQueryId id;
    protocol::Query query;
    Predicate predicate;
    std::optional<TextMatches> text;  // full-text queries: the searches' last results
    bool text_per_document = true;    // see TextMatches::per_document
    std::optional<Value> auth;
    std::uint64_t shape;
    std::optional<Cursor> cursor;
    std::vector<const Value*> cursor_slots;  // into cursor->slots
    protocol::CursorStatus cursor_status = protocol::CursorStatus::None;
    std::unique_ptr<LiveGrouping> grouping;  // groupBy / aggregations
    LiveWindow window;
    std::uint64_t stamp = 0;  // the registry's change number when last picked as a candidate
};

// One query a record key belongs to: its row (plain queries) or its group.
struct LiveMember {
    LiveQueryState* query;
    LiveWindow::Iter row;
    LiveGroup* group = nullptr;
};

}  // namespace detail

class LiveQueryRegistry {
    using State = detail::LiveQueryState;
    using Touch = detail::LiveWindow::Touch;

public:
    // Receives the events of one map change (never an empty span).
    using Sink = std::function<void(std::span<const LiveQueryEvent>)>;

    LiveQueryRegistry(LWWMap& map, Sink sink) : map_(&map), sink_(std::move(sink)) {
        subscription_ = map.subscribe([this](const LWWChange& change) { on_change(change); });
    }
    ~LiveQueryRegistry() { map_->unsubscribe(subscription_); }
    LiveQueryRegistry(const LiveQueryRegistry&) = delete;  // the map's listener points at this
    LiveQueryRegistry& operator=(const LiveQueryRegistry&) = delete;

    // Where a query's first rows come from: the source gives `visit` each
    // record of the map that `accepts` keeps. Without one, the registry scans
    // the map; a server gives the query's DAG plan (query::for_each_match:
    // index candidates or a scan → filter → visit). A hook rather than an
    // IndexSet pointer, so the planner and the executor stay out of this path
    // where there are no indexes; browser builds, which have none, leave the
    // hook out altogether (it cost the download 260 bytes).
    using RecordFilter = std::function<bool(std::string_view key, const Value& value)>;
    using RecordVisitor = std::function<void(std::string_view key, const Value& value)>;
    using MatchSource = std::function<void(const Predicate&, const RecordFilter& accepts, const RecordVisitor& visit)>;
    template <class Source>
        requires(!TOPGUN_BROWSER_BUILD && std::is_constructible_v<MatchSource, Source>)
    void use_match_source(Source source) {
        match_source_ = std::move(source);
    }

    // The search indexes full-text nodes are answered from (see the header);
    // without them such queries are refused as execute refuses them.
    void use_text_indexes(TextIndexResolver resolve) { text_indexes_ = std::move(resolve); }

    // Registers a standing query and returns its initial page (equal to
    // query::execute with the same max_records and auth). Refused (id 0,
    // initial.error set, as execute reports it) when execute would fail.
    LiveQueryAdded add(const protocol::Query& q, LiveQueryOptions options = {}) {
        LiveQueryAdded out;
        std::string error;
        std::optional<Predicate> predicate = Predicate::from_query(q, &error);
        if (!predicate) {
            out.initial.error = std::move(error);
            return out;
        }
        std::optional<TextMatches> text;
        bool text_per_document = true;
        if (predicate->needs_search_index()) {
            text_per_document = TextMatches::per_document(*predicate, text_indexes_);
            text = TextMatches::run(*predicate, text_indexes_, &error, text_per_document);
            if (!text) {
                out.initial.error = std::move(error);
                return out;
            }
        }
        if (auto invalid = validate_aggregations(q)) {
            out.initial.error = std::move(*invalid);
            return out;
        }

        const std::size_t limit = q.limit ? *q.limit : std::numeric_limits<std::size_t>::max();
        auto state = std::make_unique<State>(next_id_++, q, std::move(*predicate), std::move(options.auth),
                                             std::min(limit, options.max_records));
        State& s = *state;
        if (text) {
            s.text = std::move(text);
            s.text_per_document = text_per_document;
            if (!s.text_per_document) corpus_text_queries_.push_back(&s);
        }
        if (q.group_by || q.aggregations) s.grouping = std::make_unique<detail::LiveGrouping>(q, options.partial_groups);
        if (q.cursor) {
            s.cursor = Cursor::decode(*q.cursor);
            if (s.cursor && (s.cursor->shape != s.shape || s.cursor->slots.size() != s.order().size())) {
                s.cursor.reset();
            }
            s.cursor_status = s.cursor ? protocol::CursorStatus::Valid : protocol::CursorStatus::Invalid;
            if (s.cursor) s.cursor_slots = s.cursor->slot_pointers();
        }

        if (s.grouping) {
            build_groups(s);
        } else {
            build_rows(s);
        }
        index_.add(&s, s.predicate, s.principal());
        out.id = s.id;
        out.initial = page_of(s);
        queries_.emplace(s.id, std::move(state));
        return out;
    }

    // Stops a query's events; false when the id is unknown.
    bool remove(LiveQueryId id) {
        const auto it = queries_.find(id);
        if (it == queries_.end()) return false;
        State& s = *it->second;
        index_.remove(&s);
        std::erase(corpus_text_queries_, &s);
        if (s.grouping) {
            for (const auto& [bucket, group] : s.grouping->groups) {
                for (const std::string_view key : group.members) drop_member(key, s);
            }
        } else {
            for (auto row = s.window.begin(); row != s.window.end(); ++row) drop_member(row->key, s);
        }
        queries_.erase(it);
        return true;
    }

    // The query's current page, as execute would return it now (nullopt for an
    // unknown id).
    std::optional<QueryResult> page(LiveQueryId id) const {
        const auto it = queries_.find(id);
        if (it == queries_.end()) return std::nullopt;
        return page_of(*it->second);
    }

    std::size_t size() const noexcept { return queries_.size(); }
    const LiveQueryStats& stats() const noexcept { return stats_; }
    // Queries on the reverse index's "check always" list.
    std::size_t checked_always() const noexcept { return index_.checked_always(); }

private:
    struct Candidate {
        State* query;
        std::optional<detail::LiveMember> old;  // set when the key belongs to the query
        bool rescan_only = false;               // the written key cannot belong to it (see apply_with_rescan)
    };

    // ---- building ----------------------------------------------------------

    // f(key, value) for each record the query accepts.
    template <class F>
    void for_each_match(State& s, F&& f) {
        if constexpr (!TOPGUN_BROWSER_BUILD) {
            if (match_source_) {
                match_source_(s.predicate, RecordFilter([&](std::string_view key, const Value& value) {
                                  return accepts(s, key, value);
                              }),
                              RecordVisitor(std::ref(f)));
                return;
            }
        }
        map_->for_each([&](std::string_view key, const Value& value) {
            if (accepts(s, key, value)) f(key, value);
        });
    }

    void build_rows(State& s) {
        std::vector<detail::WindowRow> rows;
        for_each_match(s, [&](std::string_view key, const Value& value) {
            detail::Slots slots = detail::resolve_slots(s.order(), value);
            if (s.after_cursor(slots, key)) rows.push_back(detail::WindowRow{key, std::move(slots)});
        });
        s.window.assign(std::move(rows));
        for (auto row = s.window.begin(); row != s.window.end(); ++row) add_member(row->key, {&s, row, nullptr});
    }

    void build_groups(State& s) {
        detail::LiveGrouping& g = *s.grouping;
        if (g.group_paths.empty()) group_node(g, "");  // one group over everything, present even when empty
        for_each_match(s, [&](std::string_view key, const Value& value) {
            group_node(g, bucket_of(g, value)).members.insert(key);
        });
        std::vector<detail::WindowRow> rows;
        for (auto& [bucket, group] : g.groups) {
            group.value = group_value(g, group);
            detail::Slots slots = detail::resolve_slots(s.order(), group.value);
            if (s.after_cursor(slots, group.id)) rows.push_back(detail::WindowRow{group.id, std::move(slots)});
            for (const std::string_view key : group.members) add_member(key, {&s, s.window.end(), &group});
        }
        s.window.assign(std::move(rows));
        for (auto row = s.window.begin(); row != s.window.end(); ++row) g.groups.find(row->key)->second.row = row;
    }

    QueryResult page_of(const State& s) const {
        QueryResult r;
        r.cursor_status = s.cursor_status;
        const std::size_t count = s.window.window_size();
        r.rows.reserve(count);
        auto row = s.window.begin();
        for (std::size_t i = 0; i < count; ++i, ++row) {
            r.rows.push_back(protocol::QueryResultEntry{std::string(row->key), s.project(row_value(s, row->key))});
        }
        r.has_more = s.window.has_more();
        if (r.has_more && s.query.limit && s.query.sort && count > 0) {
            const auto last = s.window.last();
            Cursor next;
            next.shape = s.shape;
            next.key = std::string(last->key);
            next.slots = last->slots;
            r.next_cursor = next.encode();
        }
        return r;
    }

    // The unprojected value of a row in the query's set.
    const Value& row_value(const State& s, std::string_view key) const {
        if (s.grouping) return s.grouping->groups.find(key)->second.value;
        return stored_value(key);
    }

    // ---- groups ------------------------------------------------------------

    static detail::LiveGroup& group_node(detail::LiveGrouping& g, std::string_view bucket) {
        auto it = g.groups.find(bucket);
        if (it == g.groups.end()) {
            it = g.groups.emplace(std::string(bucket), detail::LiveGroup{}).first;
            it->second.id = it->first;
        }
        return it->second;
    }

    static std::string bucket_of(const detail::LiveGrouping& g, const Value& record) {
        std::string id;
        for (const FieldPath& p : g.group_paths) query::detail::append_bucket_part(id, p.resolve(record));
        return id;
    }

    // The group row as query::execute builds it (GroupTable), from the
    // members' stored values: count alone needs none of them.
    Value group_value(const detail::LiveGrouping& g, const detail::LiveGroup& group) const {
        GroupTable::Group row{std::string(group.id),
                              nullptr,
                              {},
                              group.members.size(),
                              std::vector<query::detail::Accumulator>(g.aggregations.size())};
        if (!group.members.empty()) {
            row.first_key = *group.members.begin();
            row.first = &stored_value(row.first_key);
        }
        if (!g.counts_only) {
            for (const std::string_view key : group.members) {
                const Value& record = stored_value(key);
                for (std::size_t i = 0; i < g.aggregations.size(); ++i) {
                    if (g.aggregations[i] != protocol::AggregateFunction::Count) {
                        row.acc[i].add(g.aggregation_paths[i].resolve(record));
                    }
                }
            }
        }
        return g.partial ? g.table.partial_row(row) : g.table.row(row);
    }

    // The record as the registry knows it: the map's stored value (kept until
    // the map reports it gone, see "Expiry").
    const Value& stored_value(std::string_view key) const { return map_->get_record(key)->value; }

    // Recomputes a group's row after its members changed and moves it in the
    // window; an emptied group of a groupBy query is dropped.
    void refresh_group(State& s, detail::LiveGroup& group) {
        detail::LiveGrouping& g = *s.grouping;
        if (group.members.empty() && !g.group_paths.empty()) {
            if (group.row) s.window.erase(*group.row);
            g.groups.erase(g.groups.find(group.id));
            return;
        }
        Value value = group_value(g, group);
        if (detail::identical(value, group.value)) return;
        if (!group.value.is_nil()) old_group_values_.emplace_back(std::string(group.id), std::move(group.value));
        group.value = std::move(value);
        detail::Slots slots = detail::resolve_slots(s.order(), group.value);
        const bool belongs = s.after_cursor(slots, group.id);
        if (group.row && belongs) {
            group.row = s.window.update(*group.row, std::move(slots));
        } else if (group.row) {
            s.window.erase(*group.row);
            group.row.reset();
        } else if (belongs) {
            group.row = s.window.insert(group.id, std::move(slots));
        }
    }

    // ---- changes -----------------------------------------------------------

    void on_change(const LWWChange& change) {
        ++stats_.changes;
        ++stamp_;
        candidates_.clear();
        if (const auto it = members_.find(change.key); it != members_.end()) {
            for (const detail::LiveMember& m : it->second) {
                m.query->stamp = stamp_;
                candidates_.push_back(Candidate{m.query, m});
            }
        }
        if (change.new_value) {
            index_.for_each_candidate(*change.new_value, [&](State* q) {
                if (q->stamp == stamp_) return;
                q->stamp = stamp_;
                candidates_.push_back(Candidate{q, std::nullopt});
            });
        }
        bool sorted = true;  // events come out grouped by query; are the groups in id order?
        // Corpus-dependent full-text queries work on every change of their index.
        for (State* q : corpus_text_queries_) {
            if (q->stamp == stamp_ || !q->text->stale()) continue;
            q->stamp = stamp_;
            candidates_.push_back(Candidate{q, std::nullopt, /*rescan_only=*/true});
        }
        stats_.candidates += candidates_.size();
        for (const Candidate& c : candidates_) {
            const std::size_t first = events_.size();
            State& q = *c.query;
            if (q.text && !q.text_per_document) {
                // A query the write cannot enter re-checks the other keys only.
                apply_with_rescan(q, c.rescan_only ? std::nullopt : std::optional(change.key), c.old,
                                  change.old_value, change.new_value);
            } else if (q.grouping) {
                apply_group(q, change.key, c.old, change.old_value, change.new_value);
            } else {
                apply_row(q, change.key, c.old, change.old_value, change.new_value);
            }
            if (events_.size() > first && first > 0 && events_[first - 1].query > q.id) sorted = false;
        }
        if (events_.empty()) return;
        if (!sorted) {
            std::stable_sort(events_.begin(), events_.end(),
                             [](const LiveQueryEvent& a, const LiveQueryEvent& b) { return a.query < b.query; });
        }
        std::vector<LiveQueryEvent> out;
        out.swap(events_);
        sink_(std::span<const LiveQueryEvent>(out));
    }

    // Whether the record belongs to the query's set, full-text nodes answered
    // by searches no older than the indexes (per-document queries search
    // again here, when they need to).
    bool accepts(State& s, std::string_view key, const Value& value) {
        if (!s.text) return s.predicate.evaluate(value, s.principal());
        if (s.text->stale()) s.text = search(s);
        return s.predicate.evaluate(value, key, &*s.text, s.principal());
    }

    bool matches(State& s, std::string_view key, const Value* value) {
        return value != nullptr && accepts(s, key, *value);
    }

    // The query's searches run again; an index that has gone matches nothing.
    TextMatches search(const State& s) const {
        auto fresh = TextMatches::run(s.predicate, text_indexes_, nullptr, s.text_per_document);
        return fresh ? std::move(*fresh) : TextMatches();
    }

    // A corpus-dependent query's change: its searches run again (the index
    // changed), and the keys whose full-text answers changed are re-checked
    // with the written key (none: the write cannot belong to the query), as
    // one change of its window. Other keys keep their records and answers, so
    // their membership and place cannot have changed. The previous searches
    // answer for the other keys still: one change of the index moves no
    // document but the written one.
    void apply_with_rescan(State& s, std::optional<std::string_view> key, const std::optional<detail::LiveMember>& old,
                           const Value* old_value, const Value* new_value) {
        std::vector<std::string> keys;
        if (s.text->stale()) {
            const TextMatches before = std::move(*s.text);
            s.text = search(s);
            const auto answers_changed = [&](std::string_view k) {
                for (std::size_t slot = 0; slot < before.size(); ++slot) {
                    if (before.matches(slot, k) != s.text->matches(slot, k)) return true;
                }
                return false;
            };
            const auto collect = [&](std::string_view k) {
                if (!(key && k == *key) && answers_changed(k)) keys.emplace_back(k);
            };
            before.for_each_matched(collect);
            s.text->for_each_matched(collect);
            std::sort(keys.begin(), keys.end());
            keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        }
        s.window.begin_change();
        old_group_values_.clear();
        std::vector<detail::LiveGroup*> regrouped;
        bool staged = false;
        const auto stage = [&](std::string_view k, const std::optional<detail::LiveMember>& member, const Value* before,
                               const Value* after) {
            staged |= s.grouping ? stage_group(s, k, member, before, after, regrouped) : stage_row(s, k, member, after);
        };
        if (key) stage(*key, old, old_value, new_value);
        for (const std::string& k : keys) {
            if (key && k == *key) continue;
            const auto record = map_->get_record(k);
            if (!record) continue;
            // Unchanged records: the map's key view (memberships keep it), the same value before and after.
            const Value* value = record->is_tombstone() ? nullptr : &record->value;
            stage(record->key, member_of(record->key, s), value, value);
        }
        if (!staged) return;
        if (s.grouping) {
            for (detail::LiveGroup* group : regrouped) refresh_group(s, *group);  // may drop it
            emit_groups(s);
        } else {
            emit_rows(s, key, old_value, new_value);
        }
    }

    std::optional<detail::LiveMember> member_of(std::string_view key, const State& s) const {
        if (const auto it = members_.find(key); it != members_.end()) {
            for (const detail::LiveMember& m : it->second) {
                if (m.query == &s) return m;
            }
        }
        return std::nullopt;
    }

    void apply_row(State& s, std::string_view key, const std::optional<detail::LiveMember>& old, const Value* old_value,
                   const Value* new_value) {
        s.window.begin_change();
        if (!stage_row(s, key, old, new_value)) return;
        emit_rows(s, key, old_value, new_value);
    }

    // Moves one key's row for its new value; false when it neither was nor is in the set.
    bool stage_row(State& s, std::string_view key, const std::optional<detail::LiveMember>& old, const Value* new_value) {
        bool belongs = matches(s, key, new_value);
        detail::Slots slots;
        if (belongs) {
            slots = detail::resolve_slots(s.order(), *new_value);
            belongs = s.after_cursor(slots, key);
        }
        if (!old && !belongs) return false;
        detail::LiveWindow& w = s.window;
        if (old && belongs) {
            const auto row = w.update(old->row, std::move(slots));
            if (row != old->row) set_member(key, s, row, nullptr);
        } else if (old) {
            w.erase(old->row);
            drop_member(key, s);
        } else {
            add_member(key, {&s, w.insert(key, std::move(slots)), nullptr});
        }
        return true;
    }

    // Ends a change of a plain query's window in which `key` (if any) was
    // written; other touched rows kept their values.
    void emit_rows(State& s, std::optional<std::string_view> key, const Value* old_value, const Value* new_value) {
        const auto value_of = [&](std::string_view k) -> const Value& {
            return key && k == *key ? *new_value : stored_value(k);
        };
        const auto changed = [&](const Touch& t) {
            if (t.moved) return true;
            if (!key || t.key != *key) return false;
            // The map reports no old value for a record that expired before this write.
            if (old_value == nullptr) return true;
            return !s.same_projection(*old_value, *new_value);
        };
        emit(s, s.window.finish(), value_of, changed);
    }

    void apply_group(State& s, std::string_view key, const std::optional<detail::LiveMember>& old,
                     const Value* old_value, const Value* new_value) {
        s.window.begin_change();
        old_group_values_.clear();
        std::vector<detail::LiveGroup*> regrouped;
        if (!stage_group(s, key, old, old_value, new_value, regrouped)) return;
        for (detail::LiveGroup* group : regrouped) refresh_group(s, *group);  // may drop it
        emit_groups(s);
    }

    // Moves one key between groups for its new value; the groups whose rows
    // must be recomputed are added to `regrouped` (once each). False when
    // nothing a group row depends on changed.
    bool stage_group(State& s, std::string_view key, const std::optional<detail::LiveMember>& old,
                     const Value* old_value, const Value* new_value, std::vector<detail::LiveGroup*>& regrouped) {
        const bool belongs = matches(s, key, new_value);
        if (!old && !belongs) return false;
        detail::LiveGrouping& g = *s.grouping;
        const std::string bucket = belongs ? bucket_of(g, *new_value) : std::string();
        const auto regroup = [&](detail::LiveGroup* group) {
            if (std::find(regrouped.begin(), regrouped.end(), group) == regrouped.end()) regrouped.push_back(group);
        };
        const bool same_group = old && belongs && old->group->id == bucket;
        if (same_group) {
            if (old_value != nullptr && std::all_of(g.read_paths.begin(), g.read_paths.end(), [&](const FieldPath* p) {
                    return same_field(p->resolve(*old_value), p->resolve(*new_value));
                })) {
                return false;  // nothing the group row depends on changed
            }
            regroup(old->group);
            return true;
        }
        detail::LiveGroup* joined = nullptr;
        if (old) {
            old->group->members.erase(key);
            regroup(old->group);
        }
        if (belongs) {
            joined = &group_node(g, bucket);
            joined->members.insert(key);
            regroup(joined);
        }
        if (old && !belongs) {
            drop_member(key, s);
        } else if (!old) {
            add_member(key, {&s, s.window.end(), joined});
        } else {
            set_member(key, s, s.window.end(), joined);
        }
        return true;
    }

    // Ends a change of a grouped query's window (old_group_values_ holds the
    // rows it recomputed).
    void emit_groups(State& s) {
        const detail::LiveGrouping& g = *s.grouping;
        const auto value_of = [&](std::string_view k) -> const Value& { return g.groups.find(k)->second.value; };
        const auto changed = [&](const Touch& t) {
            if (t.moved) return true;
            for (const auto& [k, v] : old_group_values_) {
                if (k == t.key) return !s.same_projection(v, value_of(k));
            }
            return true;
        };
        emit(s, s.window.finish(), value_of, changed);
    }

    // Missing and nil read alike in group rows.
    static bool same_field(const Value* a, const Value* b) {
        if (a == nullptr || a->is_nil() || b == nullptr || b->is_nil()) {
            return (a == nullptr || a->is_nil()) && (b == nullptr || b->is_nil());
        }
        return detail::identical(*a, *b);
    }

    // Turns the window's touches into events: LEAVEs, UPDATEs, then ENTERs.
    template <class ValueOf, class Changed>
    void emit(const State& s, const std::vector<Touch>& touches, ValueOf&& value_of, Changed&& changed) {
        for (const Touch& t : touches) {
            if (t.before && !t.after)
                events_.push_back(LiveQueryEvent{s.id, t.key, protocol::ChangeType::Leave, Value()});
        }
        for (const Touch& t : touches) {
            if (t.before && t.after && t.modified && changed(t)) {
                events_.push_back(
                    LiveQueryEvent{s.id, t.key, protocol::ChangeType::Update, s.project(value_of(t.key))});
            }
        }
        for (const Touch& t : touches) {
            if (!t.before && t.after) {
                events_.push_back(LiveQueryEvent{s.id, t.key, protocol::ChangeType::Enter, s.project(value_of(t.key))});
            }
        }
    }

    // ---- key membership ----------------------------------------------------

    void add_member(std::string_view key, detail::LiveMember member) { members_[key].push_back(member); }

    void set_member(std::string_view key, const State& s, detail::LiveWindow::Iter row, detail::LiveGroup* group) {
        for (detail::LiveMember& m : members_.find(key)->second) {
            if (m.query == &s) {
                m.row = row;
                m.group = group;
                return;
            }
        }
    }

    void drop_member(std::string_view key, const State& s) {
        const auto it = members_.find(key);
        auto& list = it->second;
        list.erase(std::find_if(list.begin(), list.end(), [&](const detail::LiveMember& m) { return m.query == &s; }));
        if (list.empty()) members_.erase(it);
    }

    LWWMap* map_;
    MatchSource match_source_;
    TextIndexResolver text_indexes_;
    std::vector<State*> corpus_text_queries_;  // full-text queries that are not per document
    Sink sink_;
    ListenerId subscription_ = 0;
    LiveQueryId next_id_ = 1;
    std::unordered_map<LiveQueryId, std::unique_ptr<State>> queries_;
    detail::ReverseIndex<State> index_;
    // Record key (the map's own storage) → the queries it belongs to.
    std::unordered_map<std::string_view, std::vector<detail::LiveMember>> members_;
    LiveQueryStats stats_;
    std::uint64_t stamp_ = 0;
    // Scratch state of the change being applied.
    std::vector<Candidate> candidates_;
    std::vector<LiveQueryEvent> events_;
    std::vector<std::pair<std::string, Value>> old_group_values_;
};

}  // namespace query
TOPGUN_END_NAMESPACE
