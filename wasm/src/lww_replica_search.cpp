// LwwReplica's full-text search (see lww_replica.hpp): the core's BM25 index
// over the replica's records, as the server keeps one per map, so a search
// ranks alike offline and on the server.
#include "lww_replica.hpp"

#include "js_bytes.hpp"
#include "replica_messages.hpp"

#include <topgun/query/text_indexes.hpp>
#include <topgun/search/live_search.hpp>
#include <topgun/search/map_index.hpp>
#include <topgun/search/wire_search.hpp>

#include <utility>
#include <vector>

namespace topgun::wasm {

using emscripten::val;

// Here, where both indexes the replica may own are complete types.
LwwReplica::LwwReplica(const std::string& node_id) : hlc_(node_id, {.clock = clock_.source()}), map_(hlc_) {}
LwwReplica::~LwwReplica() = default;

val LwwReplica::enable_search(const val& input) {
    return with_input<SearchSetup>(input, "enableSearch", [&](SearchSetup& setup) {
        const std::string analyzer = setup.analyzer.value_or("plain");
        if (analyzer != "plain" && analyzer != "english") return error_value("enableSearch: analyzer must be 'plain' or 'english'");
        std::vector<search::IndexedField> fields;
        for (SearchField& f : setup.indexed.value_or(std::vector<SearchField>{})) {
            fields.push_back(search::IndexedField{std::move(f.path), f.boost.value_or(1.0)});
        }
        if (live_search_ && live_search_->size() > 0) return error_value("enableSearch: close the standing searches first");
        live_search_.reset();
        search_.reset();  // the old index stops listening before the new one reads the map
        const search::TokenizerOptions tokenizer = analyzer == "english" ? search::TokenizerOptions::english() : search::TokenizerOptions{};
        search_ = std::make_unique<search::MapSearchIndex>(map_, std::move(fields), tokenizer, search::Bm25Options{},
                                                           search::TextFields::ByMember);
        return val::undefined();
    });
}

namespace {

search::SearchOptions options_of(const LocalSearch& request) {
    search::SearchOptions options = search::from_wire(request.options.value_or(protocol::SearchOptions{}));
    options.prefix = request.prefix.value_or(false);
    options.fuzzy = request.fuzzy.value_or(0);
    return options;
}

}  // namespace

search::MapSearchIndex& LwwReplica::search_index() {
    // As the server indexes a map: every string, each top-level member a field.
    if (!search_) search_ = std::make_unique<search::MapSearchIndex>(map_, search::TokenizerOptions{}, search::Bm25Options{},
                                                                     search::TextFields::ByMember);
    return *search_;
}

val LwwReplica::search(const val& input) {
    const BatchClock::Batch batch(clock_);  // the hits' values are read at one time
    return with_input<LocalSearch>(input, "search", [&](const LocalSearch& request) {
        protocol::SearchResp out;
        out.results = search::live_hits(search_index().index(), request.query, options_of(request), map_);
        out.total_count = static_cast<std::uint32_t>(out.results.size());
        return encoded(out);
    });
}

val LwwReplica::add_search(const val& input) {
    const BatchClock::Batch batch(clock_);
    return with_input<LocalSearch>(input, "addSearch", [&](const LocalSearch& request) {
        if (!live_search_) live_search_ = std::make_unique<search::LiveSearch>(search_index());
        // The id is known once subscribe returns; the callback reads it from here.
        auto id = std::make_shared<search::LiveSearch::SubscriptionId>(0);
        auto [assigned, hits] = live_search_->subscribe(request.query, options_of(request), [this, id](const search::SearchEvent& e) {
            protocol::SearchUpdate u;
            u.subscription_id = std::to_string(*id);
            u.key = std::string(e.key);
            u.score = e.score;
            u.matched_terms.assign(e.matched_terms.begin(), e.matched_terms.end());
            u.change_type = e.type;
            search_events_.push_back(std::move(u));
        });
        *id = assigned;
        protocol::SearchResp out;
        out.request_id = std::to_string(assigned);
        out.results = search::with_values(std::move(hits), map_);
        out.total_count = static_cast<std::uint32_t>(out.results.size());
        return encoded(out);
    });
}

bool LwwReplica::remove_search(double id) {
    if (!live_search_) return false;
    const std::string name = std::to_string(static_cast<search::LiveSearch::SubscriptionId>(id));
    std::erase_if(search_events_, [&](const protocol::SearchUpdate& u) { return u.subscription_id == name; });
    return live_search_->unsubscribe(static_cast<search::LiveSearch::SubscriptionId>(id));
}

val LwwReplica::take_search_events() {
    const BatchClock::Batch batch(clock_);
    SearchEvents out;
    out.updates.swap(search_events_);
    for (protocol::SearchUpdate& u : out.updates) {
        const Value* value = u.change_type == protocol::ChangeType::Leave ? nullptr : map_.get(u.key);
        if (value != nullptr) u.value = *value;
    }
    return encoded(out);
}

}  // namespace topgun::wasm
