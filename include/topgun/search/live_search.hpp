// Live search subscriptions (PROTOCOL.md §9.1, SEARCH_SUB / SEARCH_UPDATE)
// over one MapSearchIndex: each subscription holds a window — the keys of
// index().search(query, options), the top `limit` with score ≥ minScore — and
// after every indexed change emits the fewest ENTER / LEAVE / UPDATE events
// that keep a subscriber's copy of the window equal to a fresh search.
//
// Events:
//   ENTER   a key joined the window (with its score and matched terms)
//   LEAVE   a key left it (score 0, no terms); LEAVEs come first, so that a
//           subscriber's copy never holds more than `limit` keys
//   UPDATE  the changed key stayed in the window and its score or matched
//           terms differ from the ones last sent. Other members' scores drift
//           with every change (N and the average lengths move); that alone
//           sends nothing.
//
// Which subscriptions work on a change. A document's score for a query only
// depends on its own terms and on corpus statistics, so a subscription is
// *touched* by a change when one of the document's terms before or after is
// one its query matches or could expand to: an analysed query word (hash
// lookup), a term beginning with its prefix word (hash lookup of each of the
// term's prefixes), or a term within its fuzzy distance (edit-distance check
// against the few fuzzy subscriptions). A window member always holds such a
// term, so "the window contains the key" is covered too.
//
// Every change also moves every score a little (N, the average field lengths
// and, for a touched query, the document frequencies of its words), and that
// can reorder documents only near a boundary of the window: a member against
// the best document outside it, or either against minScore. After each search
// a subscription records its slack, the smallest such gap, halved where both
// sides may move; Bm25Index::drift_bound gives an upper bound of each change's
// move, and the bounds add up until the next search. Pairs of documents that
// score alike under any statistics (same term frequencies and lengths, see
// Bm25Index::same_scoring) never swap, so ties across the boundary — common
// at 100k documents — do not count as a zero gap.
//
//   untouched   the drift is added up; only when it reaches the slack does the
//               subscription search again. One with nothing at risk (fewer
//               matches than `limit`, no minScore) does no work at all.
//   touched     a whole-word query (no prefix, no fuzzy) scores the changed
//               document alone (Bm25Index::score_document) and keeps its
//               window when the document clearly stays in or out, or enters a
//               window with room; everything else — a member leaving a full
//               window (which outsider is promoted?), a document that may
//               displace a member, prefix and fuzzy queries (their expansions
//               may change) — searches again.
// So the window's keys always equal a fresh search's.
//
// Boosts are read at search time: after Bm25Index::set_field_boost call
// refresh(). Records whose TTL ran out leave once the map sweeps them.
// Callbacks must not subscribe or unsubscribe.
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/listeners.hpp>
#include <topgun/detail/utf8.hpp>
#include <topgun/protocol/common.hpp>
#include <topgun/search/bm25.hpp>
#include <topgun/search/edit_distance.hpp>
#include <topgun/search/map_index.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace search {

struct SearchEvent {
    protocol::ChangeType type;
    std::string_view key;
    double score = 0;                            // 0 for LEAVE
    std::span<const std::string> matched_terms;  // empty for LEAVE
};

// Work counters (tests and benchmarks use them to see which subscriptions worked).
struct LiveSearchStats {
    std::size_t searches = 0;        // every search run, initial ones and tie look-aheads included
    std::size_t in_place = 0;        // touched subscriptions settled by scoring the changed document
    std::size_t drift_checks = 0;    // untouched subscriptions whose drift was added up
    std::size_t drift_searches = 0;  // searches run because the drift could have closed a gap
};

class LiveSearch {
public:
    using SubscriptionId = std::uint64_t;
    using Callback = std::function<void(const SearchEvent&)>;

    // Follows the index's changes until destroyed; the index must outlive it.
    explicit LiveSearch(MapSearchIndex& source) : source_(&source), index_(&source.index()) {
        observer_ = source.observe([this](const IndexChange& c) { apply(c); });
    }
    ~LiveSearch() { source_->unobserve(observer_); }
    LiveSearch(const LiveSearch&) = delete;
    LiveSearch& operator=(const LiveSearch&) = delete;

    // Registers a subscription and returns its initial results (a SEARCH_RESP):
    // exactly index().search(query, options).
    std::pair<SubscriptionId, std::vector<SearchResult>> subscribe(std::string query, SearchOptions options,
                                                                   Callback callback) {
        const SubscriptionId id = ++last_id_;
        Subscription& s = subscriptions_[id];
        s.query = std::move(query);
        s.options = std::move(options);
        s.callback = std::move(callback);
        s.words = index_->analyze_query(s.query, s.options);
        s.whole_words = s.options.fuzzy == 0 &&
                        std::none_of(s.words.begin(), s.words.end(), [](const QueryWord& w) { return w.prefix; });
        if (s.options.limit > 0) register_terms(id, s);
        search_again(id, s, std::nullopt, false);
        return {id, s.window};
    }

    // False when the id is unknown.
    bool unsubscribe(SubscriptionId id) {
        const auto it = subscriptions_.find(id);
        if (it == subscriptions_.end()) return false;
        unregister_terms(id, it->second);
        sensitive_.erase(id);
        subscriptions_.erase(it);
        return true;
    }

    std::size_t size() const noexcept { return subscriptions_.size(); }

    // The subscription's window, ranked by the scores last sent (which may
    // have drifted since; the keys are current). Empty for an unknown id.
    std::span<const SearchResult> results(SubscriptionId id) const {
        const auto it = subscriptions_.find(id);
        if (it == subscriptions_.end()) return {};
        return it->second.window;
    }

    // Searches every subscription again, emitting the differences (after a
    // boost change, which no document change reports).
    void refresh() {
        for (auto& [id, s] : subscriptions_) search_again(id, s, std::nullopt, true);
    }

    const LiveSearchStats& stats() const noexcept { return stats_; }

private:
    static constexpr double infinity = std::numeric_limits<double>::infinity();

    struct Subscription {
        std::string query;
        SearchOptions options;
        Callback callback;
        std::vector<QueryWord> words;
        bool whole_words = false;  // no prefix, no fuzzy: the changed document can be scored alone
        std::vector<SearchResult> window;
        std::optional<double> outside;  // the best score outside the window (below it or below minScore)
        double drift = 0;               // the bound on every score's move since the last search
        double slack = infinity;        // the drift the window tolerates
    };

    // Room for rounding: scores are sums of a few dozen terms.
    static double rounding(double magnitude) { return 1e-9 * (1.0 + std::abs(magnitude)); }

    // minScore only bites above 0 when no score can be negative.
    bool has_min(const Subscription& s) const {
        return s.options.min_score > 0 || !index_->nonnegative_scores(s.options);
    }

    void register_terms(SubscriptionId id, const Subscription& s) {
        for (const QueryWord& w : s.words) {
            if (w.term) by_term_[*w.term].push_back(id);
            if (w.prefix) {
                for (const std::string* p : {&w.word, w.term ? &*w.term : nullptr}) {
                    if (p == nullptr) continue;
                    by_prefix_[*p].push_back(id);
                    longest_prefix_ = std::max(longest_prefix_, p->size());
                }
            }
        }
        if (s.options.fuzzy > 0) fuzzy_.push_back(id);
    }

    void unregister_terms(SubscriptionId id, const Subscription& s) {
        const auto drop = [&](std::unordered_map<std::string, std::vector<SubscriptionId>>& table,
                              const std::string& k) {
            const auto it = table.find(k);
            if (it == table.end()) return;
            std::erase(it->second, id);
            if (it->second.empty()) table.erase(it);
        };
        for (const QueryWord& w : s.words) {
            if (w.term) drop(by_term_, *w.term);
            if (w.prefix) {
                drop(by_prefix_, w.word);
                if (w.term) drop(by_prefix_, *w.term);
            }
        }
        std::erase(fuzzy_, id);
    }

    // Subscriptions whose query matches or could expand to the term.
    void touched_by(std::string_view term, std::set<SubscriptionId>& out) const {
        if (const auto it = by_term_.find(std::string(term)); it != by_term_.end()) {
            out.insert(it->second.begin(), it->second.end());
        }
        if (!by_prefix_.empty()) {
            std::string prefix;
            for (std::size_t n = 1; n <= std::min(term.size(), longest_prefix_); ++n) {
                prefix.assign(term.substr(0, n));
                if (const auto it = by_prefix_.find(prefix); it != by_prefix_.end()) {
                    out.insert(it->second.begin(), it->second.end());
                }
            }
        }
        if (fuzzy_.empty()) return;
        std::u32string candidate;
        std::u32string word;
        std::vector<std::size_t> scratch;
        to_u32(term, candidate);
        for (const SubscriptionId id : fuzzy_) {
            if (out.contains(id)) continue;
            const Subscription& s = subscriptions_.at(id);
            const std::size_t edits = std::min(s.options.fuzzy, Bm25Index::max_fuzzy_edits);
            for (const QueryWord& w : s.words) {
                if (!w.term) continue;
                to_u32(*w.term, word);
                if (bounded_edit_distance(word, candidate, edits, scratch) <= edits) {
                    out.insert(id);
                    break;
                }
            }
        }
    }

    void apply(const IndexChange& change) {
        std::set<SubscriptionId> touched;
        for (const std::string& t : change.old_terms) touched_by(t, touched);
        for (const std::string_view t : change.new_terms) touched_by(t, touched);
        if (!touched.empty()) {
            std::set<std::string_view> terms(change.old_terms.begin(), change.old_terms.end());
            terms.insert(change.new_terms.begin(), change.new_terms.end());
            const std::function<bool(std::string_view)> changed = [&](std::string_view t) { return terms.contains(t); };
            for (const SubscriptionId id : touched) {
                Subscription& s = subscriptions_.at(id);
                if (update_in_place(id, s, change, changed)) {
                    ++stats_.in_place;
                } else {
                    search_again(id, s, change.key, true);
                }
            }
        }
        // Copied: a search may change the set.
        const std::vector<SubscriptionId> drifting(sensitive_.begin(), sensitive_.end());
        for (const SubscriptionId id : drifting) {
            if (touched.contains(id)) continue;
            Subscription& s = subscriptions_.at(id);
            s.drift += index_->drift_bound(change.before, s.options, s.words);
            ++stats_.drift_checks;
            if (!(s.drift < s.slack)) {
                ++stats_.drift_searches;
                search_again(id, s, std::nullopt, true);
            }
        }
    }

    // Searches beyond the window without minScore, which also shows the best
    // documents outside it; the window is the leading results with score ≥
    // minScore, at most `limit` of them (a fresh search's exact result). When
    // the scores seen tie the window's last all the way down, whole-word
    // queries look further (up to 512 beyond), so that ties do not read as
    // zero slack.
    void search_again(SubscriptionId id, Subscription& s, std::optional<std::string_view> changed, bool notify) {
        std::vector<SearchResult> ranked;
        std::size_t keep = 0;
        bool complete = true;
        if (s.options.limit > 0 && !s.words.empty()) {
            for (std::size_t extra = s.whole_words ? 8 : 1;; extra *= 8) {
                SearchOptions wide = s.options;
                wide.min_score = -infinity;
                wide.limit = s.options.limit > std::numeric_limits<std::size_t>::max() - extra
                                 ? s.options.limit
                                 : s.options.limit + extra;
                ranked = index_->search(s.query, wide);
                ++stats_.searches;
                keep = 0;
                while (keep < ranked.size() && keep < s.options.limit && ranked[keep].score >= s.options.min_score)
                    ++keep;
                complete = ranked.size() < wide.limit;
                const bool tied_to_the_end =
                    keep == s.options.limit && keep < ranked.size() && ranked.back().score == ranked[keep - 1].score;
                if (!s.whole_words || complete || !tied_to_the_end || extra >= 512) break;
            }
        }
        const double slack = slack_after_search(s, ranked, keep, complete);
        s.outside = keep < ranked.size() ? std::optional<double>(ranked[keep].score) : std::nullopt;
        ranked.resize(keep);
        if (notify) emit_differences(s, ranked, changed);
        s.window = std::move(ranked);
        s.drift = 0;
        s.slack = slack;
        mark_sensitive(id, s);
    }

    void mark_sensitive(SubscriptionId id, const Subscription& s) {
        if (std::isinf(s.slack) && s.slack > 0) {
            sensitive_.erase(id);
        } else {
            sensitive_.insert(id);
        }
    }

    // How far every score may move before the window's keys could change.
    double slack_after_search(const Subscription& s, const std::vector<SearchResult>& ranked, std::size_t keep,
                              bool complete) const {
        double slack = infinity;
        double magnitude = 0;
        const std::span<const SearchResult> members(ranked.data(), keep);
        const std::span<const SearchResult> outsiders(ranked.data() + keep, ranked.size() - keep);
        const bool minimum = has_min(s);
        if (!members.empty()) {
            magnitude = members.back().score;
            if (minimum)
                slack = std::min(slack, members.back().score - s.options.min_score);  // members stay ≥ minScore
        }
        if (!outsiders.empty() && members.size() == s.options.limit) {
            // A member and an outsider may swap when they move towards each
            // other, unless they score alike under any statistics.
            for (std::size_t x = members.size(); x-- > 0;) {
                if ((members[x].score - outsiders.front().score) / 2 >= slack) break;  // no closer pair above
                for (const SearchResult& y : outsiders) {
                    if (!s.whole_words || !index_->same_scoring(members[x].key, y.key, s.words, s.options)) {
                        slack = std::min(slack, (members[x].score - y.score) / 2);
                        break;
                    }
                }
            }
            // Unseen outsiders score at most the last one seen.
            if (!complete) slack = std::min(slack, (members.back().score - outsiders.back().score) / 2);
        }
        if (!outsiders.empty() && members.size() < s.options.limit && minimum) {
            magnitude = std::max(magnitude, std::abs(outsiders.front().score));
            slack = std::min(slack, s.options.min_score - outsiders.front().score);  // outsiders stay < minScore
        }
        return slack - rounding(magnitude);
    }

    // A touched whole-word subscription settles the change by scoring the
    // changed document alone, when that decides the window; false when only a
    // search can tell (nothing was changed then). With d the drift bound after
    // this change, every other document's score is within d of the one last
    // seen and the changed document's is exact: the document stays in or out
    // (or enters a window with room) as its membership says as long as every
    // gap it has to the window's boundary, and every older one, exceeds d.
    bool update_in_place(SubscriptionId id, Subscription& s, const IndexChange& change,
                         const std::function<bool(std::string_view)>& changed) {
        if (!s.whole_words || s.options.limit == 0 || s.words.empty()) return false;
        const double d = s.drift + index_->drift_bound(change.before, s.options, s.words, changed);
        if (!(d < s.slack)) return false;  // the other documents may already have reordered
        const std::optional<SearchResult> doc = index_->score_document(change.key, s.words, s.options);
        const bool qualifies = doc && doc->score >= s.options.min_score;
        const auto member =
            std::find_if(s.window.begin(), s.window.end(), [&](const SearchResult& r) { return r.key == change.key; });
        const bool was_member = member != s.window.end();
        const bool full = s.window.size() == s.options.limit;
        double lowest_other = infinity;  // the lowest member score but the changed document's
        for (const SearchResult& r : s.window) {
            if (r.key != change.key) lowest_other = std::min(lowest_other, r.score);
        }

        enum class Action { None, Enter, Update, Leave } action = Action::None;
        std::optional<double> outside = s.outside;
        if (was_member && !qualifies) {
            if (full && s.outside) return false;  // which outsider is promoted?
            action = Action::Leave;
        } else if (was_member) {
            action = Action::Update;
        } else if (qualifies && !full) {
            action = Action::Enter;
        }
        const bool member_after = action == Action::Enter || action == Action::Update;
        if (doc && !member_after) outside = outside ? std::max(*outside, doc->score) : doc->score;

        // The changed document's gaps, exact now and drifting from here on: with
        // D the drift bound at some later time it moves at most D − d, the
        // others at most D, so a gap g holds while D < (g + d) / 2 (or g + d
        // against minScore, which does not move). At D = d that is g > d.
        const bool full_after =
            s.window.size() + (action == Action::Enter ? 1 : 0) - (action == Action::Leave ? 1 : 0) == s.options.limit;
        double slack = s.slack;
        if (doc && member_after) {
            if (has_min(s)) slack = std::min(slack, doc->score - s.options.min_score + d - rounding(doc->score));
            if (full_after && outside) slack = std::min(slack, (doc->score - *outside + d) / 2 - rounding(doc->score));
        } else if (doc) {
            if (full_after) {
                slack = std::min(slack, (lowest_other - doc->score + d) / 2 - rounding(doc->score));
            } else if (has_min(s)) {
                slack = std::min(slack, s.options.min_score - doc->score + d - rounding(doc->score));
            }
        }
        if (!(d < slack)) return false;

        switch (action) {
            case Action::None:
                break;
            case Action::Leave:
                emit(s, SearchEvent{protocol::ChangeType::Leave, change.key, 0.0, {}});
                s.window.erase(member);
                break;
            case Action::Update:
                if (member->score != doc->score || member->matched_terms != doc->matched_terms) {
                    *member = *doc;
                    emit(s,
                         SearchEvent{protocol::ChangeType::Update, member->key, member->score, member->matched_terms});
                }
                break;
            case Action::Enter:
                s.window.push_back(*doc);
                emit(s, SearchEvent{protocol::ChangeType::Enter, s.window.back().key, s.window.back().score,
                                    s.window.back().matched_terms});
                break;
        }
        if (action == Action::Update || action == Action::Enter) {
            std::sort(s.window.begin(), s.window.end(), [](const SearchResult& a, const SearchResult& b) {
                return a.score != b.score ? a.score > b.score : a.key < b.key;
            });
        }
        s.outside = outside;
        s.drift = d;
        s.slack = slack;
        mark_sensitive(id, s);
        return true;
    }

    void emit(const Subscription& s, const SearchEvent& e) const {
        if (s.callback) s.callback(e);
    }

    void emit_differences(const Subscription& s, const std::vector<SearchResult>& fresh,
                          std::optional<std::string_view> changed) {
        const auto find = [](const std::vector<SearchResult>& in, std::string_view key) {
            return std::find_if(in.begin(), in.end(), [&](const SearchResult& r) { return r.key == key; });
        };
        for (const SearchResult& old : s.window) {
            if (find(fresh, old.key) == fresh.end())
                emit(s, SearchEvent{protocol::ChangeType::Leave, old.key, 0.0, {}});
        }
        if (changed) {
            const auto before = find(s.window, *changed);
            const auto after = find(fresh, *changed);
            if (before != s.window.end() && after != fresh.end() &&
                (before->score != after->score || before->matched_terms != after->matched_terms)) {
                emit(s, SearchEvent{protocol::ChangeType::Update, after->key, after->score, after->matched_terms});
            }
        }
        for (const SearchResult& r : fresh) {
            if (find(s.window, r.key) == s.window.end()) {
                emit(s, SearchEvent{protocol::ChangeType::Enter, r.key, r.score, r.matched_terms});
            }
        }
    }

    static void to_u32(std::string_view s, std::u32string& out) {
        out.clear();
        for (std::size_t pos = 0; pos < s.size();) {
            const auto [c, len] = topgun::detail::decode_utf8(s, pos);
            out += c;
            pos += len;
        }
    }

    MapSearchIndex* source_;
    const Bm25Index* index_;
    ListenerId observer_ = 0;
    SubscriptionId last_id_ = 0;
    std::map<SubscriptionId, Subscription> subscriptions_;
    std::unordered_map<std::string, std::vector<SubscriptionId>> by_term_;
    std::unordered_map<std::string, std::vector<SubscriptionId>> by_prefix_;
    std::size_t longest_prefix_ = 0;
    std::vector<SubscriptionId> fuzzy_;
    std::set<SubscriptionId> sensitive_;  // finite slack: drift could change their window
    LiveSearchStats stats_;
};

}  // namespace search
TOPGUN_END_NAMESPACE
