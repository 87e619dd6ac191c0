// LwwReplica::query, the one-shot query (see lww_replica.hpp), compiled for
// size: with the engine inlined at -O2 it alone was 28 KB of code, and live
// queries (lww_replica_queries.cpp) carry the speed target.
#include "lww_replica.hpp"

#include "js_bytes.hpp"

#include <topgun/protocol/codec.hpp>
#include <topgun/query/query_engine.hpp>
#include <topgun/query/text_indexes.hpp>

namespace topgun::wasm {

emscripten::val LwwReplica::query(const emscripten::val& input) {
    return with_input<protocol::Query>(input, "query", [&](const protocol::Query& q) {
        query::QueryOptions options;
        options.text_indexes = text_indexes_for(q).resolver();
        return encoded(page_body(0, query::execute(map_, q, options)));
    });
}

}  // namespace topgun::wasm
