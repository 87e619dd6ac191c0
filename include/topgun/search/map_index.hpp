// A BM25 index kept in step with an LWW map: every change the map reports
// (set, remove, merge, expire, prune, clear) re-indexes or drops the key, so
// the index always holds exactly the map's live records — except records
// whose TTL ran out, which stay until the map reports them (remove_expired,
// report_expired), because the map reports nothing before. Searches return keys; the caller
// reads the values from the map.
//
// What a record contributes:
// - by default, every string anywhere in its value (maps and arrays
//   recursively, in their order), as the reference server indexes records:
//   one unnamed field, each string its own text (a phrase does not run from
//   one string into the next);
// - with TextFields::ByMember, every string too, but as a field named for the
//   top-level member it sits under ("title", "address" for address.city), so
//   a query's boosts can weigh members (SearchOptions::boosts); BM25 then
//   scores each member as its own field and sums them. The first
//   max_member_fields names seen become fields; strings of later names go to
//   the unnamed field, so records keyed by data ({"<user id>": ...}) cannot
//   grow the index's per-field tables without bound;
// - or, with a list of field paths, the strings under each path (recursively
//   again), one BM25 field per path with that field's boost.
// Numbers, booleans and binaries are not text. Every live record is a
// document, also one without any text: N counts the map's records.
//
// Observers see each change with the document's terms before and after and
// the corpus statistics before it, which is what live search needs to decide
// which subscriptions a change can affect (live_search.hpp).
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/listeners.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/query/field_path.hpp>
#include <topgun/search/bm25.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace search {

struct IndexedField {
    std::string path;  // a dot path into the record value ("title", "meta.summary")
    double boost = 1.0;
};

// One change of the index, as observers see it (views valid during the call).
struct IndexChange {
    std::string_view key;
    std::span<const std::string> old_terms;       // the document's distinct terms before (none: it was not indexed)
    std::span<const std::string_view> new_terms;  // and after (none: it was removed, or holds no text)
    const CorpusStats& before;                    // the index's statistics before the change
};

// How a record's strings become fields when no field paths are given.
enum class TextFields : std::uint8_t { Combined, ByMember };

// Appends every string in `v` (maps and arrays recursively) to `out`.

inline void collect_strings(const Value& v, std::vector<std::string_view>& out) {
    switch (v.type()) {
        case Value::Type::String:
            out.push_back(v.as_string());
            break;
        case Value::Type::Array:
            for (const Value& e : v.as_array()) collect_strings(e, out);
            break;
        case Value::Type::Map:
            for (const auto& member : v.as_map()) collect_strings(member.second, out);
            break;
        default:
            break;
    }
}

class MapSearchIndex {
public:
    using Observer = Listeners<IndexChange>::Callback;

    // By member: how many member names become fields (see the header).
    static constexpr std::size_t max_member_fields = 32;

    // Indexes every string of every record. The map must outlive the index
    // and stay where it is (the index listens to it).
    explicit MapSearchIndex(LWWMap& map, TokenizerOptions tokenizer = {}, Bm25Options options = {},
                            TextFields every_string = TextFields::Combined)
        : MapSearchIndex(map, {}, tokenizer, options, every_string) {}

    // Indexes the strings under each path; an empty list means every string,
    // as `every_string` says.
    MapSearchIndex(LWWMap& map, std::vector<IndexedField> fields, TokenizerOptions tokenizer = {},
                   Bm25Options options = {}, TextFields every_string = TextFields::Combined)
        : map_(&map), index_(tokenizer, options), every_string_(every_string) {
        for (IndexedField& f : fields) {
            index_.set_field_boost(f.path, f.boost);
            paths_.emplace_back(f.path);
            names_.push_back(std::move(f.path));
        }
        map.for_each([&](std::string_view key, const Value& value) { index_value(key, value); });
        listener_ = map.subscribe_index([this](const LWWChange& c) { on_change(c); });
    }

    ~MapSearchIndex() { map_->unsubscribe(listener_); }
    // Non-copyable and non-movable: the map's listener points here.
    MapSearchIndex(const MapSearchIndex&) = delete;
    MapSearchIndex& operator=(const MapSearchIndex&) = delete;

    const Bm25Index& index() const noexcept { return index_; }
    const LWWMap& map() const noexcept { return *map_; }

    // Observers run after each change of the index.
    ListenerId observe(Observer cb) { return observers_.add(std::move(cb)); }
    void unobserve(ListenerId id) { observers_.remove(id); }

    // The texts the record contributes, as add_or_update takes them (views into `value`).
    // By member, a name seen for the first time may take one of the free field places.
    std::vector<FieldText> texts(const Value& value) const {
        std::vector<FieldText> out;
        std::vector<std::string_view> strings;
        if (paths_.empty() && every_string_ == TextFields::ByMember && value.is_map()) {
            for (const auto& [member, v] : value.as_map()) {
                strings.clear();
                collect_strings(v, strings);
                if (strings.empty()) continue;
                bool named = std::find(member_fields_.begin(), member_fields_.end(), member) != member_fields_.end();
                if (!named && member_fields_.size() < max_member_fields) {
                    member_fields_.push_back(member);
                    named = true;
                }
                for (const std::string_view s : strings) out.push_back(FieldText{named ? std::string_view(member) : std::string_view(), s});
            }
            return out;
        }
        if (paths_.empty()) {
            collect_strings(value, strings);
            for (const std::string_view s : strings) out.push_back(FieldText{std::string_view(), s});
            return out;
        }
        for (std::size_t i = 0; i < paths_.size(); ++i) {
            strings.clear();
            if (const Value* v = paths_[i].resolve(value)) collect_strings(*v, strings);
            for (const std::string_view s : strings) out.push_back(FieldText{names_[i], s});
        }
        return out;
    }

private:
    void on_change(const LWWChange& c) {
        if (c.new_value != nullptr) {
            index_value(c.key, *c.new_value);
        } else {
            drop(c.key);
        }
    }

    void index_value(std::string_view key, const Value& value) {
        const std::vector<FieldText> fields = texts(value);
        if (observers_.empty()) {
            index_.add_or_update(key, fields);
            return;
        }
        const CorpusStats before = index_.stats();
        const std::vector<std::string> old_terms = terms_of(key);
        index_.add_or_update(key, fields);
        std::vector<std::string_view> new_terms;
        index_.for_each_term(key, [&](std::string_view t) { new_terms.push_back(t); });
        observers_.emit(IndexChange{key, old_terms, new_terms, before});
    }

    void drop(std::string_view key) {
        if (!index_.contains(key)) return;
        if (observers_.empty()) {
            index_.remove(key);
            return;
        }
        const CorpusStats before = index_.stats();
        const std::vector<std::string> old_terms = terms_of(key);
        index_.remove(key);
        observers_.emit(IndexChange{key, old_terms, {}, before});
    }

    std::vector<std::string> terms_of(std::string_view key) const {
        std::vector<std::string> out;
        index_.for_each_term(key, [&](std::string_view t) { out.emplace_back(t); });
        return out;
    }

    LWWMap* map_;
    Bm25Index index_;
    TextFields every_string_;
    // By member: the names that are fields. Mutable: texts() admits names as it meets them.
    mutable std::vector<std::string> member_fields_;  // at most max_member_fields: a scan is enough
    std::vector<query::FieldPath> paths_;
    std::vector<std::string> names_;  // the paths as field names
    ListenerId listener_ = 0;
    Listeners<IndexChange> observers_;
};

}  // namespace search
TOPGUN_END_NAMESPACE
