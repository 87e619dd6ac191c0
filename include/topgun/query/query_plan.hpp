// Query plans as DAGs (dag/): one-shot queries and group-by run as a graph of
// processors over one map or over many partitions (scatter/gather):
//
//   per part:  read (planner.hpp) → filter → top-k          ┐
//                                  or → partial aggregate    ├→ gather
//   gather:    top-k merge (several parts only)  → result sink
//              or aggregate merge → top-k        → result sink
//
// "read" is a scan, the index candidates, or an ordered-index walk; "top-k"
// keeps the first page + 1 rows after the cursor in the one SortOrder (one
// extra row decides hasMore). A walk delivers rows already in order, so its
// top-k is satisfied after page + 1 rows and tells its read stage to stop:
// that is what keeps an indexed `sort + limit` at O(page). Walked rows carry
// the index's copy of the field, so neither the filter nor the top-k reads it
// from the record (whose value is usually cold in the cache). Partial
// aggregation keeps one group table per part and merges partial groups once.
// The `fields` projection happens in the result sink as it copies the page,
// after the cursor slots are taken from the unprojected rows.
//
// A QueryRun is stepped like any executor (step(budget) for servers that
// interleave work, run() to completion) and may be cancelled. Rows point into
// the maps, so the maps must not change while a run is unfinished.
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/dag/executor.hpp>
#include <topgun/dag/graph.hpp>
#include <topgun/dag/processor.hpp>
#include <topgun/dag/processors.hpp>
#include <topgun/protocol/query.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/query/aggregation.hpp>
#include <topgun/query/cursor.hpp>
#include <topgun/query/index_set.hpp>
#include <topgun/query/planner.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/query/sort_order.hpp>
#include <topgun/query/text_match.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

struct QueryOptions {
    std::size_t max_records = 10000;  // the reference's max_query_records
    const Value* auth = nullptr;      // principal for "auth.<path>" valueRefs
    // Secondary indexes of the queried map (single-map execute only; ignored
    // when they belong to another map).
    const IndexSet* indexes = nullptr;
    // The BM25 index per attribute for full-text ops (text_match.hpp); without
    // one such queries fail. Its keys must be the queried records' keys.
    TextIndexResolver text_indexes;
};

struct QueryResult {
    std::vector<protocol::QueryResultEntry> rows;
    bool has_more = false;
    // Only when has_more and the query has a limit and a sort, as the reference.
    std::optional<std::string> next_cursor;
    protocol::CursorStatus cursor_status = protocol::CursorStatus::None;
    std::optional<std::string> error;
};

// The same page without copying the records: rows refer to the map's values
// (projected and group rows to values the page owns), so it is valid until the
// map changes. For callers that encode or inspect a page at once; a result
// row copies a whole value (a map value is several heap blocks), which costs
// more than finding it.
struct QueryPage {
    struct Entry {
        std::string_view key;
        const Value* value;
    };
    std::vector<Entry> rows;
    bool has_more = false;
    std::optional<std::string> next_cursor;
    protocol::CursorStatus cursor_status = protocol::CursorStatus::None;
    std::optional<std::string> error;
    // Projected and group values, group row keys: reserved up front, so rows
    // can point at them, and a moved vector keeps its elements where they are.
    std::vector<Value> owned;
    std::vector<std::string> owned_keys;
};

// One partition of the data a query runs over.
struct QueryPart {
    const LWWMap* map = nullptr;
    const IndexSet* indexes = nullptr;  // of this map, or nullptr
    // BM25 indexes over this part's records alone; when empty, the part's
    // full-text leaves are answered by QueryOptions::text_indexes (one index
    // set over every part's records). A part's own indexes score with its own
    // statistics, as each shard of a distributed search does.
    TextIndexResolver text_indexes;
};

// What flows between the stages: a record (or group row) and, between partial
// and merged aggregation, the partial group.
// 32 bytes: every record of a scan passes through two queues as a Row, so one
// more member costs a full scan or group-by ~7 %.
struct Row {
    std::string_view key;
    const Value* value = nullptr;  // nullptr in a partial group row

    // A record read by walking an ordered index carries the index's copy of the
    // walked field (a nil value when the record has none), so the filter and
    // the sort need not look it up again in a record that is cold in the cache.
    static Row walked(std::string_view key, const Value* value, const Value* field) noexcept {
        return Row{key, value, field};
    }
    static Row partial_group(std::string_view id, const GroupTable::Group* group) noexcept {
        return Row{id, nullptr, group};
    }

    // nullptr unless the row was walked.
    const Value* walked_field() const noexcept { return value != nullptr ? static_cast<const Value*>(extra) : nullptr; }
    const GroupTable::Group* group() const noexcept {
        return value == nullptr ? static_cast<const GroupTable::Group*>(extra) : nullptr;
    }

    // The walked field of a record row, the group of a partial group row.
    const void* extra = nullptr;
};

namespace detail {

// The `fields` projection: only the listed top-level fields of a map value;
// other values pass through.
inline Value project(const Value& v, const std::vector<std::string>& fields) {
    if (!v.is_map()) return v;
    Value::Map out;
    for (const auto& member : v.as_map()) {
        if (std::find(fields.begin(), fields.end(), member.first) != fields.end()) out.push_back(member);
    }
    return Value(std::move(out));
}

// Whether scans prefetch their records (ReadStage::prefetch_batch). WebAssembly has no prefetch.
inline constexpr bool kPrefetchScans = !TOPGUN_BROWSER_BUILD;

// Reads one part's candidate rows as its Plan says, a batch per activation.
class ReadStage final : public dag::Source<Row> {
public:
    ReadStage(const LWWMap& map, Plan plan, std::optional<OrderedIndex::Position> after, const bool* satisfied,
              std::size_t walk_batch)
        : map_(map),
          plan_(std::move(plan)),
          after_(after),
          satisfied_(satisfied),
          walk_batch_(walk_batch),
          now_(map.clock().wall_clock()) {}

    bool generate(dag::Outbox<Row>& out) override {
        std::size_t room = out.room();
        switch (plan_.source) {
            case Plan::Source::Scan:
                position_ = map_.for_each_from(position_, now_, [&](std::string_view key, const Value& value) {
                    out.push(Row{key, &value});
                    if constexpr (kPrefetchScans) batch_.push_back(&value);
                    return --room > 0;
                });
                if constexpr (kPrefetchScans) prefetch_batch();
                return position_ == LWWMap::npos;
            case Plan::Source::Keys:
                for (; next_ < plan_.keys.size() && room > 0; ++next_) {
                    const RecordRef record = plan_.keys[next_];
                    if (const Value* value = map_.get(record, now_)) {
                        out.push(Row{record.key(), value});
                        --room;
                    }
                }
                return next_ == plan_.keys.size();
            case Plan::Source::Walk: {
                // Small batches: the top-k stage says when the page is full.
                if (*satisfied_) return true;
                std::size_t budget = std::min(room, walk_batch_);
                bool more = false;
                plan_.index->walk(plan_.descending, after_, plan_.range, [&](RecordRef record, const Value* field) {
                    if (budget == 0) {
                        more = true;
                        return false;
                    }
                    after_ = OrderedIndex::Position{field, record.key()};
                    if (const Value* value = map_.get(record, now_)) {
                        static const Value missing;
                        out.push(Row::walked(record.key(), value, field != nullptr ? field : &missing));
                        --budget;
                    }
                    return true;
                });
                return !more;
            }
        }
        return true;
    }

private:
    // A scan is bound by memory latency, not work: each record's member array,
    // and each string member, is its own heap block, so record after record the
    // filter waits on a chain of cache misses. Prefetching the batch just read,
    // one level of that chain per pass (the arrays' headers, then the arrays,
    // then, a few dozen records behind, their strings), overlaps the misses of
    // many records before the filter reads them. Hand-written because no
    // library reaches into Value's layout; measured on the 1M-record scan:
    // 74-86 ms before, 55-63 ms after. A member function that empties the batch,
    // so the compiler cannot drop the call as having no effect.
    void prefetch_batch() {
        constexpr std::size_t kLines = 4;  // of each member array: the first members, where small records keep all
        constexpr std::size_t kMembers = kLines * 64 / sizeof(Value::Member);
        constexpr std::size_t kLag = 32;  // records between an array's prefetch and the reads of it
        for (const Value* v : batch_) {
            if (v->is_map()) __builtin_prefetch(&v->as_map());
        }
        for (std::size_t i = 0; i < batch_.size() + kLag; ++i) {
            if (i < batch_.size() && batch_[i]->is_map()) {
                const Value::Map& members = batch_[i]->as_map();
                const char* bytes = reinterpret_cast<const char*>(members.data());
                const std::size_t size = std::min(members.size() * sizeof(Value::Member), kLines * 64);
                for (std::size_t offset = 0; offset < size; offset += 64) __builtin_prefetch(bytes + offset);
            }
            if (i >= kLag && batch_[i - kLag]->is_map()) {
                const Value::Map& members = batch_[i - kLag]->as_map();
                for (std::size_t m = 0; m < std::min(members.size(), kMembers); ++m) {
                    if (members[m].second.is_string()) __builtin_prefetch(&members[m].second.as_string());
                }
            }
        }
        batch_.clear();
    }

    const LWWMap& map_;
    Plan plan_;
    std::optional<OrderedIndex::Position> after_;
    const bool* satisfied_;
    std::size_t walk_batch_;
    std::uint64_t now_;
    std::size_t position_ = 0;
    std::size_t next_ = 0;
    std::vector<const Value*> batch_;  // the scan's current batch, for prefetch_batch
};

// Keeps the first `k` rows after the cursor in SortOrder and emits them in
// order once its inputs are done. With sorted input (a walk, which gives
// `satisfied`) it stops at `k` rows, raises `satisfied` so the read stage stops
// too, and has nothing to sort. A walked row's field is its first sort slot:
// a walk only serves a sort on that one field.
class TopKStage final : public dag::Processor<Row> {
public:
    TopKStage(const SortOrder& order, std::size_t k, const Cursor* cursor, bool* satisfied)
        : dag::Processor<Row>(dag::Role::Transform),
          order_(order),
          k_(k),
          cursor_(cursor),
          satisfied_(satisfied),
          sorted_(satisfied != nullptr) {
        if (cursor_) cursor_slots_ = cursor_->slot_pointers();
    }

    void process(dag::Inbox<Row>& in, dag::Outbox<Row>& /*out*/) override {
        const std::size_t n = order_.size();
        in.drain([&](Row& row) {
            if (satisfied_ && *satisfied_) return;  // sorted input: the page is full
            const std::size_t at = slots_.size();
            for (std::size_t i = 0; i < n; ++i) {
                const Value* walked = i == 0 ? row.walked_field() : nullptr;
                slots_.push_back(walked != nullptr ? SortOrder::slot(walked) : order_.resolve(i, *row.value));
            }
            if (cursor_ && order_.compare(slots_of(at), row.key, cursor_slots_, cursor_->key) <= 0) {
                slots_.resize(at);
                return;
            }
            entries_.push_back(Entry{row, at});
            if (satisfied_ && entries_.size() >= k_) *satisfied_ = true;
            if (!satisfied_ && entries_.size() >= 2 * k_ + 64) prune();
        });
    }

    bool complete(dag::Outbox<Row>& out) override {
        if (!sorted_) {
            prune();
            std::sort(entries_.begin(), entries_.end(), [&](const Entry& a, const Entry& b) { return less(a, b); });
            sorted_ = true;
        }
        for (; emitted_ < entries_.size() && out.room() > 0; ++emitted_) out.push(entries_[emitted_].row);
        return emitted_ == entries_.size();
    }

private:
    struct Entry {
        Row row;
        std::size_t slots;  // offset of its resolved sort slots
    };

    std::span<const Value* const> slots_of(std::size_t at) const {
        return std::span<const Value* const>(slots_).subspan(at, order_.size());
    }
    bool less(const Entry& a, const Entry& b) const {
        return order_.compare(slots_of(a.slots), a.row.key, slots_of(b.slots), b.row.key) < 0;
    }

    // Keeps the best k entries (unordered) and compacts their slots.
    void prune() {
        if (entries_.size() <= k_) return;
        std::nth_element(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(k_), entries_.end(),
                         [&](const Entry& a, const Entry& b) { return less(a, b); });
        entries_.resize(k_);
        std::vector<const Value*> kept;
        kept.reserve(k_ * order_.size());
        for (Entry& e : entries_) {
            const auto s = slots_of(e.slots);
            e.slots = kept.size();
            kept.insert(kept.end(), s.begin(), s.end());
        }
        slots_ = std::move(kept);
    }

    const SortOrder& order_;
    std::size_t k_;
    const Cursor* cursor_;
    std::vector<const Value*> cursor_slots_;
    bool* satisfied_;
    std::vector<Entry> entries_;
    std::vector<const Value*> slots_;
    bool sorted_;
    std::size_t emitted_ = 0;
};

// Per part: groups its rows and emits one partial group per row at the end.
class PartialAggregateStage final : public dag::Processor<Row> {
public:
    explicit PartialAggregateStage(const protocol::Query& q) : dag::Processor<Row>(dag::Role::Transform), table_(q) {}

    void process(dag::Inbox<Row>& in, dag::Outbox<Row>& /*out*/) override {
        in.drain([&](Row& row) { table_.add(row.key, *row.value); });
    }
    bool complete(dag::Outbox<Row>& out) override {
        const auto& groups = table_.groups();
        for (; emitted_ < groups.size() && out.room() > 0; ++emitted_) {
            out.push(Row::partial_group(groups[emitted_].id, &groups[emitted_]));
        }
        return emitted_ == groups.size();
    }

private:
    GroupTable table_;
    std::size_t emitted_ = 0;
};

// Gather: merges the partial groups and emits the final group rows.
class AggregateMergeStage final : public dag::Processor<Row> {
public:
    explicit AggregateMergeStage(const protocol::Query& q) : dag::Processor<Row>(dag::Role::Transform), table_(q) {}

    void process(dag::Inbox<Row>& in, dag::Outbox<Row>& /*out*/) override {
        in.drain([&](Row& row) { table_.merge(*row.group()); });
    }
    bool complete(dag::Outbox<Row>& out) override {
        const auto& groups = table_.groups();
        if (values_.empty()) {
            for (const auto& g : groups) values_.push_back(table_.row(g));
        }
        for (; emitted_ < groups.size() && out.room() > 0; ++emitted_) {
            out.push(Row{groups[emitted_].id, &values_[emitted_]});
        }
        return emitted_ == groups.size();
    }

private:
    GroupTable table_;
    std::deque<Value> values_;  // the rows' values, at stable addresses
    std::size_t emitted_ = 0;
};

}  // namespace detail

class QueryRun {
public:
    // Validates the query (an invalid one finishes at once with result().error)
    // and builds the plan over `parts`, which must outlive the run.
    QueryRun(std::span<const QueryPart> parts, const protocol::Query& q, const QueryOptions& options = {})
        : query_(q), options_(options) {
        std::string error;
        predicate_ = Predicate::from_query(query_, &error);
        if (!predicate_) {
            error_ = std::move(error);
            return;
        }
        if (parts.empty()) {
            error_ = "query: no data to run over";
            return;
        }
        // The full-text nodes search once per index set: once for the shared
        // one, once per part that brings its own.
        part_text_.resize(parts.size());
        if (predicate_->needs_search_index()) {
            for (std::size_t i = 0; i < parts.size(); ++i) {
                const bool own = static_cast<bool>(parts[i].text_indexes);
                std::optional<TextMatches>& text = own ? part_text_[i] : text_;
                if (!text) text = TextMatches::run(*predicate_, own ? parts[i].text_indexes : options_.text_indexes, &error);
                if (!text) {
                    error_ = std::move(error);
                    return;
                }
            }
        }
        const bool grouped = query_.group_by || query_.aggregations;
        if (grouped) {
            if (auto message = validate_aggregations(query_)) {
                error_ = std::move(*message);
                return;
            }
        }
        order_ = query_.sort ? SortOrder(*query_.sort) : SortOrder();
        if (query_.cursor) {
            cursor_ = Cursor::decode(*query_.cursor);
            if (cursor_ && (cursor_->shape != query_shape_hash(query_) || cursor_->slots.size() != order_.size())) {
                cursor_.reset();
            }
            cursor_status_ = cursor_ ? protocol::CursorStatus::Valid : protocol::CursorStatus::Invalid;
        }
        const std::size_t limit = query_.limit ? *query_.limit : std::numeric_limits<std::size_t>::max();
        page_ = std::min(limit, options_.max_records);
        const std::size_t k = page_ == std::numeric_limits<std::size_t>::max() ? page_ : page_ + 1;

        dag::Graph<Row> graph;
        satisfied_ = std::make_unique<bool[]>(parts.size());
        const Cursor* cursor = cursor_ ? &*cursor_ : nullptr;
        // One part's top-k is already the page: only several parts need a gather.
        std::optional<dag::NodeId> gather;
        if (grouped) {
            gather = graph.add("aggregate-merge", std::make_unique<detail::AggregateMergeStage>(query_));
        } else if (parts.size() > 1) {
            gather = graph.add("top-k", std::make_unique<detail::TopKStage>(order_, k, nullptr, nullptr));
        }
        // Queues are allocated up front: no larger than what can flow through
        // them, so a ten-row lookup does not set up kilobytes of ring buffers.
        const auto capacity = [](std::size_t items) { return std::clamp<std::size_t>(items, 1, 1024); };
        std::vector<Plan> plans;
        std::size_t candidates = 0;  // an upper bound on the rows read, when every part reads keys
        for (const QueryPart& part : parts) {
            plans.push_back(plan_query(*predicate_, grouped ? no_sort_ : query_, part.indexes, page_, part.map->size()));
            const Plan& plan = plans.back();
            candidates = plan.source == Plan::Source::Keys && candidates != SIZE_MAX ? candidates + plan.keys.size()
                                                                                      : SIZE_MAX;
            explain_ += (explain_.empty() ? "" : "; ") + plan.explain();
        }
        const std::size_t page_capacity = capacity(std::min(k, candidates));
        std::optional<dag::NodeId> last = gather;  // what feeds the sink, unless a single part does
        if (grouped) {
            const auto top = graph.add("top-k", std::make_unique<detail::TopKStage>(order_, k, cursor, nullptr));
            graph.connect(*gather, top, capacity(candidates));
            last = top;
        }
        sink_ = graph.add("result", dag::collect<Row>());
        if (last) graph.connect(*last, sink_, page_capacity);

        for (std::size_t i = 0; i < parts.size(); ++i) {
            const QueryPart& part = parts[i];
            Plan& plan = plans[i];
            const std::string suffix = "[" + std::to_string(i) + "]";
            const bool walk = plan.source == Plan::Source::Walk;
            const std::size_t flow = plan.source == Plan::Source::Keys ? capacity(plan.keys.size())
                                     : walk                           ? page_capacity
                                                                      : 1024;
            std::optional<OrderedIndex::Position> after;
            if (walk && cursor) {
                after = OrderedIndex::Position{cursor->slots[0].is_nil() ? nullptr : &cursor->slots[0], cursor->key};
            }
            satisfied_[i] = false;
            bool* satisfied = walk ? &satisfied_[i] : nullptr;
            const std::string_view walked_path = walk ? std::string_view(plan.index->path().text()) : std::string_view();
            const auto read = graph.add("read" + suffix, std::make_unique<detail::ReadStage>(*part.map, std::move(plan), after,
                                                                                            satisfied, k));
            const FullTextMatcher* text = part_text_[i] ? &*part_text_[i] : (text_ ? &*text_ : nullptr);
            const auto filter = graph.add("filter" + suffix, dag::filter<Row>([this, walked_path, text](const Row& row) {
                                              return matches(row, walked_path, text);
                                          }));
            graph.connect(read, filter, flow);
            const auto partial = grouped ? dag::NodeId(graph.add("partial-aggregate" + suffix,
                                                                 std::make_unique<detail::PartialAggregateStage>(query_)))
                                         : dag::NodeId(graph.add("top-k" + suffix, std::make_unique<detail::TopKStage>(
                                                                                       order_, k, cursor, satisfied)));
            graph.connect(filter, partial, flow);
            graph.connect(partial, gather ? *gather : dag::NodeId(sink_), grouped ? capacity(candidates) : page_capacity);
        }
        executor_.emplace(std::move(graph));
    }

    QueryRun(const QueryRun&) = delete;  // stages point into the run
    QueryRun& operator=(const QueryRun&) = delete;

    // At most `budget` stage activations; Running while there is more to do.
    dag::Status step(std::size_t budget) { return executor_ ? executor_->step(budget) : dag::Status::Failed; }
    dag::Status run() { return executor_ ? executor_->run() : dag::Status::Failed; }
    void cancel() {
        if (executor_) executor_->cancel();
    }

    // Per part: "scan", "keys(n)" or "walk(...)", joined by "; ".
    const std::string& explain() const noexcept { return explain_; }

    // The page once the run is Done; otherwise the error (invalid query,
    // cancelled, failed stage). Rows by reference: see QueryPage.
    QueryPage page() const {
        QueryPage page;
        page.cursor_status = cursor_status_;
        if (error_) {
            page.error = error_;
            return page;
        }
        const dag::Status status = executor_->status();
        if (status != dag::Status::Done) {
            const auto& outcome = executor_->outcome();
            page.error = "query " + std::string(dag::to_string(status)) +
                         (outcome.message.empty() ? "" : ": " + outcome.processor + " " + outcome.message);
            return page;
        }
        const std::vector<Row>& rows = sink_->items();
        page.has_more = rows.size() > page_;
        const std::size_t count = std::min(rows.size(), page_);
        // Group rows live in the run's merge stage, which the page may outlive.
        const bool grouped = query_.group_by || query_.aggregations;
        page.rows.reserve(count);
        if (grouped || query_.projection) page.owned.reserve(count);
        if (grouped) page.owned_keys.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            const Row& row = rows[i];
            const std::string_view key = grouped ? std::string_view(page.owned_keys.emplace_back(row.key)) : row.key;
            if (query_.projection) {
                page.rows.push_back({key, &page.owned.emplace_back(detail::project(*row.value, *query_.projection))});
            } else if (grouped) {
                page.rows.push_back({key, &page.owned.emplace_back(*row.value)});
            } else {
                page.rows.push_back({key, row.value});
            }
        }
        if (page.has_more && query_.limit && query_.sort && count > 0) {
            Cursor next;
            next.shape = query_shape_hash(query_);
            next.key = std::string(rows[count - 1].key);
            for (std::size_t i = 0; i < order_.size(); ++i) {
                const Value* v = order_.resolve(i, *rows[count - 1].value);
                next.slots.push_back(v ? *v : Value());
            }
            page.next_cursor = next.encode();
        }
        return page;
    }

    // The page with its rows copied out.
    QueryResult result() const { return copied(page()); }

    static QueryResult copied(QueryPage page) {
        QueryResult result{.has_more = page.has_more,
                           .next_cursor = std::move(page.next_cursor),
                           .cursor_status = page.cursor_status,
                           .error = std::move(page.error)};
        result.rows.reserve(page.rows.size());
        for (const QueryPage::Entry& row : page.rows) result.rows.push_back({std::string(row.key), *row.value});
        return result;
    }

private:
    // The one place that decides whether a record belongs to the result.
    bool matches(const Row& row, std::string_view walked_path, const FullTextMatcher* text) const {
        if (const Value* field = row.walked_field()) {
            const Predicate::KnownField known{walked_path, field};
            return predicate_->evaluate(*row.value, row.key, text, options_.auth, &known);
        }
        return predicate_->evaluate(*row.value, row.key, text, options_.auth);
    }

    protocol::Query query_;
    protocol::Query no_sort_;  // grouped queries read their parts unsorted
    QueryOptions options_;
    std::optional<Predicate> predicate_;
    std::optional<TextMatches> text_;  // the full-text nodes' searches over QueryOptions::text_indexes
    std::vector<std::optional<TextMatches>> part_text_;  // over a part's own text_indexes; sized once (filters point in)
    SortOrder order_;
    std::optional<Cursor> cursor_;
    protocol::CursorStatus cursor_status_ = protocol::CursorStatus::None;
    std::size_t page_ = 0;
    std::optional<std::string> error_;
    std::unique_ptr<bool[]> satisfied_;
    std::string explain_;
    dag::NodeRef<dag::CollectSink<Row>> sink_;
    std::optional<dag::Executor<Row>> executor_;
};

// The records of one part that `accepts(key, value)` keeps, each given to
// `visit(key, value)` in the order read: a DAG plan of read (the index
// candidates, or a scan, as the planner picks for `predicate`) → filter →
// visit. A standing query's first rows on a server's shard come from it
// (LiveQueryRegistry::use_match_source): the window keeps every match, so
// there is no top-k, and the registry sorts. Done: these stages cannot fail.
template <class Accepts, class Visit>
dag::Status for_each_match(const QueryPart& part, const Predicate& predicate, Accepts&& accepts, Visit&& visit) {
    Plan plan = plan_query(predicate, protocol::Query{}, indexes_of(*part.map, part.indexes), 0, part.map->size());
    const std::size_t flow =
        std::clamp<std::size_t>(plan.source == Plan::Source::Keys ? plan.keys.size() : part.map->size(), 1, 1024);
    dag::Graph<Row> graph;
    const auto read =
        graph.add("read", std::make_unique<detail::ReadStage>(*part.map, std::move(plan), std::nullopt, nullptr, 0));
    const auto filter =
        graph.add("filter", dag::filter<Row>([&](const Row& row) { return accepts(row.key, *row.value); }));
    const auto sink = graph.add("visit", dag::for_each<Row>([&](Row&& row) { visit(row.key, *row.value); }));
    graph.connect(read, filter, flow);
    graph.connect(filter, sink, flow);
    return dag::Executor<Row>(std::move(graph)).run();
}

}  // namespace query
TOPGUN_END_NAMESPACE
