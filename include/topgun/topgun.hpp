// The umbrella header: everything the core library offers.
#pragma once

#include <topgun/config.hpp>
#include <topgun/version.hpp>

#include <topgun/hash.hpp>
#include <topgun/hlc.hpp>
#include <topgun/partition.hpp>
#include <topgun/value.hpp>

#include <topgun/msgpack/reader.hpp>
#include <topgun/msgpack/writer.hpp>

#include <topgun/merkle/hash_trie.hpp>
#include <topgun/merkle/merkle_tree.hpp>
#include <topgun/merkle/or_entry_hash.hpp>

#include <topgun/crdt/lww_map.hpp>
#include <topgun/crdt/or_map.hpp>
#include <topgun/crdt/pn_counter.hpp>

#include <topgun/dag/executor.hpp>
#include <topgun/dag/graph.hpp>
#include <topgun/dag/processors.hpp>

#include <topgun/query/aggregation.hpp>
#include <topgun/query/cursor.hpp>
#include <topgun/query/field_path.hpp>
#include <topgun/query/hash_index.hpp>
#include <topgun/query/index_set.hpp>
#include <topgun/query/live_query.hpp>
#include <topgun/query/ordered_index.hpp>
#include <topgun/query/planner.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/query/query_engine.hpp>
#include <topgun/query/query_plan.hpp>
#include <topgun/query/regex.hpp>
#include <topgun/query/sort_order.hpp>
#include <topgun/query/text_match.hpp>

#include <topgun/search/bm25.hpp>
#include <topgun/search/edit_distance.hpp>
#include <topgun/search/live_search.hpp>
#include <topgun/search/map_index.hpp>
#include <topgun/search/porter_stemmer.hpp>
#include <topgun/search/stop_words.hpp>
#include <topgun/search/tokenizer.hpp>
#include <topgun/search/wire_search.hpp>

#include <topgun/protocol/codec.hpp>
#include <topgun/protocol/http_sync.hpp>
