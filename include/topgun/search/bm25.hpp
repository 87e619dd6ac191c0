// An incremental BM25 inverted index: documents are keys with one or more
// named text fields; queries return keys ranked by Okapi BM25.
//
// Only terms, positions and field lengths are kept, never the documents' text,
// so callers hold the data and the index stays a fraction of its size.
//
// Scoring: every field is its own BM25 corpus and a document's score for a term
// is the boost-weighted sum over its fields:
//     boost_f · idf_f · tf·(k1 + 1) / (tf + k1·(1 − b + b·len_f/avg_f))
//     idf_f = ln(1 + (N − n_f + 0.5) / (n_f + 0.5))
// with N the number of documents, n_f the documents whose field f holds the
// term, len_f the field's term count and avg_f the field's total term count
// over N (documents without the field count as length 0). With one field this
// is the standard formula. Query words are deduplicated and their
// contributions summed.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/string_map.hpp>
#include <topgun/detail/utf8.hpp>
#include <topgun/search/edit_distance.hpp>
#include <topgun/search/tokenizer.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace search {

struct Bm25Options {
    double k1 = 1.2;  // term-frequency saturation
    double b = 0.75;  // field-length normalisation
};

struct FieldText {
    std::string_view name;
    std::string_view text;
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
};

struct SearchResult {
    std::string key;
    double score = 0;
    // The index terms (analysed: lower-cased, maybe stemmed) the document matched, sorted.
    std::vector<std::string> matched_terms;
};

class Bm25Index {
public:
    static constexpr std::size_t max_fuzzy_edits = 2;

    Bm25Index() = default;
    explicit Bm25Index(TokenizerOptions tokenizer, Bm25Options options = {}) noexcept
        : tokenizer_(tokenizer), options_(options) {}
    // Documents hold iterators into the dictionary: a copy would point into the
    // original, while a move keeps them valid.
    Bm25Index(const Bm25Index&) = delete;
    Bm25Index& operator=(const Bm25Index&) = delete;
    Bm25Index(Bm25Index&&) noexcept = default;
    Bm25Index& operator=(Bm25Index&&) noexcept = default;

    const Tokenizer& tokenizer() const noexcept { return tokenizer_; }

    // Boosts apply at query time, so they may change while documents are indexed.
    void set_field_boost(std::string_view field, double boost) { fields_[field_id(field)].boost = boost; }

    std::size_t size() const noexcept { return ids_.size(); }
    std::size_t term_count() const noexcept { return dictionary_.size(); }
    bool contains(std::string_view key) const { return ids_.find(key) != ids_.end(); }

    // Replaces the key's document. A field name given twice is one field with
    // the texts in order; a phrase does not match across the two.
    void add_or_update(std::string_view key, std::span<const FieldText> fields) {
        remove(key);
        const DocId id = allocate(key);
        Document& doc = docs_[id];

        struct Occurrence {
            std::string_view term;
            FieldId field;
            std::uint32_t position;
        };
        std::vector<std::vector<Token>> tokens;  // owns the terms the occurrences point into
        tokens.reserve(fields.size());
        std::vector<Occurrence> occurrences;
        std::vector<std::uint32_t> next_position;
        for (const FieldText& f : fields) {
            const FieldId fid = field_id(f.name);
            if (doc.field_lengths.size() <= fid) doc.field_lengths.resize(fid + 1, 0);
            if (next_position.size() <= fid) next_position.resize(fid + 1, 0);
            tokens.push_back(tokenizer_.tokenize_with_positions(f.text));
            const std::uint32_t base = next_position[fid];
            for (const Token& t : tokens.back()) {
                occurrences.push_back(Occurrence{t.term, fid, base + t.position});
                next_position[fid] = base + t.position + 2;  // a gap: no phrase spans two texts
            }
            doc.field_lengths[fid] += static_cast<std::uint32_t>(tokens.back().size());
            fields_[fid].total_length += tokens.back().size();
        }
        std::sort(occurrences.begin(), occurrences.end(), [](const Occurrence& a, const Occurrence& b) {
            return std::tie(a.term, a.field, a.position) < std::tie(b.term, b.field, b.position);
        });

        for (std::size_t i = 0; i < occurrences.size();) {
            auto it = dictionary_.find(occurrences[i].term);
            if (it == dictionary_.end()) it = dictionary_.emplace(std::string(occurrences[i].term), Term{}).first;
            doc.terms.push_back(it);
            std::vector<Posting>& postings = it->second.postings;
            const std::string_view term = it->first;
            const auto same_term = [&](std::size_t j) { return j < occurrences.size() && occurrences[j].term == term; };
            while (same_term(i)) {
                Posting p{id, occurrences[i].field, {}};
                for (; same_term(i) && occurrences[i].field == p.field; ++i) {
                    p.positions.push_back(occurrences[i].position);
                }
                postings.insert(std::lower_bound(postings.begin(), postings.end(), p, posting_less), std::move(p));
            }
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
        const DocId id = found->second;
        Document& doc = docs_[id];
        for (const auto it : doc.terms) {
            std::vector<Posting>& postings = it->second.postings;
            const auto first = std::lower_bound(postings.begin(), postings.end(), Posting{id, 0, {}}, posting_less);
            auto last = first;
            while (last != postings.end() && last->doc == id) ++last;
            postings.erase(first, last);
            if (postings.empty()) dictionary_.erase(it);
        }
        for (std::size_t f = 0; f < doc.field_lengths.size(); ++f) fields_[f].total_length -= doc.field_lengths[f];
        doc = Document{};
        keys_[id].clear();
        ids_.erase(found);
        free_.push_back(id);
        return true;
    }

    std::vector<SearchResult> search(std::string_view query_text, const SearchOptions& options = {}) const {
        const std::vector<std::string> words = Tokenizer::split(query_text);
        const std::size_t max_edits = std::min(options.fuzzy, max_fuzzy_edits);
        Scores scores;
        std::vector<std::string> seen;  // analysed whole-word terms already scored
        for (std::size_t w = 0; w < words.size(); ++w) {
            const bool as_prefix = options.prefix && w + 1 == words.size();
            const std::optional<std::string> term = tokenizer_.analyze(words[w]);
            if (!as_prefix) {
                if (!term || std::find(seen.begin(), seen.end(), *term) != seen.end()) continue;
                seen.push_back(*term);
            }
            // Each index term the word expands to, with its weight.
            std::map<std::string_view, double> expansions;
            if (term) {
                if (const auto it = dictionary_.find(*term); it != dictionary_.end()) expansions[it->first] = 1.0;
            }
            if (as_prefix) {
                std::size_t added = 0;
                for (const std::string* p : {&words[w], term ? &*term : nullptr}) {
                    if (!p) continue;
                    for (auto it = dictionary_.lower_bound(*p);
                         it != dictionary_.end() && it->first.starts_with(*p) && added < options.max_expansions; ++it) {
                        if (expansions.emplace(it->first, 1.0).second) ++added;
                    }
                }
            }
            if (term && max_edits > 0) add_fuzzy(*term, max_edits, options.max_expansions, expansions);
            add_word(expansions, scores);
        }
        return rank(std::move(scores), options);
    }

    // Documents holding the query's terms consecutively within one field (stop
    // words dropped by the tokenizer still take their place), scored as a
    // plain search for the same terms. prefix and fuzzy do not apply.
    std::vector<SearchResult> search_phrase(std::string_view text, const SearchOptions& options = {}) const {
        const std::vector<Token> tokens = tokenizer_.tokenize_with_positions(text);
        if (tokens.empty()) return {};
        std::vector<const std::vector<Posting>*> lists;
        for (const Token& t : tokens) {
            const auto it = dictionary_.find(t.term);
            if (it == dictionary_.end()) return {};
            lists.push_back(&it->second.postings);
        }
        std::vector<DocId> matching;
        for (const Posting& first : *lists[0]) {
            if (!matching.empty() && matching.back() == first.doc) continue;
            if (phrase_at(first, tokens, lists)) matching.push_back(first.doc);
        }
        if (matching.empty()) return {};

        Scores scores;
        std::vector<std::string_view> seen;
        for (const Token& t : tokens) {
            if (std::find(seen.begin(), seen.end(), t.term) != seen.end()) continue;
            seen.push_back(t.term);
            const auto it = dictionary_.find(t.term);
            score_term(it->second, [&](DocId doc, double score) {
                if (!std::binary_search(matching.begin(), matching.end(), doc)) return;
                Scored& s = scores[doc];
                s.score += score;
                s.terms.push_back(it->first);
            });
        }
        return rank(std::move(scores), options);
    }

private:
    using DocId = std::uint32_t;
    using FieldId = std::uint32_t;

    // One field of one document holding a term; a term's postings are sorted
    // by (doc, field) so a document's postings are adjacent.
    struct Posting {
        DocId doc = 0;
        FieldId field = 0;
        std::vector<std::uint32_t> positions;  // ascending; their count is the term frequency
    };
    struct Term {
        std::vector<Posting> postings;
    };
    // Ordered, so prefix queries are a range scan.
    using Dictionary = std::map<std::string, Term, std::less<>>;

    struct Document {
        std::vector<std::uint32_t> field_lengths;  // indexed by FieldId
        std::vector<Dictionary::iterator> terms;   // distinct; map iterators survive other insertions and erasures
    };
    struct Field {
        double boost = 1.0;
        std::uint64_t total_length = 0;
    };
    struct Scored {
        double score = 0;
        std::vector<std::string_view> terms;
    };
    using Scores = std::unordered_map<DocId, Scored>;

    static bool posting_less(const Posting& a, const Posting& b) noexcept {
        return a.doc != b.doc ? a.doc < b.doc : a.field < b.field;
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
        if (!free_.empty()) {
            id = free_.back();
            free_.pop_back();
        } else {
            id = static_cast<DocId>(docs_.size());
            docs_.emplace_back();
            keys_.emplace_back();
        }
        keys_[id] = std::string(key);
        ids_.emplace(std::string(key), id);
        return id;
    }

    // Calls fn(doc, score) once per document holding the term.
    template <class Fn>
    void score_term(const Term& term, Fn&& fn) const {
        std::vector<std::uint32_t> doc_freq(fields_.size(), 0);
        for (const Posting& p : term.postings) ++doc_freq[p.field];
        const auto n_docs = static_cast<double>(ids_.size());
        const double k1 = options_.k1;
        const double b = options_.b;
        const auto& postings = term.postings;
        for (std::size_t i = 0; i < postings.size();) {
            const DocId doc = postings[i].doc;
            double score = 0;
            for (; i < postings.size() && postings[i].doc == doc; ++i) {
                const Posting& p = postings[i];
                const Field& field = fields_[p.field];
                const auto n = static_cast<double>(doc_freq[p.field]);
                const double idf = std::log(1.0 + (n_docs - n + 0.5) / (n + 0.5));
                const double avg = static_cast<double>(field.total_length) / n_docs;
                const auto len = static_cast<double>(docs_[doc].field_lengths[p.field]);
                const auto tf = static_cast<double>(p.positions.size());
                const double norm = avg > 0 ? 1.0 - b + b * len / avg : 1.0;
                score += field.boost * idf * tf * (k1 + 1.0) / (tf + k1 * norm);
            }
            fn(doc, score);
        }
    }

    // A query word's contribution: per document, its best-scoring expansion
    // (so a word is not counted once per variant a document happens to hold).
    void add_word(const std::map<std::string_view, double>& expansions, Scores& scores) const {
        std::unordered_map<DocId, double> best;
        for (const auto& expansion : expansions) {
            const double weight = expansion.second;  // not a structured binding: older clang cannot capture those
            const auto it = dictionary_.find(expansion.first);
            score_term(it->second, [&](DocId doc, double score) {
                double& b = best[doc];
                b = std::max(b, score * weight);
                scores[doc].terms.push_back(it->first);
            });
        }
        for (const auto& [doc, score] : best) scores[doc].score += score;
    }

    // Scans the whole dictionary: with the length filter and the banded,
    // early-exit distance each term costs O(length · max_edits).
    void add_fuzzy(const std::string& term, std::size_t max_edits, std::size_t max_expansions,
                   std::map<std::string_view, double>& expansions) const {
        const std::u32string query = to_u32(term);
        std::vector<std::pair<std::size_t, std::string_view>> found;
        for (const auto& [text, entry] : dictionary_) {
            const std::size_t length = code_points(text);
            if ((length > query.size() ? length - query.size() : query.size() - length) > max_edits) continue;
            const std::size_t d = bounded_edit_distance(query, to_u32(text), max_edits);
            if (d > 0 && d <= max_edits) found.emplace_back(d, text);
        }
        std::sort(found.begin(), found.end());
        if (found.size() > max_expansions) found.resize(max_expansions);
        for (const auto& [d, text] : found) {
            double& w = expansions.try_emplace(text, 0.0).first->second;
            w = std::max(w, 1.0 / (1.0 + static_cast<double>(d)));
        }
    }

    // Whether the phrase starts at one of first's positions, in first's document and field.
    bool phrase_at(const Posting& first, const std::vector<Token>& tokens,
                   const std::vector<const std::vector<Posting>*>& lists) const {
        std::vector<const Posting*> others;  // the other terms' postings in the same document and field
        for (std::size_t t = 1; t < tokens.size(); ++t) {
            const auto& postings = *lists[t];
            const auto it = std::lower_bound(postings.begin(), postings.end(), first, posting_less);
            if (it == postings.end() || it->doc != first.doc || it->field != first.field) return false;
            others.push_back(&*it);
        }
        for (const std::uint32_t start : first.positions) {
            bool all = true;
            for (std::size_t t = 1; t < tokens.size() && all; ++t) {
                const std::uint32_t want = start + (tokens[t].position - tokens[0].position);
                all = std::binary_search(others[t - 1]->positions.begin(), others[t - 1]->positions.end(), want);
            }
            if (all) return true;
        }
        return false;
    }

    std::vector<SearchResult> rank(Scores scores, const SearchOptions& options) const {
        std::vector<SearchResult> out;
        if (options.limit == 0) return out;
        for (auto& [doc, scored] : scores) {
            if (scored.score < options.min_score) continue;
            SearchResult r{keys_[doc], scored.score, {}};
            std::sort(scored.terms.begin(), scored.terms.end());
            scored.terms.erase(std::unique(scored.terms.begin(), scored.terms.end()), scored.terms.end());
            r.matched_terms.assign(scored.terms.begin(), scored.terms.end());
            out.push_back(std::move(r));
        }
        const auto better = [](const SearchResult& a, const SearchResult& b) {
            return a.score != b.score ? a.score > b.score : a.key < b.key;
        };
        if (out.size() > options.limit) {
            std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(options.limit), out.end(), better);
            out.resize(options.limit);
        } else {
            std::sort(out.begin(), out.end(), better);
        }
        return out;
    }

    static std::size_t code_points(std::string_view s) noexcept {
        std::size_t n = 0;
        for (char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
        return n;
    }

    static std::u32string to_u32(std::string_view s) {
        std::u32string out;
        for (std::size_t pos = 0; pos < s.size();) {
            const auto [c, len] = topgun::detail::decode_utf8(s, pos);
            out += c;
            pos += len;
        }
        return out;
    }

    Tokenizer tokenizer_;
    Bm25Options options_;
    Dictionary dictionary_;
    std::vector<Document> docs_;     // by DocId; freed slots are empty
    std::vector<std::string> keys_;  // by DocId
    std::vector<DocId> free_;
    topgun::detail::StringHashMap<DocId> ids_;
    std::vector<Field> fields_;  // by FieldId
    topgun::detail::StringHashMap<FieldId> field_ids_;
};

}  // namespace search
TOPGUN_END_NAMESPACE
