// LwwReplica's live queries (see lww_replica.hpp); compiled for speed: a live
// query's first page is the query engine's hot path.
#include "lww_replica.hpp"

#include "js_bytes.hpp"
#include "replica_messages.hpp"

#include <topgun/protocol/codec.hpp>
#include <topgun/query/query_engine.hpp>
#include <topgun/query/text_indexes.hpp>

#include <span>

namespace topgun::wasm {
// A page as the QUERY_RESP body the server would send; queryId is the live query's id ("0": one-shot or refused).
protocol::QueryResp page_body(query::LiveQueryId id, query::QueryResult page) {
    protocol::QueryResp out;
    out.query_id = std::to_string(id);
    out.results = std::move(page.rows);
    if (page.has_more) out.has_more = true;
    out.next_cursor = std::move(page.next_cursor);
    out.cursor_status = page.cursor_status;
    if (page.error) {
        out.error = std::move(page.error);
        out.code = "INVALID_QUERY";
    }
    return out;
}

using emscripten::val;

query::TextIndexes& LwwReplica::text_indexes_for(const protocol::Query& q) {
    if (!text_indexes_) text_indexes_ = std::make_unique<query::TextIndexes>(map_);
    // A predicate that does not compile adds nothing: the engine reports it.
    if (const auto predicate = query::Predicate::from_query(q); predicate && predicate->needs_search_index()) {
        text_indexes_->add_for(*predicate);
    }
    return *text_indexes_;
}

val LwwReplica::add_query(const emscripten::val& input) {
    return with_input<protocol::Query>(input, "addQuery", [&](const protocol::Query& q) {
        query::TextIndexes& text = text_indexes_for(q);
        if (!live_) {
            live_ = std::make_unique<query::LiveQueryRegistry>(map_, [this](std::span<const query::LiveQueryEvent> events) {
                pending_.insert(pending_.end(), events.begin(), events.end());
            });
            live_->use_text_indexes(text.resolver());
        }
        query::LiveQueryAdded added = live_->add(q);
        return encoded(page_body(added.id, std::move(added.initial)));
    });
}

bool LwwReplica::remove_query(double id) {
    if (!live_) return false;
    const auto query_id = static_cast<query::LiveQueryId>(id);
    std::erase_if(pending_, [&](const query::LiveQueryEvent& e) { return e.query == query_id; });
    return live_->remove(query_id);
}

val LwwReplica::query_page(double id) const {
    if (!live_) return val::undefined();
    const auto query_id = static_cast<query::LiveQueryId>(id);
    auto page = live_->page(query_id);
    return page ? encoded(page_body(query_id, std::move(*page))) : val::undefined();
}

val LwwReplica::take_query_events() {
    QueryEvents out;
    out.updates.reserve(pending_.size());
    for (const query::LiveQueryEvent& e : pending_) out.updates.push_back(e.to_update(std::to_string(e.query)));
    pending_.clear();
    return encoded(out);
}

}  // namespace topgun::wasm
