// Full-text predicate nodes (match, matchPhrase, matchPrefix) answered from
// BM25 indexes. A query runs each node's search once, over the index a
// resolver names for the node's attribute, and then asks per record key —
// rather than re-analysing every record's text, which would need the whole
// corpus's statistics anyway to score it.
//
// Semantics (the reference's TS QueryExecutor, with its gaps filled):
//   match        any analysed query word matches (operator "or"; "and": every
//                word), fuzziness 0..2 edits, ranked by BM25
//   matchPhrase  the words in order within one field, `slop` extra words allowed
//   matchPrefix  the last word is a prefix (up to maxExpansions terms), earlier
//                words whole terms
// A node matches a record when the record's key is among its search results
// and score × boost ≥ minScore (matchOptions). Deviations from the reference:
// it runs every op as a plain search (phrase and prefix included) and, without
// an index, falls back to a case-insensitive substring test; we run phrase and
// prefix searches proper and report a missing index as an error, since a
// substring test answers a different question than the index would.
//
// Ordering: the reference sorts full-text results by score when the query has
// no sort; query execution here keeps its one total order (SortOrder, key
// ascending without a sort) so that cursors and index walks stay exact. Ranked
// results come from Bm25Index::search or live search (live_search.hpp).
#pragma once

#include <topgun/config.hpp>
#include <topgun/query/predicate.hpp>
#include <topgun/search/bm25.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

// The index holding an attribute's text, or nullptr. Attributes arrive as the
// nodes wrote them (dot paths such as "body" or "meta.title").
using TextIndexResolver = std::function<const search::Bm25Index*(std::string_view attribute)>;

// The search options a full-text node runs with (before its boost and minScore).
inline search::SearchOptions text_search_options(const Predicate::Node& node) {
    search::SearchOptions o;
    o.limit = std::numeric_limits<std::size_t>::max();
    o.min_score = -std::numeric_limits<double>::infinity();  // minScore applies to the boosted score
    o.all_words = node.text_options.all_terms;
    o.fuzzy = node.text_options.fuzziness;
    o.slop = node.text_options.slop;
    if (node.op == Predicate::Op::MatchPrefix) {
        o.prefix = true;
        o.max_expansions = node.text_options.max_expansions;
    }
    return o;
}

// The results of every full-text node of one predicate; valid while the
// indexes it searched do not change (one query execution).
class TextMatches final : public FullTextMatcher {
public:
    TextMatches() = default;

    // nullopt with a message in *error (when given) when the resolver is empty
    // or names no index for a node's attribute. With `score_documents`, plain
    // match nodes do not search: they score each document asked about against
    // the index as it is then (Bm25Index::score_document), which is what a
    // per-document query (per_document) needs after every write.
    static std::optional<TextMatches> run(const Predicate& predicate, const TextIndexResolver& resolve,
                                          std::string* error = nullptr, bool score_documents = false) {
        TextMatches out;
        out.nodes_.resize(predicate.text_node_count());
        if (predicate.text_node_count() == 0) return out;
        std::string message;
        if (!resolve) {
            message = "predicate: full-text ops need a search index";
        } else {
            out.collect(predicate.root(), resolve, score_documents, message);
        }
        if (!message.empty()) {
            if (error) *error = std::move(message);
            return std::nullopt;
        }
        return out;
    }

    std::size_t size() const noexcept { return nodes_.size(); }

    // Whether an index searched has changed since (the results may be out of
    // date); nodes that score documents themselves never are.
    bool stale() const noexcept {
        return std::any_of(nodes_.begin(), nodes_.end(), [](const Node& n) { return !n.scorer && n.matches.stale(); });
    }

    // f(std::string_view key) for every key some node matched (a key may come
    // more than once; keys are the indexes' views, valid until they change).
    template <class F>
    void for_each_matched(F&& f) const {
        for (const Node& n : nodes_) n.matches.for_each([&](std::string_view key, double) { f(key); });
    }

    // Whether every full-text node of `predicate` decides a document on the
    // document alone, so that other documents' changes cannot add or remove
    // it: plain or phrase matching with no fuzziness, scores that cannot turn
    // negative, and no minScore above 0. BM25 scores move with every change
    // of the corpus, and prefix and fuzzy words expand to a capped set of the
    // index's terms, so anything else can cross its line without a write of
    // its own.
    static bool per_document(const Predicate& predicate, const TextIndexResolver& resolve) {
        return per_document(predicate.root(), resolve);
    }

    // The node's boosted score for the key, or nullopt when the node does not
    // match it (not found, or below minScore).
    std::optional<double> score(std::size_t text_slot, std::string_view key) const {
        if (text_slot >= nodes_.size()) return std::nullopt;
        const Node& node = nodes_[text_slot];
        const std::optional<double> raw = node.scorer ? document_score(node, key) : node.matches.score(key);
        if (!raw) return std::nullopt;
        const double boosted = *raw * node.boost;
        if (boosted < node.min_score) return std::nullopt;
        return boosted;
    }

    bool matches(std::size_t text_slot, std::string_view key) const override {
        return score(text_slot, key).has_value();
    }

private:
    struct Node {
        search::Bm25Index::MatchSet matches;
        // Set when the node scores documents itself instead of searching.
        const search::Bm25Index* scorer = nullptr;
        std::vector<search::QueryWord> words;
        search::SearchOptions options;
        double boost = 1;
        double min_score = 0;
    };

    static std::optional<double> document_score(const Node& node, std::string_view key) {
        const auto result = node.scorer->score_document(key, node.words, node.options);
        return result ? std::optional<double>(result->score) : std::nullopt;
    }

    // Runs the searches in tree order; stops at the first node without an index.
    void collect(const Predicate::Node& n, const TextIndexResolver& resolve, bool score_documents, std::string& error) {
        using Op = Predicate::Op;
        if (!error.empty()) return;
        if (n.op != Op::Match && n.op != Op::MatchPhrase && n.op != Op::MatchPrefix) {
            for (const Predicate::Node& child : n.children) collect(child, resolve, score_documents, error);
            return;
        }
        const search::Bm25Index* index = resolve(n.attribute.text());
        if (index == nullptr) {
            error = "predicate: no search index for attribute \"" + n.attribute.text() + "\" (op \"" +
                    std::string(Predicate::op_names[static_cast<std::size_t>(n.op)]) + "\")";
            return;
        }
        const search::SearchOptions options = text_search_options(n);
        Node& out = nodes_[n.text_slot];
        if (score_documents && n.op == Op::Match) {
            out.scorer = index;
            out.words = index->analyze_query(n.text, options);
            out.options = options;
        } else {
            out.matches = n.op == Op::MatchPhrase ? index->match_phrase(n.text, options) : index->match(n.text, options);
        }
        out.boost = n.text_options.boost;
        out.min_score = n.text_options.min_score;
    }

    static bool per_document(const Predicate::Node& n, const TextIndexResolver& resolve) {
        using Op = Predicate::Op;
        if (n.op != Op::Match && n.op != Op::MatchPhrase && n.op != Op::MatchPrefix) {
            return std::all_of(n.children.begin(), n.children.end(),
                               [&](const Predicate::Node& child) { return per_document(child, resolve); });
        }
        const search::Bm25Index* index = resolve ? resolve(n.attribute.text()) : nullptr;
        const TextOptions& o = n.text_options;
        return n.op != Op::MatchPrefix && o.fuzziness == 0 && o.boost >= 0 && o.min_score <= 0 && index != nullptr &&
               index->nonnegative_scores(text_search_options(n));
    }

    using TextOptions = Predicate::TextOptions;
    std::vector<Node> nodes_;  // by text slot
};

}  // namespace query
TOPGUN_END_NAMESPACE
