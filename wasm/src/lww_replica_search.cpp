// LwwReplica's full-text search (see lww_replica.hpp): the core's BM25 index
// over the replica's records, as the server keeps one per map, so a search
// ranks alike offline and on the server.
#include "lww_replica.hpp"

#include "js_bytes.hpp"
#include "replica_messages.hpp"

#include <topgun/query/text_indexes.hpp>
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
        search_.reset();  // the old index stops listening before the new one reads the map
        const search::TokenizerOptions tokenizer = analyzer == "english" ? search::TokenizerOptions::english() : search::TokenizerOptions{};
        search_ = std::make_unique<search::MapSearchIndex>(map_, std::move(fields), tokenizer);
        return val::undefined();
    });
}

val LwwReplica::search(const val& input) {
    const BatchClock::Batch batch(clock_);  // the hits' values are read at one time
    return with_input<LocalSearch>(input, "search", [&](const LocalSearch& request) {
        if (!search_) search_ = std::make_unique<search::MapSearchIndex>(map_);
        search::SearchOptions options = search::from_wire(request.options.value_or(protocol::SearchOptions{}));
        options.prefix = request.prefix.value_or(false);
        options.fuzzy = request.fuzzy.value_or(0);
        protocol::SearchResp out;
        out.results = search::live_hits(search_->index(), request.query, options, map_);
        out.total_count = static_cast<std::uint32_t>(out.results.size());
        return encoded(out);
    });
}

}  // namespace topgun::wasm
