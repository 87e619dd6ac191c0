// Observed-remove map (PROTOCOL.md §5.2): each key holds a set of values, every
// add is a record with a unique tag (its timestamp string), and a remove
// tombstones the tags it observed. Concurrent adds both survive; a tombstoned tag
// never comes back.
//
// The map's Merkle trie is the OR-map Merkle tree of the TS client
// (ORMapMerkleTree): one item per key, hashed by merkle::or_entry_hash over the
// key's stored records, kept up to date incrementally. (A standalone OR tree is a
// merkle::MerkleTree fed with or_entry_hash values; no separate type is needed.)
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/listeners.hpp>
#include <topgun/crdt/ttl.hpp>
#include <topgun/detail/js_text.hpp>
#include <topgun/detail/string_map.hpp>
#include <topgun/hash.hpp>
#include <topgun/hlc.hpp>
#include <topgun/merkle/hash_trie.hpp>
#include <topgun/merkle/or_entry_hash.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE

struct ORRecord {
    Value value;
    Timestamp timestamp;
    std::string tag;  // "millis:counter:nodeId" of the add: unique per add
    std::optional<std::uint64_t> ttl_ms;

    friend bool operator==(const ORRecord&, const ORRecord&) = default;
};

inline bool or_expired(const ORRecord& r, std::uint64_t now) noexcept { return ttl_expired(r.timestamp.millis, r.ttl_ms, now); }

// One key whose stored records changed.
struct ORChange {
    enum class Kind { Add, Remove, Apply, Tombstone, Merge };
    Kind kind;
    std::string_view key;
};

struct ORMergeKeyResult {
    std::size_t added = 0;
    std::size_t updated = 0;
    friend bool operator==(const ORMergeKeyResult&, const ORMergeKeyResult&) = default;
};

class ORMap {
    struct Slot;

public:
    explicit ORMap(HLC& hlc, unsigned merkle_depth = merkle::kDefaultDepth) : hlc_(&hlc), trie_(merkle_depth) {}
    ORMap(const ORMap&) = delete;  // the trie and the tag index point into entries_
    ORMap& operator=(const ORMap&) = delete;
    ORMap(ORMap&&) noexcept = default;
    ORMap& operator=(ORMap&&) noexcept = default;

    // Adds a value under a fresh tag. A TTL of 0 is treated as none.
    ORRecord add(std::string_view key, Value value, std::optional<std::uint64_t> ttl_ms = std::nullopt) {
        if (ttl_ms && *ttl_ms == 0) ttl_ms.reset();
        ORRecord record{std::move(value), hlc_->now(), {}, ttl_ms};
        record.tag = record.timestamp.to_string();
        const auto it = put(key, record, Policy::Overwrite).first;
        refresh(it);
        emit(ORChange::Kind::Add, key);
        return record;
    }

    // Tombstones every stored tag of `key` whose value equals `value`
    // (structurally, as the Rust core does; the TS client compares identity) and
    // returns those tags: one remove op each for the other replicas.
    std::vector<std::string> remove(std::string_view key, const Value& value) {
        std::vector<std::string> tags;
        const auto it = entries_.find(key);
        if (it == entries_.end()) return tags;
        for (const ORRecord& r : it->second.records) {
            if (r.value == value) tags.push_back(r.tag);
        }
        for (const std::string& tag : tags) kill_tag(tag);
        finish_touched(ORChange::Kind::Remove);
        return tags;
    }

    // The live values of `key` in tag order: not tombstoned, not expired. The
    // pointers are valid until the map is next modified.
    std::vector<const Value*> get(std::string_view key) const {
        std::vector<const Value*> out;
        const auto it = entries_.find(key);
        if (it == entries_.end()) return out;
        const std::uint64_t now = hlc_->wall_clock();
        for (const ORRecord& r : it->second.records) {
            if (!or_expired(r, now)) out.push_back(&r.value);
        }
        return out;
    }

    // Every stored record of `key` in tag order, TTL-expired ones included (they
    // are part of the Merkle hash and of what sync sends). Valid until the map is
    // next modified.
    std::span<const ORRecord> records(std::string_view key) const {
        const auto it = entries_.find(key);
        if (it == entries_.end()) return {};
        return it->second.records;
    }

    // A remote add: false when its tag is tombstoned (or, with a strict clock,
    // when its timestamp is beyond the drift bound). A stored record with the same
    // tag is overwritten. The clock advances past the record's timestamp.
    bool apply(std::string_view key, const ORRecord& record) {
        if (tombstones_.contains(std::string_view(record.tag))) return false;
        if (!accept_clock(record.timestamp)) return false;
        const auto [it, outcome] = put(key, record, Policy::Overwrite);
        if (outcome == Put::Unchanged) return true;
        refresh(it);
        emit(ORChange::Kind::Apply, key);
        return true;
    }

    // A remote remove: the tag joins the tombstones and its record, under
    // whichever key holds it, is dropped. O(1) through the tag index. Returns
    // whether a stored record was dropped.
    bool apply_tombstone(std::string_view tag) {
        const bool dropped = kill_tag(tag);
        finish_touched(ORChange::Kind::Tombstone);
        return dropped;
    }

    // Merges one key from a sync peer: remote tombstones join ours first (and drop
    // every record they name, under any key), then each remote record not
    // tombstoned is added when its tag is new, or replaces ours when its timestamp
    // is strictly newer. The clock advances past every accepted record. `remote`
    // must not point into this map's own records (copy them first).
    ORMergeKeyResult merge_key(std::string_view key, std::span<const ORRecord> remote,
                               std::span<const std::string> remote_tombstones = {}) {
        ORMergeKeyResult result;
        for (const std::string& tag : remote_tombstones) kill_tag(tag);
        for (const ORRecord& record : remote) {
            if (tombstones_.contains(std::string_view(record.tag))) continue;
            if (!accept_clock(record.timestamp)) continue;
            const Put outcome = put(key, record, Policy::IfNewer).second;
            if (outcome == Put::Added) ++result.added;
            if (outcome == Put::Replaced) ++result.updated;
        }
        finish_touched(ORChange::Kind::Merge);
        return result;
    }

    // Merges a whole replica: tombstones union, then every record of `other` whose
    // tag is new here and not tombstoned.
    void merge(const ORMap& other) {
        if (&other == this) return;
        for (const std::string& tag : other.tombstones_) kill_tag(tag);
        for (const auto& [key, slot] : other.entries_) {
            for (const ORRecord& record : slot.records) {
                if (tombstones_.contains(std::string_view(record.tag))) continue;
                if (!accept_clock(record.timestamp)) continue;
                put(key, record, Policy::IfAbsent);
            }
        }
        finish_touched(ORChange::Kind::Merge);
    }

    // Forgets tombstones whose tag, read as a timestamp, is older than
    // `older_than` (GC after the retention horizon); tags that do not parse are
    // kept. Returns the pruned tags, sorted.
    std::vector<std::string> prune(const Timestamp& older_than) {
        std::vector<std::string> pruned;
        for (auto it = tombstones_.begin(); it != tombstones_.end();) {
            const auto ts = Timestamp::parse(*it);
            if (ts && *ts < older_than) {
                pruned.push_back(*it);
                it = tombstones_.erase(it);
            } else {
                ++it;
            }
        }
        std::sort(pruned.begin(), pruned.end());
        return pruned;
    }

    // The tombstoned tags, sorted (a deterministic order for the wire).
    std::vector<std::string> tombstones() const {
        std::vector<std::string> out(tombstones_.begin(), tombstones_.end());
        std::sort(out.begin(), out.end());
        return out;
    }
    bool is_tombstoned(std::string_view tag) const { return tombstones_.contains(tag); }
    std::size_t tombstone_count() const noexcept { return tombstones_.size(); }

    void clear() {
        entries_.clear();
        tag_index_.clear();
        tombstones_.clear();
        trie_.clear();
    }

    // Keys holding at least one stored record.
    std::size_t size() const noexcept { return entries_.size(); }
    std::size_t total_records() const noexcept {
        std::size_t n = 0;
        for (const auto& [key, slot] : entries_) n += slot.records.size();
        return n;
    }

    // Visits live values: f(std::string_view key, const Value& value).
    template <class F>
    void for_each(F&& f) const {
        const std::uint64_t now = hlc_->wall_clock();
        for (const auto& [key, slot] : entries_) {
            for (const ORRecord& r : slot.records) {
                if (!or_expired(r, now)) f(std::string_view(key), r.value);
            }
        }
    }

    // Visits every stored record: f(std::string_view key, const ORRecord& record).
    template <class F>
    void for_each_record(F&& f) const {
        for (const auto& [key, slot] : entries_) {
            for (const ORRecord& r : slot.records) f(std::string_view(key), r);
        }
    }

    // The Merkle item of a key (its or_entry_hash), if the key has records.
    std::optional<std::uint32_t> entry_hash(std::string_view key) const {
        const auto it = entries_.find(key);
        if (it == entries_.end()) return std::nullopt;
        return it->second.entry_hash;
    }

    // Key -> entry hash for the keys of one Merkle leaf (for an OR sync leaf reply).
    std::vector<std::pair<std::string_view, std::uint32_t>> entry_hashes_in_bucket(std::string_view path) const {
        std::vector<std::pair<std::string_view, std::uint32_t>> out;
        for (const std::string* key : trie_.keys_in_bucket(path)) {
            const auto it = entries_.find(*key);
            if (it != entries_.end()) out.emplace_back(it->first, it->second.entry_hash);
        }
        return out;
    }

    const merkle::HashTrie& merkle() const noexcept { return trie_; }
    HLC& clock() noexcept { return *hlc_; }

    // Change notifications, called synchronously once per changed key, after the
    // whole operation (Merkle tree included) is done.
    ListenerId subscribe(Listeners<ORChange>::Callback cb) { return listeners_.add(std::move(cb)); }
    void unsubscribe(ListenerId id) { listeners_.remove(id); }

private:
    struct Slot {
        std::vector<ORRecord> records;  // sorted by tag in UTF-16 order: the entry-hash order
        std::uint32_t route = 0;        // fnv1a(key): the Merkle path
        std::uint32_t entry_hash = 0;
        bool in_trie = false;
    };

    using Entries = detail::StringHashMap<Slot>;

    enum class Policy { Overwrite, IfNewer, IfAbsent };
    enum class Put { Added, Replaced, Unchanged };

    static auto find_tag(std::vector<ORRecord>& records, std::string_view tag) {
        return std::lower_bound(records.begin(), records.end(), tag, [](const ORRecord& r, std::string_view t) {
            return detail::utf16_compare(r.tag, t) < 0;
        });
    }

    bool accept_clock(const Timestamp& ts) {
        return !(hlc_->update(ts) == HLC::UpdateResult::DriftExceeded && hlc_->options().strict);
    }

    // Stores a record under `key` (the Merkle item is left for refresh()). Changed
    // keys are also noted in touched_.
    std::pair<Entries::iterator, Put> put(std::string_view key, const ORRecord& record, Policy policy) {
        auto it = entries_.find(key);
        if (it == entries_.end()) {
            it = entries_.emplace(std::string(key), Slot{}).first;
            it->second.route = fnv1a(it->first);
        }
        auto& records = it->second.records;
        const auto pos = find_tag(records, record.tag);
        if (pos != records.end() && pos->tag == record.tag) {
            const bool replace = policy == Policy::Overwrite ? !(*pos == record)
                                 : policy == Policy::IfNewer ? pos->timestamp < record.timestamp
                                                             : false;
            if (!replace) return {it, Put::Unchanged};
            *pos = record;
            touched_.push_back(&it->first);
            return {it, Put::Replaced};
        }
        records.insert(pos, record);
        tag_index_.emplace(record.tag, &it->first);
        touched_.push_back(&it->first);
        return {it, Put::Added};
    }

    // Tombstones a tag and drops its records (tags are unique, but a faulty peer
    // could reuse one under two keys; the index holds every key then). The keys
    // are noted in touched_ for finish_touched().
    bool kill_tag(std::string_view tag_in) {
        const auto [pos, inserted] = tombstones_.emplace(tag_in);
        if (!inserted) return false;    // stored records never carry a tombstoned tag
        const std::string& tag = *pos;  // tag_in may point into a record erased below
        const auto [first, last] = tag_index_.equal_range(tag);
        bool dropped = false;
        for (auto i = first; i != last; ++i) {
            auto& records = entries_.find(*i->second)->second.records;
            const auto rec = find_tag(records, tag);
            if (rec != records.end() && rec->tag == tag) {
                records.erase(rec);
                dropped = true;
            }
            touched_.push_back(i->second);
        }
        tag_index_.erase(first, last);
        return dropped;
    }

    // Brings the Merkle item of a key up to date; a key left without records
    // leaves the map and the trie.
    void refresh(Entries::iterator it) {
        Slot& slot = it->second;
        if (slot.records.empty()) {
            if (slot.in_trie) trie_.erase(&it->first, slot.route, slot.entry_hash);
            entries_.erase(it);
            return;
        }
        const std::uint32_t h = merkle::or_entry_hash(it->first, slot.records);
        trie_.upsert(&it->first, slot.route, slot.in_trie ? std::optional(slot.entry_hash) : std::nullopt, h);
        slot.entry_hash = h;
        slot.in_trie = true;
    }

    // Refreshes every touched key once, then notifies (names are copied first:
    // a refreshed key may have left the map).
    void finish_touched(ORChange::Kind kind) {
        std::sort(touched_.begin(), touched_.end());
        touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
        std::vector<std::string> names;
        if (!listeners_.empty()) {
            for (const std::string* key : touched_) names.push_back(*key);
        }
        for (const std::string* key : touched_) refresh(entries_.find(*key));
        touched_.clear();
        for (const std::string& name : names) listeners_.emit(ORChange{kind, name});
    }

    void emit(ORChange::Kind kind, std::string_view key) {
        touched_.clear();  // single-key operations refresh directly
        if (!listeners_.empty()) listeners_.emit(ORChange{kind, key});
    }

    HLC* hlc_;
    Entries entries_;  // node-based: the trie and the tag index hold pointers to its keys
    // tag -> key holding a record with that tag, so a tombstone finds its record
    // without scanning the map.
    std::unordered_multimap<std::string, const std::string*, detail::StringHash, std::equal_to<>> tag_index_;
    detail::StringHashSet tombstones_;
    merkle::HashTrie trie_;
    std::vector<const std::string*> touched_;  // keys changed by the current operation
    Listeners<ORChange> listeners_;
};

TOPGUN_END_NAMESPACE
