// An incremental BM25 inverted index: documents are keys with one or more
// named text fields; queries return keys ranked by Okapi BM25.
//
// Only terms, positions and field lengths are kept, never the documents' text,
// so callers hold the data and the index stays a fraction of its size.
//
// Scoring: every field is its own BM25 corpus and a document's score for a term
// is the boost-weighted sum over its fields:
//     boost_f · idf_f · tf·(k1 + 1) / (tf + k1·(1 − b + b·len_f/avg_f))
//     idf_f = ln(1 + (N − n_f + 0.5) / (n_f + 0.5))  (= ln((N + 1) / (n_f + 0.5)))
// with N the number of documents, n_f the documents whose field f holds the
// term, len_f the field's term count and avg_f the field's total term count
// over N (documents without the field count as length 0). With one field this
// is the standard formula. Query words are deduplicated and their
// contributions summed.
//
// Layout, chosen for indexing and top-k speed at 100k+ documents:
// - Postings are (document, field, tf) triples, 12 bytes, sorted by (document,
//   field) in blocks of at most 128, so adding or removing a document costs
//   O(log P + 128) per term instead of shifting a whole list of a common word.
// - Positions live with their document (one array per document), not in the
//   postings: only phrase queries read them, and only for candidate documents.
// - Terms are numbered; an open-addressing table with the term's first bytes
//   inline finds them (indexing hashes a document's words first and prefetches
//   their slots), an ordered map serves prefix queries, and document
//   frequencies and field lengths are dense arrays per field.
// - A query scores term at a time, postings in document order, merging word
//   by word into one list sorted by document; the last merge feeds a top-k
//   heap: no hash map of every matching document, no per-document allocation.
//   Fuzzy matching walks the ordered dictionary as a trie, sharing distance
//   rows between neighbouring terms and skipping branches already too far.
// Bm25Index is not thread-safe for writers; concurrent const searches are fine
// (queries keep their scratch on the stack).
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/string_map.hpp>
#include <topgun/detail/utf8.hpp>
#include <topgun/search/tokenizer.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace search {
namespace detail {

inline void prefetch(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#else
    static_cast<void>(p);
#endif
}

}  // namespace detail

struct Bm25Options {
    double k1 = 1.2;  // term-frequency saturation
    double b = 0.75;  // field-length normalisation
};

struct FieldText {
    std::string_view name;
    std::string_view text;
};

struct FieldBoost {
    std::string field;
    double boost = 1.0;
};

struct SearchOptions {
    std::size_t limit = 10;  // 0 returns nothing
    double min_score = 0;    // results need score >= min_score
    // The last query word also matches every index term it begins (search as
    // you type); earlier words match whole terms only, so a long query does not
    // explode into prefixes of every word.
    bool prefix = false;
    // Query terms also match index terms within this many edits (0..2, larger
    // values are clamped), weighted 1 / (1 + edits) so exact matches rank first.
    std::size_t fuzzy = 0;
    // Caps the index terms one query word expands to by prefix or fuzzy
    // matching (fuzzy keeps the closest, prefix the first in term order).
    std::size_t max_expansions = 50;
    // Every query word must match (through any of its expansions), as a query
    // with operator "and"; by default any word does.
    bool all_words = false;
    // Boosts for this query, replacing set_field_boost's for the fields named
    // (unknown field names are ignored).
    std::vector<FieldBoost> boosts;
    // search_phrase only: how many extra words may sit between the phrase's
    // words in total, order kept (0: the exact phrase); at most
    // Bm25Index::max_phrase_slop, larger values are clamped.
    std::size_t slop = 0;
};

struct SearchResult {
    std::string key;
    double score = 0;
    // The index terms (analysed: lower-cased, maybe stemmed) the document matched, sorted.
    std::vector<std::string> matched_terms;
};

// One scored word of a query, as Bm25Index::analyze_query sees it.
struct QueryWord {
    std::string word;                 // lower-cased, as split from the query
    std::optional<std::string> term;  // the analysed term; nullopt when the analyser drops the word
    bool prefix = false;              // the last word of a prefix query: expands to the terms it begins
};

// Corpus-wide figures that every score depends on (see Bm25Index::drift_bound).
struct CorpusStats {
    std::size_t documents = 0;
    std::vector<std::uint64_t> field_lengths;  // total term count per field, in the index's field order
};

class Bm25Index {
    using DocId = std::uint32_t;
    using FieldId = std::uint32_t;
    using TermId = std::uint32_t;

    struct Scored {
        DocId doc = 0;
        double score = 0;
    };

public:
    static constexpr std::size_t max_fuzzy_edits = 2;
    // Texts of one field are this many positions apart beyond their words,
    // so that no phrase runs from one into the next (Elasticsearch's
    // position_increment_gap), with any slop up to max_phrase_slop.
    static constexpr std::uint32_t text_gap = 100;
    static constexpr std::size_t max_phrase_slop = text_gap - 1;

    // The documents matching a query with their scores, unordered. Valid while
    // the index is not modified (check with stale()).
    class MatchSet {
    public:
        MatchSet() = default;
        std::size_t size() const noexcept { return docs_.size(); }
        bool empty() const noexcept { return docs_.empty(); }
        bool stale() const noexcept { return index_ == nullptr || index_->version_ != version_; }
        // nullopt when the key does not match.
        std::optional<double> score(std::string_view key) const {
            if (index_ == nullptr) return std::nullopt;
            const auto id = index_->ids_.find(key);
            if (id == index_->ids_.end()) return std::nullopt;
            const auto it = std::lower_bound(docs_.begin(), docs_.end(), id->second,
                                             [](const Scored& s, DocId doc) { return s.doc < doc; });
            if (it == docs_.end() || it->doc != id->second) return std::nullopt;
            return it->score;
        }
        bool contains(std::string_view key) const { return score(key).has_value(); }
        // f(std::string_view key, double score) for every match.
        template <class F>
        void for_each(F&& f) const {
            for (const Scored& s : docs_) f(std::string_view(index_->keys_[s.doc]), s.score);
        }

    private:
        friend class Bm25Index;
        const Bm25Index* index_ = nullptr;
        std::uint64_t version_ = 0;
        std::vector<Scored> docs_;  // ascending by document number
    };

    Bm25Index() = default;
    explicit Bm25Index(TokenizerOptions tokenizer, Bm25Options options = {}) noexcept
        : tokenizer_(tokenizer), options_(options) {}
    // Terms view the dictionary's keys: a copy would point into the original,
    // while a move keeps them valid.
    Bm25Index(const Bm25Index&) = delete;
    Bm25Index& operator=(const Bm25Index&) = delete;
    Bm25Index(Bm25Index&&) noexcept = default;
    Bm25Index& operator=(Bm25Index&&) noexcept = default;

    const Tokenizer& tokenizer() const noexcept { return tokenizer_; }
    const Bm25Options& options() const noexcept { return options_; }

    // Boosts apply at query time, so they may change while documents are indexed.
    void set_field_boost(std::string_view field, double boost) {
        fields_[field_id(field)].boost = boost;
        ++version_;
    }

    std::size_t size() const noexcept { return ids_.size(); }
    std::size_t term_count() const noexcept { return dictionary_.size(); }
    bool contains(std::string_view key) const { return ids_.find(key) != ids_.end(); }
    // Changes with every modification (documents and boosts).
    std::uint64_t version() const noexcept { return version_; }

    // Replaces the key's document. A field name given twice is one field with
    // the texts in order; a phrase does not match across the two.
    void add_or_update(std::string_view key, std::span<const FieldText> fields) {
        remove(key);
        ++version_;
        const DocId id = allocate(key);

        struct Occurrence {
            TermId term;
            FieldId field;
            std::uint32_t position;
        };
        std::vector<Occurrence> occurrences;
        std::vector<Token> tokens;                 // of every field, in order
        std::vector<std::uint32_t> next_position;  // by FieldId
        for (const FieldText& f : fields) {
            const FieldId fid = field_id(f.name);
            if (next_position.size() <= fid) next_position.resize(fid + 1, 0);
            std::vector<Token> field_tokens = tokenizer_.tokenize_with_positions(f.text);
            const std::uint32_t base = next_position[fid];
            for (Token& t : field_tokens) {
                occurrences.push_back(Occurrence{0, fid, base + t.position});
                next_position[fid] = base + t.position + 1 + text_gap;
                tokens.push_back(std::move(t));
            }
            Field& field = fields_[fid];
            if (field.lengths.size() <= id) field.lengths.resize(id + 1, 0);
            field.lengths[id] += static_cast<std::uint32_t>(field_tokens.size());
            field.total_length += field_tokens.size();
        }
        // Hash every token and prefetch its slot first, so the table's cache
        // misses overlap rather than come one per token.
        std::vector<std::size_t> hashes(tokens.size());
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            hashes[i] = hash_term(tokens[i].term);
            if (!slots_.empty()) detail::prefetch(&slots_[hashes[i] & (slots_.size() - 1)]);
        }
        for (std::size_t i = 0; i < tokens.size(); ++i) occurrences[i].term = intern(tokens[i].term, hashes[i]);
        std::sort(occurrences.begin(), occurrences.end(), [](const Occurrence& a, const Occurrence& b) {
            return std::tie(a.term, a.field, a.position) < std::tie(b.term, b.field, b.position);
        });

        Document& doc = docs_[id];
        doc.positions.reserve(occurrences.size());
        for (std::size_t i = 0; i < occurrences.size();) {
            DocTerm entry{occurrences[i].term, occurrences[i].field, 0,
                          static_cast<std::uint32_t>(doc.positions.size())};
            for (; i < occurrences.size() && occurrences[i].term == entry.term && occurrences[i].field == entry.field;
                 ++i) {
                doc.positions.push_back(occurrences[i].position);
                ++entry.tf;
            }
            doc.terms.push_back(entry);
        }
        doc.terms.shrink_to_fit();

        // Each posting lands at the end of its term's last block: three
        // dependent loads (term, block list, block) that miss the cache for the
        // many rare terms. Prefetching them stage by stage for all the
        // document's terms overlaps the misses instead of paying them in turn.
        for (const DocTerm& e : doc.terms) detail::prefetch(&terms_[e.term]);
        for (const DocTerm& e : doc.terms) {
            if (!terms_[e.term].blocks.empty()) detail::prefetch(&terms_[e.term].blocks.back());
            std::vector<std::uint32_t>& doc_freq = fields_[e.field].doc_freq;
            if (doc_freq.size() <= e.term) doc_freq.resize(terms_.size(), 0);
            detail::prefetch(&doc_freq[e.term]);
        }
        for (const DocTerm& e : doc.terms) {
            if (!terms_[e.term].blocks.empty()) detail::prefetch(&terms_[e.term].blocks.back().back());
        }
        for (const DocTerm& e : doc.terms) {
            insert_posting(terms_[e.term], Posting{id, e.field, e.tf});
            ++fields_[e.field].doc_freq[e.term];
        }
    }

    void add_or_update(std::string_view key, std::initializer_list<FieldText> fields) {
        add_or_update(key, std::span<const FieldText>(fields.begin(), fields.size()));
    }

    // A document with a single unnamed field.
    void add_or_update(std::string_view key, std::string_view text) {
        const FieldText field{std::string_view(), text};
        add_or_update(key, std::span<const FieldText>(&field, 1));
    }

    // False when the key was not indexed.
    bool remove(std::string_view key) {
        const auto found = ids_.find(key);
        if (found == ids_.end()) return false;
        ++version_;
        const DocId id = found->second;
        Document& doc = docs_[id];
        for (const DocTerm& entry : doc.terms) {
            Term& term = terms_[entry.term];
            erase_posting(term, id, entry.field);
            --fields_[entry.field].doc_freq[entry.term];
            if (term.blocks.empty()) release_term(entry.term);
        }
        for (Field& field : fields_) {
            if (id < field.lengths.size()) {
                field.total_length -= field.lengths[id];
                field.lengths[id] = 0;
            }
        }
        doc = Document{};
        keys_[id].clear();
        ids_.erase(found);
        free_docs_.push_back(id);
        return true;
    }

    // The query's scored words, in order: split and analysed as search() does,
    // repeated whole words and words the analyser drops left out (a prefix
    // word is kept either way: it matches on its raw spelling too).
    std::vector<QueryWord> analyze_query(std::string_view query_text, const SearchOptions& options) const {
        const std::vector<std::string> words = Tokenizer::split(query_text);
        std::vector<QueryWord> out;
        for (std::size_t w = 0; w < words.size(); ++w) {
            const bool as_prefix = options.prefix && w + 1 == words.size();
            std::optional<std::string> term = tokenizer_.analyze(words[w]);
            if (!as_prefix) {
                if (!term) continue;
                const bool seen = std::any_of(out.begin(), out.end(),
                                              [&](const QueryWord& q) { return !q.prefix && q.term == term; });
                if (seen) continue;
            }
            out.push_back(QueryWord{words[w], std::move(term), as_prefix});
        }
        return out;
    }

    std::vector<SearchResult> search(std::string_view query_text, const SearchOptions& options = {}) const {
        if (options.limit == 0) return {};
        const std::vector<QueryWord> words = analyze_query(query_text, options);
        std::vector<TermId> terms;
        TopK top(*this, options.limit);
        if (!top_k_pruned(words, options, terms, top)) {
            terms.clear();
            match_words(words, options, &terms, top);
        }
        return rank(std::move(top).take(), terms, options);
    }

    // Every document search() would return, whatever the limit.
    MatchSet match(std::string_view query_text, const SearchOptions& options = {}) const {
        std::vector<Scored> docs;
        match_words(analyze_query(query_text, options), options, nullptr, [&](DocId doc, double score) {
            docs.push_back(Scored{doc, score});
        });
        return match_set(std::move(docs));
    }

    // Documents holding the query's terms in order within one field, at most
    // options.slop extra words apart in total (stop words dropped by the
    // tokenizer still take their place), scored as a plain search for the same
    // terms. prefix, fuzzy and all_words do not apply.
    std::vector<SearchResult> search_phrase(std::string_view text, const SearchOptions& options = {}) const {
        if (options.limit == 0) return {};
        std::vector<TermId> terms;
        std::vector<Scored> hits = match_phrase_docs(text, options, &terms);
        return rank(std::move(hits), terms, options);
    }

    MatchSet match_phrase(std::string_view text, const SearchOptions& options = {}) const {
        return match_set(match_phrase_docs(text, options, nullptr));
    }

    // The distinct terms of the key's document, each once: f(std::string_view term).
    template <class F>
    void for_each_term(std::string_view key, F&& f) const {
        const auto found = ids_.find(key);
        if (found == ids_.end()) return;
        const Document& doc = docs_[found->second];
        for (std::size_t i = 0; i < doc.terms.size(); ++i) {
            if (i == 0 || doc.terms[i].term != doc.terms[i - 1].term) f(terms_[doc.terms[i].term].text);
        }
    }

    CorpusStats stats() const {
        CorpusStats s;
        s.documents = ids_.size();
        for (const Field& f : fields_) s.field_lengths.push_back(f.total_length);
        return s;
    }

    // Whether every field boost the query uses is ≥ 0, and so every score.
    bool nonnegative_scores(const SearchOptions& options) const {
        const std::vector<double> boosts = field_boosts(options);
        return std::all_of(boosts.begin(), boosts.end(), [](double b) { return b >= 0; });
    }

    // An upper bound on how far any document's score for the query (its
    // analysed words, with these options' boosts) can have moved since the
    // index had statistics `before`, for every document that did not change
    // itself, provided the query's expansions did not change: no document
    // holding a term the query matches or expands to was added, changed or
    // removed, except that whole-word terms for which `changed` answers true
    // may have gained or lost that one document (its document frequency moved
    // by one). With `changed` a query with prefix or fuzzy words gets +inf:
    // their expansions may have changed.
    //
    // Such changes still move N, the average field lengths and those document
    // frequencies, and so every score a little; live search uses the bound to
    // tell when that drift could reorder its window (live_search.hpp).
    // Derivation: idf_f = ln((N+1)/(n_f+0.5)) moves by |ln((N'+1)/(N+1))|
    // plus, when n_f moved by one to n ≥ 1, at most ln((n+0.5)/(n−0.5)); it is
    // at most ln((N+1)/1.5). The length-normalised tf part
    // g = tf·(k1+1)/(tf + k1·norm) stays below k1+1, and when avg_f becomes
    // avg_f' (ratio r) norm is scaled by a factor between 1 and r, so g moves by
    // at most (k1+1)·(max(r, 1/r) − 1). A word contributes its best expansion
    // (weight ≤ 1) summed over fields.
    double drift_bound(const CorpusStats& before, const SearchOptions& options, std::span<const QueryWord> words,
                       const std::function<bool(std::string_view)>& changed = {}) const {
        if (changed && (options.fuzzy > 0 ||
                        std::any_of(words.begin(), words.end(), [](const QueryWord& w) { return w.prefix; }))) {
            return std::numeric_limits<double>::infinity();
        }
        const auto n0 = static_cast<double>(before.documents);
        const auto n1 = static_cast<double>(ids_.size());
        const double k1 = options_.k1;
        const double idf_change = std::abs(std::log((n1 + 1.0) / (n0 + 1.0)));
        const double idf_max = std::log((std::max(n0, n1) + 1.0) / 1.5);
        const std::vector<double> boosts = field_boosts(options);
        std::vector<double> length_change(fields_.size(), -1.0);  // < 0: the field holds no query posting
        for (std::size_t f = 0; f < fields_.size(); ++f) {
            const std::uint64_t t0 = f < before.field_lengths.size() ? before.field_lengths[f] : 0;
            const std::uint64_t t1 = fields_[f].total_length;
            // A field without terms on one side holds no posting of the query's
            // terms on either (those documents did not change).
            if (t0 == 0 || t1 == 0) continue;
            const double r = (static_cast<double>(t0) / n0) / (static_cast<double>(t1) / n1);
            length_change[f] = std::max(r, 1.0 / r) - 1.0;
        }
        double total = 0;
        for (const QueryWord& w : words) {
            const std::optional<TermId> term =
                changed && w.term && changed(*w.term) ? find_term(*w.term) : std::nullopt;
            for (std::size_t f = 0; f < fields_.size(); ++f) {
                if (length_change[f] < 0) continue;
                double df_change = 0;
                if (term && *term < fields_[f].doc_freq.size() && fields_[f].doc_freq[*term] >= 1) {
                    const auto n = static_cast<double>(fields_[f].doc_freq[*term]);
                    df_change = std::log((n + 0.5) / (n - 0.5));
                }
                total += std::abs(boosts[f]) * (k1 + 1.0) * (idf_change + df_change + idf_max * length_change[f]);
            }
        }
        return total;
    }

    // The key's result for the analysed query exactly as search() scores it
    // (bit for bit), or nullopt when the document does not match it (or is
    // not indexed). min_score and limit do not apply.
    std::optional<SearchResult> score_document(std::string_view key, std::span<const QueryWord> words,
                                               const SearchOptions& options) const {
        const auto found = ids_.find(key);
        if (found == ids_.end()) return std::nullopt;
        const DocId doc = found->second;
        const std::vector<FieldParams> params = field_params(options);
        std::vector<double> weights;
        std::optional<double> total;
        std::size_t matched = 0;
        SearchResult out{std::string(key), 0.0, {}};
        for (const QueryWord& word : words) {
            std::optional<double> best;
            for (const Expansion& e : expand(word, options)) {
                const std::span<const DocTerm> entries = entries_of(docs_[doc], e.term);
                if (entries.empty()) continue;
                term_weights(e.term, params, weights);
                double score = 0.0;
                for (const DocTerm& entry : entries) {
                    score += posting_score(weights[entry.field], entry.tf, params[entry.field], doc);
                }
                score *= e.weight;
                best = best ? std::max(*best, score) : score;
                out.matched_terms.emplace_back(terms_[e.term].text);
            }
            if (!best) continue;
            ++matched;
            total = total ? *total + *best : *best;
        }
        if (!total || (options.all_words && matched != words.size())) return std::nullopt;
        out.score = *total;
        std::sort(out.matched_terms.begin(), out.matched_terms.end());
        out.matched_terms.erase(std::unique(out.matched_terms.begin(), out.matched_terms.end()),
                                out.matched_terms.end());
        return out;
    }

    // Whether the two documents score the same for the analysed whole-word
    // query under any corpus statistics: the same term frequencies per field
    // for every query term, and the same lengths of those fields. Such
    // documents keep equal scores (and their key order) while the query's
    // document frequencies do not change. False for prefix or fuzzy queries.
    bool same_scoring(std::string_view a, std::string_view b, std::span<const QueryWord> words,
                      const SearchOptions& options) const {
        if (options.fuzzy > 0) return false;
        const auto ia = ids_.find(a);
        const auto ib = ids_.find(b);
        if (ia == ids_.end() || ib == ids_.end()) return false;
        for (const QueryWord& w : words) {
            if (w.prefix) return false;
            const std::optional<TermId> term = w.term ? find_term(*w.term) : std::nullopt;
            if (!term) continue;
            const std::span<const DocTerm> ea = entries_of(docs_[ia->second], *term);
            const std::span<const DocTerm> eb = entries_of(docs_[ib->second], *term);
            if (ea.size() != eb.size()) return false;
            for (std::size_t i = 0; i < ea.size(); ++i) {
                const FieldId f = ea[i].field;
                if (f != eb[i].field || ea[i].tf != eb[i].tf) return false;
                if (fields_[f].lengths[ia->second] != fields_[f].lengths[ib->second]) return false;
            }
        }
        return true;
    }

private:
    // One field of one document holding a term.
    struct Posting {
        DocId doc = 0;
        FieldId field = 0;
        std::uint32_t tf = 0;
    };
    static constexpr std::size_t block_capacity = 128;
    using Block = std::vector<Posting>;

    struct Term {
        std::string_view text;      // the dictionary's key
        std::vector<Block> blocks;  // sorted by (doc, field); none empty; no postings: a free slot
        std::uint32_t postings = 0;
        std::uint32_t max_tf = 0;  // never lowered while the term lives: an upper bound for pruning
    };
    // Ordered, so prefix queries are a range scan.
    using Dictionary = std::map<std::string, TermId, std::less<>>;
    // The hash table's entry: the term's first bytes are inline, so a lookup
    // touches one slot and (for short terms) nothing else.
    struct TermSlot {
        static constexpr std::size_t inline_bytes = 11;
        static constexpr TermId empty = 0xFFFFFFFF;
        TermId id = empty;
        std::uint8_t length = 0;  // in bytes, capped at 255
        char text[inline_bytes] = {};
    };

    struct DocTerm {
        TermId term = 0;
        FieldId field = 0;
        std::uint32_t tf = 0;
        std::uint32_t first = 0;  // the first of its tf positions in Document::positions
    };
    struct Document {
        std::vector<DocTerm> terms;            // sorted by (term, field)
        std::vector<std::uint32_t> positions;  // ascending within each DocTerm
    };
    struct Field {
        double boost = 1.0;
        std::uint64_t total_length = 0;
        std::vector<std::uint32_t> lengths;   // by DocId; shorter when later documents lack the field
        std::vector<std::uint32_t> doc_freq;  // by TermId: the documents whose field holds the term
    };
    // The per-query constants of one field: k1·norm = a + c·len.
    struct FieldParams {
        double boost = 1.0;
        double a = 0;
        double c = 0;
        const std::uint32_t* lengths = nullptr;
    };
    struct Expansion {
        TermId term;
        double weight;
    };
    struct Accumulated {
        DocId doc;
        double score;
        std::uint32_t words;  // how many query words the document matched
    };

    static bool posting_less(const Posting& a, DocId doc, FieldId field) noexcept {
        return a.doc != doc ? a.doc < doc : a.field < field;
    }

    FieldId field_id(std::string_view name) {
        const auto it = field_ids_.find(name);
        if (it != field_ids_.end()) return it->second;
        const auto id = static_cast<FieldId>(fields_.size());
        fields_.emplace_back();
        field_ids_.emplace(std::string(name), id);
        return id;
    }

    DocId allocate(std::string_view key) {
        DocId id = 0;
        if (!free_docs_.empty()) {
            id = free_docs_.back();
            free_docs_.pop_back();
        } else {
            id = static_cast<DocId>(docs_.size());
            docs_.emplace_back();
            keys_.emplace_back();
        }
        keys_[id] = std::string(key);
        ids_.emplace(std::string(key), id);
        return id;
    }

    static std::size_t hash_term(std::string_view text) noexcept { return std::hash<std::string_view>{}(text); }

    // Whether the slot holds the term `text`; only terms longer than the
    // inline bytes are compared through the term (and so the dictionary).
    bool slot_holds(const TermSlot& slot, std::string_view text) const noexcept {
        if (slot.length != std::min<std::size_t>(text.size(), 255)) return false;
        const std::size_t n = std::min(text.size(), TermSlot::inline_bytes);
        if (std::memcmp(slot.text, text.data(), n) != 0) return false;
        return text.size() <= TermSlot::inline_bytes || terms_[slot.id].text == text;
    }

    std::size_t slot_of(std::string_view text, std::size_t hash) const noexcept {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = hash & mask;
        while (slots_[i].id != TermSlot::empty && !slot_holds(slots_[i], text)) i = (i + 1) & mask;
        return i;
    }

    std::optional<TermId> find_term(std::string_view text) const {
        if (slots_.empty()) return std::nullopt;
        const TermSlot& slot = slots_[slot_of(text, hash_term(text))];
        if (slot.id == TermSlot::empty) return std::nullopt;
        return slot.id;
    }

    void place_slot(std::string_view text, std::size_t hash, TermId id) {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = hash & mask;
        while (slots_[i].id != TermSlot::empty) i = (i + 1) & mask;
        TermSlot& slot = slots_[i];
        slot.id = id;
        slot.length = static_cast<std::uint8_t>(std::min<std::size_t>(text.size(), 255));
        std::memcpy(slot.text, text.data(), std::min(text.size(), TermSlot::inline_bytes));
    }

    // Linear probing at most half full; erasing shifts later entries of the
    // run back (no tombstones), so churn does not slow lookups down.
    void erase_slot(std::string_view text) {
        const std::size_t mask = slots_.size() - 1;
        std::size_t hole = slot_of(text, hash_term(text));
        for (std::size_t j = (hole + 1) & mask; slots_[j].id != TermSlot::empty; j = (j + 1) & mask) {
            const std::size_t home = hash_term(terms_[slots_[j].id].text) & mask;
            // Move j into the hole unless its home lies cyclically in (hole, j].
            const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
            if (!stays) {
                slots_[hole] = slots_[j];
                hole = j;
            }
        }
        slots_[hole] = TermSlot{};
    }

    TermId intern(std::string_view text, std::size_t hash) {
        if (!slots_.empty()) {
            const TermSlot& slot = slots_[slot_of(text, hash)];
            if (slot.id != TermSlot::empty) return slot.id;
        }
        if ((dictionary_.size() + 1) * 2 > slots_.size()) {
            std::vector<TermSlot> old(std::max<std::size_t>(64, slots_.size() * 2));
            old.swap(slots_);
            for (const TermSlot& slot : old) {
                if (slot.id != TermSlot::empty) {
                    const std::string_view t = terms_[slot.id].text;
                    place_slot(t, hash_term(t), slot.id);
                }
            }
        }
        TermId id = 0;
        if (!free_terms_.empty()) {
            id = free_terms_.back();
            free_terms_.pop_back();
        } else {
            id = static_cast<TermId>(terms_.size());
            terms_.emplace_back();
        }
        const auto entry = dictionary_.emplace(std::string(text), id).first;
        Term& term = terms_[id];
        term.text = entry->first;
        place_slot(entry->first, hash, id);
        return id;
    }

    void release_term(TermId id) {
        const std::string_view text = terms_[id].text;
        erase_slot(text);
        dictionary_.erase(dictionary_.find(text));  // last: `text` views its key
        terms_[id] = Term{};
        free_terms_.push_back(id);
    }

    // The first block whose last posting is not before (doc, field), or blocks.size().
    static std::size_t block_for(const Term& term, DocId doc, FieldId field) {
        const auto it = std::partition_point(term.blocks.begin(), term.blocks.end(),
                                             [&](const Block& b) { return posting_less(b.back(), doc, field); });
        return static_cast<std::size_t>(it - term.blocks.begin());
    }

    static void insert_posting(Term& term, const Posting& p) {
        ++term.postings;
        term.max_tf = std::max(term.max_tf, p.tf);
        if (term.blocks.empty()) {
            term.blocks.emplace_back(1, p);
            return;
        }
        if (Block& last = term.blocks.back(); posting_less(last.back(), p.doc, p.field)) {
            // Appending (the usual case: new documents get new numbers): fill
            // the last block, then start another rather than split one in half.
            if (last.size() < block_capacity) {
                last.push_back(p);
            } else {
                term.blocks.emplace_back(1, p);
            }
            return;
        }
        std::size_t bi = block_for(term, p.doc, p.field);
        if (term.blocks[bi].size() == block_capacity) {
            Block& full = term.blocks[bi];
            const auto half = full.begin() + static_cast<std::ptrdiff_t>(block_capacity / 2);
            Block upper(half, full.end());
            full.erase(half, full.end());
            term.blocks.insert(term.blocks.begin() + static_cast<std::ptrdiff_t>(bi) + 1, std::move(upper));
            if (posting_less(term.blocks[bi].back(), p.doc, p.field)) ++bi;
        }
        Block& b = term.blocks[bi];
        b.insert(std::lower_bound(b.begin(), b.end(), p,
                                  [](const Posting& x, const Posting& y) { return posting_less(x, y.doc, y.field); }),
                 p);
    }

    static void erase_posting(Term& term, DocId doc, FieldId field) {
        const std::size_t bi = block_for(term, doc, field);
        if (bi == term.blocks.size()) return;
        Block& b = term.blocks[bi];
        const auto it = std::lower_bound(b.begin(), b.end(), doc,
                                         [&](const Posting& x, DocId d) { return posting_less(x, d, field); });
        if (it == b.end() || it->doc != doc || it->field != field) return;
        b.erase(it);
        --term.postings;
        if (b.empty()) term.blocks.erase(term.blocks.begin() + static_cast<std::ptrdiff_t>(bi));
    }

    std::vector<double> field_boosts(const SearchOptions& options) const {
        std::vector<double> boosts;
        boosts.reserve(fields_.size());
        for (const Field& f : fields_) boosts.push_back(f.boost);
        for (const FieldBoost& fb : options.boosts) {
            if (const auto it = field_ids_.find(fb.field); it != field_ids_.end()) boosts[it->second] = fb.boost;
        }
        return boosts;
    }

    std::vector<FieldParams> field_params(const SearchOptions& options) const {
        const std::vector<double> boosts = field_boosts(options);
        const auto n_docs = static_cast<double>(ids_.size());
        const double k1 = options_.k1;
        const double b = options_.b;
        std::vector<FieldParams> out(fields_.size());
        for (std::size_t f = 0; f < fields_.size(); ++f) {
            const double avg = n_docs > 0 ? static_cast<double>(fields_[f].total_length) / n_docs : 0.0;
            out[f].boost = boosts[f];
            out[f].a = avg > 0 ? k1 * (1.0 - b) : k1;
            out[f].c = avg > 0 ? k1 * b / avg : 0.0;
            out[f].lengths = fields_[f].lengths.data();
        }
        return out;
    }

    // boost_f · idf_f · (k1 + 1) for each field holding the term.
    void term_weights(TermId term, const std::vector<FieldParams>& params, std::vector<double>& out) const {
        const auto n_docs = static_cast<double>(ids_.size());
        out.assign(fields_.size(), 0.0);
        for (std::size_t f = 0; f < fields_.size(); ++f) {
            const std::vector<std::uint32_t>& doc_freq = fields_[f].doc_freq;
            if (term >= doc_freq.size() || doc_freq[term] == 0) continue;
            const auto n = static_cast<double>(doc_freq[term]);
            out[f] = params[f].boost * std::log(1.0 + (n_docs - n + 0.5) / (n + 0.5)) * (options_.k1 + 1.0);
        }
    }

    static double posting_score(double weight, std::uint32_t tf, const FieldParams& p, DocId doc) {
        const auto t = static_cast<double>(tf);
        return weight * t / (t + p.a + p.c * static_cast<double>(p.lengths[doc]));
    }

    // Calls f(doc, weight · the term's score) for every document holding the term, by document.
    template <class F>
    void term_scores(const Expansion& e, const std::vector<FieldParams>& params, std::vector<double>& weights,
                     F&& f) const {
        const Term& term = terms_[e.term];
        term_weights(e.term, params, weights);
        bool open = false;
        Scored cur;
        for (const Block& block : term.blocks) {
            for (const Posting& p : block) {
                if (!open || p.doc != cur.doc) {
                    if (open) f(cur.doc, cur.score * e.weight);
                    cur = Scored{p.doc, 0.0};
                    open = true;
                }
                cur.score += posting_score(weights[p.field], p.tf, params[p.field], p.doc);
            }
        }
        if (open) f(cur.doc, cur.score * e.weight);
    }

    // Each index term the word expands to, with its weight, in term order.
    std::vector<Expansion> expand(const QueryWord& word, const SearchOptions& options) const {
        std::map<std::string_view, double> expansions;
        if (word.term) {
            if (const auto id = find_term(*word.term)) expansions[terms_[*id].text] = 1.0;
        }
        if (word.prefix) {
            std::size_t added = 0;
            for (const std::string* p : {&word.word, word.term ? &*word.term : nullptr}) {
                if (!p) continue;
                for (auto it = dictionary_.lower_bound(*p);
                     it != dictionary_.end() && it->first.starts_with(*p) && added < options.max_expansions; ++it) {
                    if (expansions.emplace(it->first, 1.0).second) ++added;
                }
            }
        }
        const std::size_t max_edits = std::min(options.fuzzy, max_fuzzy_edits);
        if (word.term && max_edits > 0) add_fuzzy(*word.term, max_edits, options.max_expansions, expansions);
        std::vector<Expansion> out;
        out.reserve(expansions.size());
        for (const auto& [text, weight] : expansions) out.push_back(Expansion{*find_term(text), weight});
        return out;
    }

    // Calls f(doc, score) with the word's contribution for every document
    // holding one of its expansions, by document: the best-scoring expansion
    // (so a word is not counted once per variant a document holds).
    template <class F>
    void word_scores(const std::vector<Expansion>& expansions, const std::vector<FieldParams>& params,
                     std::vector<double>& weights, std::vector<Scored>& scratch, F&& f) const {
        if (expansions.size() == 1) {
            term_scores(expansions[0], params, weights, f);
            return;
        }
        scratch.clear();
        for (const Expansion& e : expansions) {
            term_scores(e, params, weights, [&](DocId doc, double score) { scratch.push_back(Scored{doc, score}); });
        }
        std::sort(scratch.begin(), scratch.end(), [](const Scored& a, const Scored& b) { return a.doc < b.doc; });
        for (std::size_t i = 0; i < scratch.size();) {
            Scored best = scratch[i];
            for (++i; i < scratch.size() && scratch[i].doc == best.doc; ++i)
                best.score = std::max(best.score, scratch[i].score);
            f(best.doc, best.score);
        }
    }

    // Calls sink(doc, score) for every matching document, by document, with
    // min_score and all_words applied; `terms` (when given) receives every
    // expansion, for matched_terms. Words merge one at a time into a list
    // sorted by document; the last merge feeds the sink directly.
    template <class Sink>
    void match_words(const std::vector<QueryWord>& words, const SearchOptions& options, std::vector<TermId>* terms,
                     Sink&& sink) const {
        const std::vector<FieldParams> params = field_params(options);
        std::vector<double> weights;
        std::vector<Scored> scratch;
        std::vector<Accumulated> acc;
        std::vector<Accumulated> merged;
        for (std::size_t w = 0; w < words.size(); ++w) {
            const std::vector<Expansion> expansions = expand(words[w], options);
            if (terms) {
                for (const Expansion& e : expansions) terms->push_back(e.term);
            }
            const bool last = w + 1 == words.size();
            merged.clear();
            if (!last) {
                std::size_t postings = acc.size();
                for (const Expansion& e : expansions) postings += terms_[e.term].postings;
                merged.reserve(postings);
            }
            const auto emit = [&](const Accumulated& a) {
                // With all_words, a document that missed a word can never match.
                if (options.all_words && a.words != w + 1) return;
                if (!last) {
                    merged.push_back(a);
                } else if (a.score >= options.min_score) {
                    sink(a.doc, a.score);
                }
            };
            std::size_t i = 0;
            word_scores(expansions, params, weights, scratch, [&](DocId doc, double score) {
                while (i < acc.size() && acc[i].doc < doc) emit(acc[i++]);
                if (i < acc.size() && acc[i].doc == doc) {
                    emit(Accumulated{doc, acc[i].score + score, acc[i].words + 1});
                    ++i;
                } else {
                    emit(Accumulated{doc, score, 1});
                }
            });
            while (i < acc.size()) emit(acc[i++]);
            acc.swap(merged);
        }
    }

    // Ranking order: score descending, then key.
    struct Better {
        const Bm25Index* index;
        bool operator()(const Scored& a, const Scored& b) const {
            return a.score != b.score ? a.score > b.score : index->keys_[a.doc] < index->keys_[b.doc];
        }
    };

    // The best `limit` of the documents it is called with.
    class TopK {
    public:
        TopK(const Bm25Index& index, std::size_t limit) : better_{&index}, limit_(limit) {}
        void operator()(DocId doc, double score) {
            const Scored s{doc, score};
            if (limit_ > heap_limit) {
                hits_.push_back(s);
            } else if (hits_.size() < limit_) {
                hits_.push_back(s);
                std::push_heap(hits_.begin(), hits_.end(), better_);
            } else if (better_(s, hits_.front())) {
                std::pop_heap(hits_.begin(), hits_.end(), better_);
                hits_.back() = s;
                std::push_heap(hits_.begin(), hits_.end(), better_);
            }
        }
        std::vector<Scored> take() && { return std::move(hits_); }
        bool bounded() const noexcept { return limit_ <= heap_limit; }
        // The score a document must reach to enter (ties enter by key): the
        // worst kept one once `limit` are kept.
        double threshold() const noexcept {
            return limit_ <= heap_limit && hits_.size() == limit_ ? hits_.front().score
                                                                  : -std::numeric_limits<double>::infinity();
        }

    private:
        // Larger limits collect everything and partially sort once.
        static constexpr std::size_t heap_limit = 4096;
        Better better_;
        std::size_t limit_;
        std::vector<Scored> hits_;  // a heap with the worst in front, while the limit is small
    };

    // A position in one term's postings, for document-at-a-time scoring.
    struct Cursor {
        const Term* term = nullptr;
        std::vector<double> weights;  // per field: boost · idf · (k1 + 1)
        double weight = 1;            // the expansion's
        double upper = 0;             // no document's score for the term exceeds it
        std::size_t word = 0;         // the query word's index
        std::size_t block = 0;
        std::size_t pos = 0;

        bool done() const noexcept { return block == term->blocks.size(); }
        DocId doc() const noexcept { return term->blocks[block][pos].doc; }
        void step() noexcept {
            if (++pos == term->blocks[block].size()) {
                ++block;
                pos = 0;
            }
        }
        // To the first posting of a document ≥ d.
        void seek(DocId d) noexcept {
            while (!done() && term->blocks[block].back().doc < d) {
                ++block;
                pos = 0;
            }
            if (done()) return;
            const Block& b = term->blocks[block];
            pos = static_cast<std::size_t>(std::lower_bound(b.begin() + static_cast<std::ptrdiff_t>(pos), b.end(), d,
                                                            [](const Posting& p, DocId x) { return p.doc < x; }) -
                                           b.begin());
        }
    };

    // The cursor's term score for document d (it must be at d), summed over
    // fields exactly as term_scores sums them, and moves past d.
    static double take_score(Cursor& c, DocId d, const std::vector<FieldParams>& params) {
        double score = 0.0;
        for (; !c.done() && c.doc() == d; c.step()) {
            const Posting& p = c.term->blocks[c.block][c.pos];
            score += posting_score(c.weights[p.field], p.tf, params[p.field], p.doc);
        }
        return score * c.weight;
    }

    // Top-k by MaxScore (Turtle & Flood): with the words ordered by the most
    // any document can get from them, the cheapest words whose bounds add up
    // to less than the k-th best score so far cannot make a document enter on
    // their own, so only the other words' postings produce candidates and the
    // cheap ones are looked up for those, stopping as soon as the candidate
    // cannot reach the k-th score. Results and scores equal match_words'
    // exactly (the same per-word sums, added in query order). Applies when
    // every word has at most one expansion and no boost is negative; false
    // otherwise, and the caller scores exhaustively.
    //
    // A term's bound: with len ≥ tf, tf/(tf + a + c·len) ≤ 1/(1 + c + a/max_tf)
    // per field, times the field's weight (scaled up by 1e-9 against rounding).
    bool top_k_pruned(const std::vector<QueryWord>& words, const SearchOptions& options, std::vector<TermId>& terms,
                      TopK& top) const {
        if (words.size() < 2 || words.size() > 64 || !top.bounded() || !nonnegative_scores(options)) return false;
        std::vector<std::vector<Expansion>> expansions;
        for (const QueryWord& w : words) {
            expansions.push_back(expand(w, options));
            if (expansions.back().size() > 1) return false;
        }
        const std::vector<FieldParams> params = field_params(options);
        std::vector<Cursor> cursors;
        for (std::size_t w = 0; w < words.size(); ++w) {
            if (expansions[w].empty()) {
                if (options.all_words) return true;  // a word matches nothing: nor does the query
                continue;
            }
            const Expansion& e = expansions[w].front();
            terms.push_back(e.term);
            Cursor c;
            c.term = &terms_[e.term];
            term_weights(e.term, params, c.weights);
            c.weight = e.weight;
            c.word = w;
            for (std::size_t f = 0; f < c.weights.size(); ++f) {
                const double tf = static_cast<double>(c.term->max_tf);
                c.upper += c.weights[f] / (1.0 + params[f].c + params[f].a / tf);
            }
            c.upper *= c.weight * (1.0 + 1e-9);
            cursors.push_back(std::move(c));
        }
        if (cursors.empty()) return true;
        std::sort(cursors.begin(), cursors.end(), [](const Cursor& a, const Cursor& b) { return a.upper < b.upper; });
        std::vector<double> below(cursors.size() + 1, 0.0);  // below[i]: the bounds of cursors [0, i) added
        for (std::size_t i = 0; i < cursors.size(); ++i) below[i + 1] = below[i] + cursors[i].upper;

        const std::size_t required = options.all_words ? words.size() : 1;
        std::vector<double> contribution(words.size());
        std::vector<bool> matched(words.size());
        std::size_t lookups = 0;  // cursors [0, lookups) only look up candidates
        for (;;) {
            // Pruning only below the bar by a margin: exact ties may still enter by key.
            const double bar = std::max(top.threshold(), options.min_score);
            const double skip_below = bar - 1e-9 * std::abs(bar);
            while (lookups < cursors.size() && below[lookups + 1] < skip_below) ++lookups;
            if (lookups == cursors.size()) break;  // no document can reach the bar any more

            DocId d = std::numeric_limits<DocId>::max();
            bool any = false;
            for (std::size_t i = lookups; i < cursors.size(); ++i) {
                if (!cursors[i].done()) {
                    d = std::min(d, cursors[i].doc());
                    any = true;
                }
            }
            if (!any) break;

            std::fill(matched.begin(), matched.end(), false);
            double partial = 0;
            std::size_t count = 0;
            for (std::size_t i = lookups; i < cursors.size(); ++i) {
                Cursor& c = cursors[i];
                if (c.done() || c.doc() != d) continue;
                const double score = take_score(c, d, params);
                contribution[c.word] = score;
                matched[c.word] = true;
                partial += score;
                ++count;
            }
            bool possible = partial + below[lookups] >= skip_below;
            for (std::size_t i = lookups; possible && i-- > 0;) {
                Cursor& c = cursors[i];
                c.seek(d);
                if (!c.done() && c.doc() == d) {
                    const double score = take_score(c, d, params);
                    contribution[c.word] = score;
                    matched[c.word] = true;
                    partial += score;
                    ++count;
                }
                possible = partial + below[i] >= skip_below;
            }
            if (!possible || count < required) continue;
            std::optional<double> total;
            for (std::size_t w = 0; w < words.size(); ++w) {
                if (matched[w]) total = total ? *total + contribution[w] : contribution[w];
            }
            if (*total >= options.min_score) top(d, *total);
        }
        return true;
    }

    // Walks the ordered dictionary as if it were a trie: neighbouring terms
    // share the distance rows of their common prefix, and once a prefix's row
    // is over max_edits everywhere, every term under it is skipped (no
    // extension comes back under the bound). A query thus visits the branches
    // near it, not every term. Rows are over code points, the skip over the
    // prefix's bytes (a code-point prefix is a byte prefix in UTF-8).
    void add_fuzzy(const std::string& term, std::size_t max_edits, std::size_t max_expansions,
                   std::map<std::string_view, double>& expansions) const {
        const std::u32string query = to_u32(term);
        const std::size_t width = query.size() + 1;
        const std::size_t over = max_edits + 1;
        // rows[d * width + j]: the distance between the first d code points of
        // `path` and the first j of the query, capped at `over`.
        std::vector<std::size_t> rows(width);
        for (std::size_t j = 0; j < width; ++j) rows[j] = std::min(j, over);
        std::u32string path;  // the code points the rows were computed for
        std::u32string current;
        std::vector<std::size_t> ends;  // ends[i]: byte length of the current term's first i + 1 code points
        std::vector<std::pair<std::size_t, std::string_view>> found;
        auto it = dictionary_.begin();
        while (it != dictionary_.end()) {
            const std::string& text = it->first;
            current.clear();
            ends.clear();
            for (std::size_t pos = 0; pos < text.size();) {
                const auto [c, len] = topgun::detail::decode_utf8(text, pos);
                current += c;
                pos += len;
                ends.push_back(pos);
            }
            std::size_t depth = 0;
            while (depth < path.size() && depth < current.size() && path[depth] == current[depth]) ++depth;
            path.resize(depth);
            bool skipped = false;
            for (std::size_t d = depth + 1; d <= current.size(); ++d) {
                rows.resize((d + 1) * width);
                const std::size_t* above = &rows[(d - 1) * width];
                std::size_t* row = &rows[d * width];
                row[0] = std::min(d, over);
                std::size_t best = row[0];
                for (std::size_t j = 1; j < width; ++j) {
                    const std::size_t substitute = above[j - 1] + (current[d - 1] == query[j - 1] ? 0 : 1);
                    row[j] = std::min({substitute, above[j] + 1, row[j - 1] + 1, over});
                    best = std::min(best, row[j]);
                }
                path.push_back(current[d - 1]);
                if (best >= over) {
                    // The first term after every one that starts with this prefix
                    // (UTF-8 never holds the byte 0xFF, so the last byte can grow).
                    std::string after(text, 0, ends[d - 1]);
                    ++after.back();
                    it = dictionary_.lower_bound(after);
                    skipped = true;
                    break;
                }
            }
            if (skipped) continue;
            const std::size_t d = rows[current.size() * width + query.size()];
            if (d > 0 && d <= max_edits) found.emplace_back(d, text);
            ++it;
        }
        // The closest `max_expansions` (ties in term order), weighted 1 / (1 + edits).
        std::sort(found.begin(), found.end());
        if (found.size() > max_expansions) found.resize(max_expansions);
        for (const auto& [d, text] : found) {
            double& w = expansions.try_emplace(text, 0.0).first->second;
            w = std::max(w, 1.0 / (1.0 + static_cast<double>(d)));
        }
    }

    // The document's entries for the term, one per field.
    static std::span<const DocTerm> entries_of(const Document& doc, TermId term) {
        const auto first = std::lower_bound(doc.terms.begin(), doc.terms.end(), term,
                                            [](const DocTerm& e, TermId t) { return e.term < t; });
        auto last = first;
        while (last != doc.terms.end() && last->term == term) ++last;
        return std::span<const DocTerm>(doc.terms).subspan(static_cast<std::size_t>(first - doc.terms.begin()),
                                                           static_cast<std::size_t>(last - first));
    }

    std::vector<Scored> match_phrase_docs(std::string_view text, const SearchOptions& options,
                                          std::vector<TermId>* terms) const {
        const std::vector<Token> tokens = tokenizer_.tokenize_with_positions(text);
        if (tokens.empty()) return {};
        std::vector<TermId> ids;
        for (const Token& t : tokens) {
            const auto id = find_term(t.term);
            if (!id) return {};
            ids.push_back(*id);
        }
        const std::size_t slop = std::min(options.slop, max_phrase_slop);
        // Candidates come from the rarest term's postings.
        std::size_t driver = 0;
        for (std::size_t t = 1; t < ids.size(); ++t) {
            if (terms_[ids[t]].postings < terms_[ids[driver]].postings) driver = t;
        }
        std::vector<DocId> matching;
        std::vector<std::span<const std::uint32_t>> lists(ids.size());
        for (const Block& block : terms_[ids[driver]].blocks) {
            for (const Posting& p : block) {
                if (!matching.empty() && matching.back() == p.doc) continue;
                if (phrase_in(docs_[p.doc], p.field, ids, tokens, slop, lists)) matching.push_back(p.doc);
            }
        }
        if (matching.empty()) return {};

        std::vector<TermId> distinct;
        for (const TermId id : ids) {
            if (std::find(distinct.begin(), distinct.end(), id) == distinct.end()) distinct.push_back(id);
        }
        if (terms) *terms = distinct;
        const std::vector<FieldParams> params = field_params(options);
        std::vector<std::vector<double>> weights(distinct.size());
        for (std::size_t t = 0; t < distinct.size(); ++t) term_weights(distinct[t], params, weights[t]);
        std::vector<Scored> out;
        for (const DocId doc : matching) {
            double score = 0;
            for (std::size_t t = 0; t < distinct.size(); ++t) {
                double term_score = 0;
                for (const DocTerm& e : entries_of(docs_[doc], distinct[t])) {
                    term_score += posting_score(weights[t][e.field], e.tf, params[e.field], doc);
                }
                score += term_score;
            }
            if (score >= options.min_score) out.push_back(Scored{doc, score});
        }
        return out;
    }

    // Whether the phrase occurs in the document's field: each next word at or
    // after its place relative to the previous one, the total extra distance
    // at most `slop`. Taking the earliest fitting position for each word is
    // optimal for a given start, so this is a greedy scan per start.
    bool phrase_in(const Document& doc, FieldId field, const std::vector<TermId>& ids, const std::vector<Token>& tokens,
                   std::size_t slop, std::vector<std::span<const std::uint32_t>>& lists) const {
        for (std::size_t t = 0; t < ids.size(); ++t) {
            const std::span<const DocTerm> entries = entries_of(doc, ids[t]);
            const auto e =
                std::find_if(entries.begin(), entries.end(), [&](const DocTerm& x) { return x.field == field; });
            if (e == entries.end()) return false;
            lists[t] = std::span<const std::uint32_t>(doc.positions).subspan(e->first, e->tf);
        }
        for (const std::uint32_t start : lists[0]) {
            std::uint32_t at = start;
            bool fits = true;
            for (std::size_t t = 1; t < ids.size() && fits; ++t) {
                const std::uint32_t want = at + (tokens[t].position - tokens[t - 1].position);
                const auto it = std::lower_bound(lists[t].begin(), lists[t].end(), want);
                if (it == lists[t].end()) return false;  // later starts cannot fit either
                at = *it;
                // The extra distance so far; it only grows along the phrase.
                fits = (at - start) - (tokens[t].position - tokens[0].position) <= slop;
            }
            if (fits) return true;
        }
        return false;
    }

    MatchSet match_set(std::vector<Scored> docs) const {
        MatchSet m;
        m.index_ = this;
        m.version_ = version_;
        m.docs_ = std::move(docs);
        return m;
    }

    std::vector<SearchResult> rank(std::vector<Scored> hits, const std::vector<TermId>& terms,
                                   const SearchOptions& options) const {
        const Better better{this};
        if (hits.size() > options.limit) {
            std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(options.limit), hits.end(),
                              better);
            hits.resize(options.limit);
        } else {
            std::sort(hits.begin(), hits.end(), better);
        }
        std::vector<SearchResult> out;
        out.reserve(hits.size());
        for (const Scored& s : hits) {
            SearchResult r{keys_[s.doc], s.score, {}};
            const Document& doc = docs_[s.doc];
            for (const TermId t : terms) {
                if (!entries_of(doc, t).empty()) r.matched_terms.emplace_back(terms_[t].text);
            }
            std::sort(r.matched_terms.begin(), r.matched_terms.end());
            r.matched_terms.erase(std::unique(r.matched_terms.begin(), r.matched_terms.end()), r.matched_terms.end());
            out.push_back(std::move(r));
        }
        return out;
    }

    static void to_u32(std::string_view s, std::u32string& out) {
        out.clear();
        for (std::size_t pos = 0; pos < s.size();) {
            const auto [c, len] = topgun::detail::decode_utf8(s, pos);
            out += c;
            pos += len;
        }
    }

    static std::u32string to_u32(std::string_view s) {
        std::u32string out;
        to_u32(s, out);
        return out;
    }

    Tokenizer tokenizer_;
    Bm25Options options_;
    Dictionary dictionary_;
    std::vector<TermSlot> slots_;  // open addressing over terms_, a power of two long
    std::vector<Term> terms_;      // by TermId
    std::vector<TermId> free_terms_;
    std::vector<Document> docs_;     // by DocId; freed slots are empty
    std::vector<std::string> keys_;  // by DocId
    std::vector<DocId> free_docs_;
    topgun::detail::StringHashMap<DocId> ids_;
    std::vector<Field> fields_;  // by FieldId
    topgun::detail::StringHashMap<FieldId> field_ids_;
    std::uint64_t version_ = 0;
};

}  // namespace search
TOPGUN_END_NAMESPACE
