#include "session/http_sync.hpp"

#include "node.hpp"
#include "service/crdt_service.hpp"
#include "service/map_search.hpp"
#include "session/http_auth.hpp"
#include "session/write_path.hpp"

#include <topgun/protocol/codec.hpp>
#include <topgun/protocol/http_sync.hpp>
#include <topgun/query/cursor.hpp>
#include <topgun/query/query_engine.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace topgun::server {

using namespace topgun::protocol;

namespace {

// The answer being put together: each part (the writes, each query, delta and
// search) reports on the home shard; the last one sends it.
struct Exchange {
    Node& node;
    std::size_t home;
    std::function<void(HttpAnswer)> done;
    std::shared_ptr<const auth::Principal> caller;  // null: anonymous
    HttpSyncResponse response;
    std::size_t outstanding = 1;  // the setup itself, until every part is started
    bool writes_answered = false;

    // Whether a read of `map` may go ahead; if not, why is in errors: a bad
    // name (400), or a map the caller may not read (403, as the reference).
    bool may_read(const std::string& map, const std::string& context) {
        if (map.empty() || is_reserved_map_name(map)) {
            error(400, "map name \"" + map + "\" is empty or reserved", context);
            return false;
        }
        if (node.access().allows(caller.get(), Access::Read, map)) return true;
        error(403, "access denied", context);
        return false;
    }

    void error(std::uint32_t code, std::string message, std::optional<std::string> context = std::nullopt) {
        if (!response.errors) response.errors.emplace();
        response.errors->push_back(HttpSyncError{code, std::move(message), std::move(context)});
    }

    void part_done() {
        if (--outstanding != 0) return;
        response.server_hlc = node.state(home).clock().now();
        const Bytes body = encode_body(response);
        done(HttpAnswer{200, "application/msgpack", std::string(body.begin(), body.end())});
    }
};

// Query cursors are the last key returned, hex-encoded ("k" first, so other
// servers' cursors read as invalid rather than as a key).
std::string key_cursor(std::string_view key) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "k";
    for (const unsigned char c : key) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

std::optional<std::string> key_from_cursor(std::string_view cursor) {
    if (cursor.empty() || cursor[0] != 'k' || cursor.size() % 2 == 0) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::string key;
    for (std::size_t i = 1; i < cursor.size(); i += 2) {
        const int hi = nibble(cursor[i]);
        const int lo = nibble(cursor[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        key += static_cast<char>(hi * 16 + lo);
    }
    return key;
}

void start_writes(const std::shared_ptr<Exchange>& ex, std::vector<ClientOp> ops) {
    Node& node = ex->node;
    if (storage_backlogged(node)) {
        node.metrics().writes_shed.fetch_add(1, std::memory_order_relaxed);
        ex->error(429, "server overloaded, try again later: storage is behind (nothing was applied)");
        return;
    }
    ++ex->outstanding;
    auto answer = [ex](PendingWrite& w) {
        if (!w.done() || ex->writes_answered) return;
        ex->writes_answered = true;
        WriteAnswer a = answer_write(ex->node, w);
        for (OpRejection& r : a.rejected) ex->error(r.code, std::move(r.reason), std::move(r.op_id));
        if (a.persist_failed) ex->error(500, "storage commit failed: the writes are applied in memory but not durable yet");
        ex->response.ack = HttpSyncAck{std::move(a.ack.last_id), std::move(a.ack.results)};
        ex->part_done();
    };
    const auto w = submit_write(node, WriteOrigin{0, ex->home, ex->caller}, std::move(ops), std::nullopt, answer);
    answer(*w);  // a write with nothing to route (or all applied inline) is done already
}

struct KeyedRow {
    std::string key;
    Value value;
};

// One worker's part of a query: its first rows in key order, or why the plan failed.
struct ShardRows {
    std::vector<KeyedRow> rows;
    std::optional<std::string> error;
};

// A one-shot query is scatter/gather: each worker runs it as the core's DAG
// plan over its own records (index lookup or scan → filter → top-k by key,
// query_plan.hpp) and returns its first `wanted` rows; the home merges the
// sorted parts, so it holds at most shards × wanted rows, never a whole map.
void start_query(const std::shared_ptr<Exchange>& ex, HttpQueryRequest request) {
    if (!ex->may_read(request.map_name, request.query_id)) return;
    // The filter is an exact-equality where-map (as the TS client sends a
    // query's `where`); anything else matches every record.
    Query q;
    if (const Value* filter = request.filter.get(); filter != nullptr && filter->is_map()) {
        q.where.emplace();
        for (const auto& [field, value] : filter->as_map()) q.where->emplace_back(field, value);
    }
    q.sort = Sort{{SortField{"_key", SortDirection::Asc}}};
    std::string invalid;
    if (!query::Predicate::from_query(q, &invalid)) {
        ex->error(400, "filter: " + invalid, request.query_id);
        return;
    }
    if (request.cursor) {
        auto key = key_from_cursor(*request.cursor);
        if (!key) {
            ex->error(400, "invalid or expired cursor", request.query_id);
            return;
        }
        // Rows after that key: the core's cursor at that position of the key order.
        query::Cursor after;
        after.shape = query::query_shape_hash(q);
        after.key = std::move(*key);
        after.slots.emplace_back();
        q.cursor = after.encode();
    }
    const std::size_t offset = request.cursor ? 0 : request.offset.value_or(0);
    const std::size_t limit = std::min<std::size_t>(request.limit.value_or(kHttpSyncMaxRows), kHttpSyncMaxRows);
    const std::size_t wanted = offset + limit + 1;  // one more says whether more follow
    q.limit = static_cast<std::uint32_t>(std::min<std::size_t>(wanted, std::numeric_limits<std::uint32_t>::max()));
    ++ex->outstanding;
    // Copied before the call: the second lambda takes `request`, and arguments are built in no set order.
    const std::string map = request.map_name;
    ex->node.scatter(
        ex->home,
        [map, q = std::move(q), wanted](ShardState& s) {
            ShardRows out;
            const LWWMap* m = s.find_lww(map);
            if (m == nullptr) return out;
            const query::QueryPage page = query::execute_page(*m, q, {.max_records = wanted, .indexes = s.indexes(map)});
            if (page.error) {
                out.error = page.error;
                return out;
            }
            out.rows.reserve(page.rows.size());
            for (const query::QueryPage::Entry& row : page.rows) out.rows.push_back(KeyedRow{std::string(row.key), *row.value});
            return out;
        },
        [ex, request = std::move(request), offset, limit, wanted](std::vector<ShardRows>& parts) {
            std::vector<KeyedRow> rows;
            const auto by_key = [](const KeyedRow& a, const KeyedRow& b) { return a.key < b.key; };
            for (ShardRows& p : parts) {
                if (p.error) {
                    ex->error(400, "query: " + *p.error, request.query_id);
                    ex->part_done();
                    return;
                }
                const auto middle = static_cast<std::ptrdiff_t>(rows.size());
                std::move(p.rows.begin(), p.rows.end(), std::back_inserter(rows));
                std::inplace_merge(rows.begin(), rows.begin() + middle, rows.end(), by_key);
                if (rows.size() > wanted) rows.resize(wanted);
            }
            HttpQueryResult result;
            result.query_id = request.query_id;
            const std::size_t first = std::min(offset, rows.size());
            const std::size_t end = std::min(first + limit, rows.size());
            for (std::size_t i = first; i < end; ++i) {
                Value row = Value::map();
                row.set("key", Value(rows[i].key));
                row.set("value", std::move(rows[i].value));
                result.results.push_back(std::move(row));
            }
            const bool more = rows.size() > end;
            if (request.limit) result.has_more = more;
            if (more && end > first) result.next_cursor = key_cursor(rows[end - 1].key);
            if (!ex->response.query_results) ex->response.query_results.emplace();
            ex->response.query_results->push_back(std::move(result));
            ex->part_done();
        });
}

// Records changed after `since`, oldest first; cut at kHttpSyncMaxRows, in
// which case serverSyncTimestamp is the last one sent, so the next poll goes
// on. Otherwise it is the newest of the server's clock and every stored stamp
// (client stamps may run ahead of the clock within the drift bound).
struct ShardDelta {
    std::vector<HttpDeltaRecord> records;
    Timestamp newest;
};

void start_delta(const std::shared_ptr<Exchange>& ex, HttpSyncMap request) {
    if (!ex->may_read(request.map_name, request.map_name)) return;
    ++ex->outstanding;
    ex->node.scatter(
        ex->home,
        [map = request.map_name, since = request.last_sync_timestamp](ShardState& s) {
            ShardDelta out;
            const LWWMap* m = s.find_lww(map);
            if (m == nullptr) return out;
            m->for_each_record([&](const LWWMap::RecordView& r) {
                Timestamp stamp = r.timestamp();
                if (stamp <= since) return;
                if (out.newest < stamp) out.newest = stamp;
                out.records.push_back(HttpDeltaRecord{std::string(r.key), LWWRecordData{r.value, std::move(stamp), {}},
                                                      r.is_tombstone() ? DeltaEventType::Remove : DeltaEventType::Put});
                if (r.ttl_ms) out.records.back().record.ttl_ms = *r.ttl_ms;
            });
            return out;
        },
        [ex, map = request.map_name](std::vector<ShardDelta>& parts) {
            HttpMapDelta delta;
            delta.map_name = map;
            delta.server_sync_timestamp = ex->node.state(ex->home).clock().now();
            for (ShardDelta& p : parts) {
                std::move(p.records.begin(), p.records.end(), std::back_inserter(delta.records));
                if (delta.server_sync_timestamp < p.newest) delta.server_sync_timestamp = p.newest;
            }
            std::sort(delta.records.begin(), delta.records.end(),
                      [](const HttpDeltaRecord& a, const HttpDeltaRecord& b) { return a.record.timestamp < b.record.timestamp; });
            if (delta.records.size() > kHttpSyncMaxRows) {
                delta.records.resize(kHttpSyncMaxRows);
                delta.server_sync_timestamp = delta.records.back().record.timestamp;
            }
            if (!ex->response.deltas) ex->response.deltas.emplace();
            ex->response.deltas->push_back(std::move(delta));
            ex->part_done();
        });
}

void start_search(const std::shared_ptr<Exchange>& ex, HttpSearchRequest request) {
    if (!ex->may_read(request.map_name, request.search_id)) return;
    SearchOptions options;
    if (const Value* given = request.options.get(); given != nullptr && !given->is_nil()) {
        msgpack::Writer w(64);
        w.value(*given);
        msgpack::Error error;
        if (!decode_body(w.take(), options, error)) {
            ex->error(400, "search options: " + error.message(), request.search_id);
            return;
        }
    }
    ++ex->outstanding;
    const std::string map = request.map_name;
    ex->node.with_map_search(map, [ex, request = std::move(request), options](MapSearch& index) {
        auto hits = index.search(request.query, options);
        ex->node.shards()[ex->home].post([ex, search_id = request.search_id, hits = std::move(hits)]() mutable {
            HttpSearchResult result;
            result.search_id = std::move(search_id);
            result.total_count = static_cast<std::uint32_t>(hits.size());
            for (SearchResultEntry& hit : hits) {
                Value row = Value::map();
                row.set("key", Value(std::move(hit.key)));
                row.set("value", std::move(hit.value));
                row.set("score", Value(hit.score));
                Value terms = Value::array();
                for (std::string& t : hit.matched_terms) terms.push_back(Value(std::move(t)));
                row.set("matchedTerms", std::move(terms));
                result.results.push_back(std::move(row));
            }
            if (!ex->response.search_results) ex->response.search_results.emplace();
            ex->response.search_results->push_back(std::move(result));
            ex->part_done();
        });
    });
}

}  // namespace

void serve_http_sync(Node& node, std::size_t home, std::string_view authorization, std::string_view body,
                     std::function<void(HttpAnswer)> done) {
    auto who = http_caller(node, authorization);
    if (auto* refused = std::get_if<HttpAnswer>(&who)) return done(std::move(*refused));
    auto caller = std::get<std::shared_ptr<const auth::Principal>>(std::move(who));
    HttpSyncRequest request;
    if (!body.empty()) {
        msgpack::Error error;
        const auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
        if (!decode_body(bytes, request, error, msgpack::Limits{256, node.config().max_frame_bytes})) {
            node.metrics().frames_malformed.fetch_add(1, std::memory_order_relaxed);
            return done(json_error(400, "invalid MsgPack body: " + error.message()));
        }
        // A client clock beyond the drift bound would drag the shard's clock
        // (and every later server stamp) into the future: ignored.
        const std::uint64_t now = wall_millis();
        if (request.client_hlc.millis <= now || request.client_hlc.millis - now <= node.config().max_drift_ms) {
            node.state(home).clock().update(request.client_hlc);
        }
    }

    auto ex = std::make_shared<Exchange>(Exchange{node, home, std::move(done), std::move(caller), {}, 1, false});
    if (request.operations && !request.operations->empty()) start_writes(ex, std::move(*request.operations));
    if (request.sync_maps) {
        for (HttpSyncMap& m : *request.sync_maps) start_delta(ex, std::move(m));
    }
    if (request.queries) {
        for (HttpQueryRequest& q : *request.queries) start_query(ex, std::move(q));
    }
    if (request.searches) {
        for (HttpSearchRequest& s : *request.searches) start_search(ex, std::move(s));
    }
    ex->part_done();
}

}  // namespace topgun::server
