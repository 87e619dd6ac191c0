// Full-text, vector and hybrid search (PROTOCOL.md §3.G, §3.H, §9).
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/protocol/message_base.hpp>
#include <topgun/protocol/query_types.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// ---- §3.G Full-text search ----

struct SearchResultEntry {
    std::string key;
    Value value;  // the Rust server always sends nil
    double score = 0;
    std::vector<std::string> matched_terms;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("value", s.value);
        v("score", s.score);
        v("matchedTerms", s.matched_terms);
    }
    friend bool operator==(const SearchResultEntry&, const SearchResultEntry&) = default;
};

struct Search {
    static constexpr std::string_view kType = "SEARCH";
    static constexpr Shape kShape = Shape::Payload;
    std::string request_id;
    std::string map_name;
    std::string query;
    std::optional<SearchOptions> options;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("mapName", s.map_name);
        v("query", s.query);
        v("options", s.options);
    }
    friend bool operator==(const Search&, const Search&) = default;
};

struct SearchResp {
    static constexpr std::string_view kType = "SEARCH_RESP";
    static constexpr Shape kShape = Shape::Payload;
    std::string request_id;  // the subscription id when answering SEARCH_SUB
    std::vector<SearchResultEntry> results;
    std::uint32_t total_count = 0;
    std::optional<std::string> error;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("results", s.results);
        v("totalCount", s.total_count);
        v("error", s.error);
    }
    friend bool operator==(const SearchResp&, const SearchResp&) = default;
};

struct SearchSub : SearchSubscription {
    static constexpr std::string_view kType = "SEARCH_SUB";
    static constexpr Shape kShape = Shape::Payload;
    friend bool operator==(const SearchSub&, const SearchSub&) = default;
};

struct SearchUpdate {
    static constexpr std::string_view kType = "SEARCH_UPDATE";
    static constexpr Shape kShape = Shape::Payload;
    std::string subscription_id;
    std::string key;
    Value value;
    double score = 0;
    std::vector<std::string> matched_terms;
    ChangeType change_type = ChangeType::Enter;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
        v("key", s.key);
        v("value", s.value);
        v("score", s.score);
        v("matchedTerms", s.matched_terms);
        v("changeType", s.change_type);
    }
    friend bool operator==(const SearchUpdate&, const SearchUpdate&) = default;
};

struct SearchUnsub {
    static constexpr std::string_view kType = "SEARCH_UNSUB";
    static constexpr Shape kShape = Shape::Payload;
    std::string subscription_id;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
    }
    friend bool operator==(const SearchUnsub&, const SearchUnsub&) = default;
};

// ---- §3.H Vector search ----

struct VectorSearchOptions {
    std::optional<bool> include_value;
    std::optional<bool> include_vectors;
    std::optional<double> min_score;
    std::optional<PredicateNode> filter;  // applied after the ANN search

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("includeValue", s.include_value);
        v("includeVectors", s.include_vectors);
        v("minScore", s.min_score);
        v("filter", s.filter);
    }
    friend bool operator==(const VectorSearchOptions&, const VectorSearchOptions&) = default;
};

struct VectorSearch {
    static constexpr std::string_view kType = "VECTOR_SEARCH";
    static constexpr Shape kShape = Shape::Payload;
    std::string id;
    std::string map_name;
    std::optional<std::string> index_name;
    Bytes query_vector;  // little-endian f32 values
    std::uint32_t k = 0;
    std::optional<std::uint32_t> ef_search;
    std::optional<VectorSearchOptions> options;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("id", s.id);
        v("mapName", s.map_name);
        v("indexName", s.index_name);
        v("queryVector", s.query_vector);
        v("k", s.k);
        v("efSearch", s.ef_search);
        v("options", s.options);
    }
    friend bool operator==(const VectorSearch&, const VectorSearch&) = default;
};

struct VectorSearchResult {
    std::string key;
    double score = 0;
    Nullable<Value> value;
    std::optional<Bytes> vector;  // little-endian f32 values

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("score", s.score);
        v("value", s.value);
        v("vector", s.vector);
    }
    friend bool operator==(const VectorSearchResult&, const VectorSearchResult&) = default;
};

struct VectorSearchResp {
    static constexpr std::string_view kType = "VECTOR_SEARCH_RESP";
    static constexpr Shape kShape = Shape::Payload;
    std::string id;
    std::vector<VectorSearchResult> results;
    std::uint32_t total_candidates = 0;
    std::uint64_t search_time_ms = 0;
    std::optional<std::string> error;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("id", s.id);
        v("results", s.results);
        v("totalCandidates", s.total_candidates);
        v("searchTimeMs", s.search_time_ms);
        v("error", s.error);
    }
    friend bool operator==(const VectorSearchResp&, const VectorSearchResp&) = default;
};

// ---- §3.H Hybrid search ----

enum class SearchMethod : std::uint8_t { Exact, FullText, Semantic };
template <>
struct EnumNames<SearchMethod> {
    static constexpr std::array<std::string_view, 3> names = {"exact", "fullText", "semantic"};
};

// The request fields shared by HYBRID_SEARCH and HYBRID_SEARCH_SUB, after their id.
struct HybridSearchParams {
    std::string map_name;
    std::string query_text;
    std::vector<SearchMethod> methods;
    std::uint32_t k = 0;
    std::optional<Bytes> query_vector;
    std::optional<PredicateNode> predicate;
    std::optional<bool> include_value;  // the server's default is true
    std::optional<double> min_score;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("mapName", s.map_name);
        v("queryText", s.query_text);
        v("methods", s.methods);
        v("k", s.k);
        v("queryVector", s.query_vector);
        v("predicate", s.predicate);
        v("includeValue", s.include_value);
        v("minScore", s.min_score);
    }
    friend bool operator==(const HybridSearchParams&, const HybridSearchParams&) = default;
};

struct HybridSearch {
    static constexpr std::string_view kType = "HYBRID_SEARCH";
    static constexpr Shape kShape = Shape::Payload;
    std::string request_id;
    HybridSearchParams params;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        HybridSearchParams::fields(s.params, v);
    }
    friend bool operator==(const HybridSearch&, const HybridSearch&) = default;
};

struct HybridSearchResultEntry {
    std::string key;
    double score = 0;                 // the fused (RRF) score
    StringMap<double> method_scores;  // method name -> that method's own score
    Nullable<Value> value;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("score", s.score);
        v("methodScores", s.method_scores);
        v("value", s.value);
    }
    friend bool operator==(const HybridSearchResultEntry&, const HybridSearchResultEntry&) = default;
};

struct HybridSearchResp {
    static constexpr std::string_view kType = "HYBRID_SEARCH_RESP";
    static constexpr Shape kShape = Shape::Payload;
    std::string request_id;
    std::vector<HybridSearchResultEntry> results;
    std::uint64_t search_time_ms = 0;
    std::optional<std::string> error;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("requestId", s.request_id);
        v("results", s.results);
        v("searchTimeMs", s.search_time_ms);
        v("error", s.error);
    }
    friend bool operator==(const HybridSearchResp&, const HybridSearchResp&) = default;
};

struct HybridSearchSub {
    static constexpr std::string_view kType = "HYBRID_SEARCH_SUB";
    static constexpr Shape kShape = Shape::Payload;
    std::string subscription_id;
    HybridSearchParams params;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
        HybridSearchParams::fields(s.params, v);
    }
    friend bool operator==(const HybridSearchSub&, const HybridSearchSub&) = default;
};

struct HybridSearchUpdate {
    static constexpr std::string_view kType = "HYBRID_SEARCH_UPDATE";
    static constexpr Shape kShape = Shape::Payload;
    std::string subscription_id;
    std::string key;
    double score = 0;
    StringMap<double> method_scores;
    Nullable<Value> value;
    ChangeType change_type = ChangeType::Enter;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
        v("key", s.key);
        v("score", s.score);
        v("methodScores", s.method_scores);
        v("value", s.value);
        v("changeType", s.change_type);
    }
    friend bool operator==(const HybridSearchUpdate&, const HybridSearchUpdate&) = default;
};

struct HybridSearchUnsub {
    static constexpr std::string_view kType = "HYBRID_SEARCH_UNSUB";
    static constexpr Shape kShape = Shape::Payload;
    std::string subscription_id;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
    }
    friend bool operator==(const HybridSearchUnsub&, const HybridSearchUnsub&) = default;
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
