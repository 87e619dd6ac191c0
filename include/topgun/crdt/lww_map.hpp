// Last-writer-wins map (PROTOCOL.md §5.1): one record per key, the record with
// the greater HLC timestamp wins, deletes are tombstone records, and a Merkle
// tree hashed like the reference client's is kept up to date incrementally.
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/listeners.hpp>
#include <topgun/crdt/ttl.hpp>
#include <topgun/detail/stable_string_map.hpp>
#include <topgun/detail/string_map.hpp>
#include <topgun/hash.hpp>
#include <topgun/hlc.hpp>
#include <topgun/merkle/hash_trie.hpp>
#include <topgun/merkle/merkle_tree.hpp>
#include <topgun/value.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE

struct LWWRecord {
    Value value;  // nil = tombstone
    Timestamp timestamp;
    std::optional<std::uint64_t> ttl_ms;

    bool is_tombstone() const noexcept { return value.is_nil(); }
    friend bool operator==(const LWWRecord&, const LWWRecord&) = default;
};

class LWWMap;

// A stored record's place in its map, for readers that keep many references
// (indexes): reading through it skips the key lookup, which on a large map
// costs two cache misses. Valid until the map drops the key; a drop is
// reported (Prune, Expire, Clear) before it happens (an Expire from
// report_expired drops nothing).
class RecordRef {
public:
    RecordRef() = default;
    std::string_view key() const noexcept { return key_; }
    friend bool operator==(const RecordRef& a, const RecordRef& b) noexcept { return a.node_ == b.node_; }
    // An arbitrary but fixed order (by storage address), for deduplication.
    friend bool operator<(const RecordRef& a, const RecordRef& b) noexcept { return std::less<>{}(a.node_, b.node_); }

private:
    friend class LWWMap;
    RecordRef(std::string_view key, const void* node) noexcept : key_(key), node_(node) {}
    std::string_view key_;
    const void* node_ = nullptr;
};

// What a change did to one key; values are the live values before and after
// (nullptr for absent, tombstoned or expired). Expire, Prune and Clear report
// the dropped value as old_value even when it had already expired, and are
// sent before the record (and the storage `key` views) goes away — except an
// Expire from report_expired, whose record stays stored.
struct LWWChange {
    enum class Kind { Set, Remove, Merge, Prune, Expire, Clear };
    Kind kind;
    std::string_view key;
    const Value* old_value;
    const Value* new_value;
    RecordRef record;  // the same key's storage
};

class LWWMap {
    struct Slot;

public:
    // A record in place; valid until the map is next modified.
    struct RecordView {
        std::string_view key;
        const Value& value;
        std::uint64_t millis;
        std::uint32_t counter;
        std::string_view node_id;
        std::optional<std::uint64_t> ttl_ms;

        bool is_tombstone() const noexcept { return value.is_nil(); }
        Timestamp timestamp() const { return Timestamp{millis, counter, std::string(node_id)}; }
        LWWRecord to_record() const { return LWWRecord{value, timestamp(), ttl_ms}; }
    };

    enum class MergeResult { Applied, Ignored, DriftRejected };

    explicit LWWMap(HLC& hlc, unsigned merkle_depth = merkle::kDefaultDepth)
        : hlc_(&hlc), trie_(merkle_depth), expiry_reported_at_(hlc.wall_clock()) {}
    LWWMap(const LWWMap&) = delete;  // the trie points into entries_
    LWWMap& operator=(const LWWMap&) = delete;
    LWWMap(LWWMap&&) noexcept = default;
    LWWMap& operator=(LWWMap&&) noexcept = default;

    // Writes a value with a fresh local timestamp and returns the record (a
    // copy, to send to peers). A TTL, when given, must be positive (it is
    // ignored otherwise, like an absent one).
    LWWRecord set(std::string_view key, Value value, std::optional<std::uint64_t> ttl_ms = std::nullopt) {
        return write(key, std::move(value), ttl_ms).to_record();
    }

    // Deletes by writing a tombstone with a fresh local timestamp.
    LWWRecord remove(std::string_view key) { return write(key, Value()).to_record(); }

    // set() or, for a nil value, remove(), returning the stored record in
    // place instead of a copy (for writers that send the value they already
    // hold): valid until the map next changes.
    RecordView write(std::string_view key, Value value, std::optional<std::uint64_t> ttl_ms = std::nullopt) {
        if (ttl_ms && *ttl_ms == 0) ttl_ms.reset();
        const LWWChange::Kind kind = value.is_nil() ? LWWChange::Kind::Remove : LWWChange::Kind::Set;
        return view(*store(entries_.lookup(key), key, std::move(value), hlc_->now(), ttl_ms, kind));
    }

    // Merges a remote record: it wins iff its timestamp is strictly greater
    // (equal timestamps keep the local record, so merging is idempotent). The
    // clock always advances past the remote timestamp; with a strict HLC a
    // timestamp beyond the drift bound is refused and changes nothing.
    MergeResult merge(std::string_view key, const LWWRecord& remote) { return merge_value(key, remote.value, remote); }
    // The same, moving the value into the map when it wins.
    MergeResult merge(std::string_view key, LWWRecord&& remote) { return merge_value(key, std::move(remote.value), remote); }

    // The live value: nullptr when absent, tombstoned or expired.
    const Value* get(std::string_view key) const { return get(key, hlc_->wall_clock()); }
    // The same at a given wall-clock time (`clock().wall_clock()`), so that a
    // reader looking up many keys reads the clock once.
    const Value* get(std::string_view key, std::uint64_t now) const {
        const Node* n = entries_.find(key);
        if (n == nullptr) return nullptr;
        return live_value(n->value, now);
    }

    // The live value at a record reference this map handed out.
    const Value* get(RecordRef record, std::uint64_t now) const noexcept {
        return live_value(static_cast<const Node*>(record.node_)->value, now);
    }

    // The stored record, tombstones and expired records included.
    std::optional<RecordView> get_record(std::string_view key) const {
        const Node* n = entries_.find(key);
        if (n == nullptr) return std::nullopt;
        return view(*n);
    }

    // Drops tombstones older than `older_than` (GC after the retention horizon).
    std::vector<std::string> prune(const Timestamp& older_than) {
        return drop_if(LWWChange::Kind::Prune, [&](const Slot& slot) {
            return slot.value.is_nil() && stamp_less(slot, older_than);
        });
    }

    // Drops records whose TTL has expired (reads already skip them).
    std::vector<std::string> remove_expired() {
        const std::uint64_t now = hlc_->wall_clock();
        return drop_if(LWWChange::Kind::Expire, [&](const Slot& slot) {
            return !slot.value.is_nil() && ttl_expired(slot.millis, slot.ttl(), now);
        });
    }

    // Tells listeners of the records whose TTL ran out since the last call (or
    // since the map was made), an Expire change each (new_value nullptr), and
    // keeps them: expired records stay stored until overwritten or pruned
    // (PROTOCOL.md §5.1), so the map's records and Merkle hashes do not change,
    // while live queries and indexes learn that the value is gone from reads.
    // For replicas that never drop records themselves (clients); returns the
    // keys. A record merged after its TTL ran out but within the last interval
    // is reported although it was never live: listeners take an Expire of a
    // value they never held as nothing. The interval only moves forward, so a
    // clock stepping back reports nothing twice.
    std::vector<std::string> report_expired() {
        const std::uint64_t now = std::max(hlc_->wall_clock(), expiry_reported_at_);
        std::vector<std::string> keys;
        entries_.for_each([&](const Node& n) {
            const Slot& slot = n.value;
            if (slot.value.is_nil() || !ttl_expired(slot.millis, slot.ttl(), now)) return;
            if (ttl_expired(slot.millis, slot.ttl(), expiry_reported_at_)) return;  // told before
            keys.emplace_back(n.key);
            listeners_.emit(LWWChange{LWWChange::Kind::Expire, n.key, &slot.value, nullptr, ref(n)});
        });
        expiry_reported_at_ = now;
        return keys;
    }

    // Listeners see a Clear change for every record with a value (expired ones
    // included: they may still be indexed), so nothing keeps views of its key.
    void clear() {
        if (!listeners_.empty()) {
            entries_.for_each([&](const Node& n) {
                if (!n.value.value.is_nil()) listeners_.emit(LWWChange{LWWChange::Kind::Clear, n.key, &n.value.value, nullptr, ref(n)});
            });
        }
        entries_.clear();
        trie_.clear();
    }

    // Stored records, tombstones included.
    std::size_t size() const noexcept { return entries_.size(); }
    // Room for `more` new keys, so a large merge into the map rehashes once.
    void reserve_more(std::size_t more) { entries_.reserve(entries_.size() + more); }

    // Visits live entries: f(std::string_view key, const Value& value).
    template <class F>
    void for_each(F&& f) const {
        const std::uint64_t now = hlc_->wall_clock();
        entries_.for_each([&](const Node& n) {
            if (const Value* v = live_value(n.value, now)) f(std::string_view(n.key), *v);
        });
    }

    // The same with references: f(RecordRef, const Value& value).
    template <class F>
    void for_each_live_ref(F&& f) const {
        const std::uint64_t now = hlc_->wall_clock();
        entries_.for_each([&](const Node& n) {
            if (const Value* v = live_value(n.value, now)) f(ref(n), *v);
        });
    }

    // Resumable form of for_each for batch readers: visits live entries from
    // `position` (0 to start) until f(key, value) returns false, and returns
    // where to resume (npos when done). `now` is `clock().wall_clock()`.
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);  // as StableStringMap::npos
    template <class F>
    std::size_t for_each_from(std::size_t position, std::uint64_t now, F&& f) const {
        return entries_.visit_from(position, [&](const Node& n) {
            const Value* v = live_value(n.value, now);
            return v == nullptr || f(std::string_view(n.key), *v);
        });
    }

    // Visits every stored record: f(const RecordView&).
    template <class F>
    void for_each_record(F&& f) const {
        entries_.for_each([&](const Node& n) { f(view(n)); });
    }

    // Records of the keys in one Merkle leaf (for a SYNC_RESP_LEAF).
    std::vector<RecordView> records_in_bucket(std::string_view path) const {
        std::vector<RecordView> out;
        for (const std::string* key : trie_.keys_in_bucket(path)) {
            if (const Node* n = entries_.find(*key)) out.push_back(view(*n));
        }
        return out;
    }

    const merkle::HashTrie& merkle() const noexcept { return trie_; }
    HLC& clock() noexcept { return *hlc_; }
    const HLC& clock() const noexcept { return *hlc_; }

    // Change notifications, called synchronously after each change.
    ListenerId subscribe(Listeners<LWWChange>::Callback cb) { return listeners_.add(std::move(cb)); }
    // For structures derived from the map (indexes): they see each change
    // before every subscribe() listener, which may then read them.
    ListenerId subscribe_index(Listeners<LWWChange>::Callback cb) { return listeners_.add_first(std::move(cb)); }
    void unsubscribe(ListenerId id) { listeners_.remove(id); }

private:
    // Node ids repeat across millions of records: each map stores them once.
    class NodeIds {
    public:
        std::uint32_t intern(std::string_view id) {
            if (last_ < names_.size() && names_[last_] == id) return last_;
            const auto it = index_.find(id);
            if (it != index_.end()) return last_ = it->second;
            const auto n = static_cast<std::uint32_t>(names_.size());
            names_.emplace_back(id);
            index_.emplace(names_.back(), n);
            return last_ = n;
        }
        std::string_view name(std::uint32_t n) const noexcept { return names_[n]; }

    private:
        std::vector<std::string> names_;
        detail::StringHashMap<std::uint32_t> index_;
        std::uint32_t last_ = 0;  // consecutive records mostly come from one writer
    };

    static constexpr std::uint64_t kNoTtl = UINT64_MAX;

    struct Slot {
        Value value;
        std::uint64_t millis = 0;
        std::uint64_t ttl_ms = kNoTtl;
        std::uint32_t counter = 0;
        std::uint32_t node = 0;
        std::uint32_t item_hash = 0;
        std::uint32_t route = 0;  // fnv1a(key): the Merkle path

        std::optional<std::uint64_t> ttl() const noexcept {
            return ttl_ms == kNoTtl ? std::nullopt : std::optional<std::uint64_t>(ttl_ms);
        }
    };

    using Entries = detail::StableStringMap<Slot>;
    using Node = Entries::Node;

    static RecordRef ref(const Node& n) noexcept { return RecordRef(n.key, &n); }

    RecordView view(const Node& n) const {
        const Slot& slot = n.value;
        return RecordView{n.key, slot.value, slot.millis, slot.counter, node_ids_.name(slot.node), slot.ttl()};
    }

    static const Value* live_value(const Slot& slot, std::uint64_t now) noexcept {
        if (slot.value.is_nil() || ttl_expired(slot.millis, slot.ttl(), now)) return nullptr;
        return &slot.value;
    }

    bool newer(const Timestamp& ts, const Slot& slot) const noexcept {
        if (ts.millis != slot.millis) return ts.millis > slot.millis;
        if (ts.counter != slot.counter) return ts.counter > slot.counter;
        return std::string_view(ts.node_id) > node_ids_.name(slot.node);
    }
    bool stamp_less(const Slot& slot, const Timestamp& ts) const noexcept {
        if (slot.millis != ts.millis) return slot.millis < ts.millis;
        if (slot.counter != ts.counter) return slot.counter < ts.counter;
        return node_ids_.name(slot.node) < std::string_view(ts.node_id);
    }

    template <class V>
    MergeResult merge_value(std::string_view key, V&& value, const LWWRecord& remote) {
        if (hlc_->update(remote.timestamp) == HLC::UpdateResult::DriftExceeded && hlc_->options().strict) {
            return MergeResult::DriftRejected;
        }
        const Entries::Lookup found = entries_.lookup(key);
        if (found.node != nullptr && !newer(remote.timestamp, found.node->value)) return MergeResult::Ignored;
        store(found, key, Value(std::forward<V>(value)), remote.timestamp, remote.ttl_ms, LWWChange::Kind::Merge);
        return MergeResult::Applied;
    }

    // Writes a record where lookup() found the key (a new node when absent) and returns its node.
    Node* store(const Entries::Lookup& found, std::string_view key, Value value, const Timestamp& timestamp,
                std::optional<std::uint64_t> ttl_ms, LWWChange::Kind kind) {
        const bool inserted = found.node == nullptr;
        Node* n = inserted ? &entries_.emplace_absent(key, found) : found.node;
        Slot& slot = n->value;

        // The old live value is only kept (and the clock only read) for listeners.
        const bool notify = !listeners_.empty();
        const std::uint64_t now = notify ? hlc_->wall_clock() : 0;
        Value old_value;
        const bool had_live = notify && !inserted && live_value(slot, now) != nullptr;
        if (had_live) old_value = std::move(slot.value);
        const std::optional<std::uint32_t> old_item = inserted ? std::nullopt : std::optional(slot.item_hash);

        slot.value = std::move(value);
        slot.millis = timestamp.millis;
        slot.counter = timestamp.counter;
        slot.node = node_ids_.intern(timestamp.node_id);
        slot.ttl_ms = ttl_ms.value_or(kNoTtl);
        if (inserted) slot.route = fnv1a(n->key);
        slot.item_hash = merkle::lww_item_hash_from_route(slot.route, timestamp);
        trie_.upsert(&n->key, slot.route, old_item, slot.item_hash);

        if (notify) listeners_.emit(LWWChange{kind, n->key, had_live ? &old_value : nullptr, live_value(slot, now), ref(*n)});
        return n;
    }

    template <class Pred>
    std::vector<std::string> drop_if(LWWChange::Kind kind, Pred&& pred) {
        std::vector<std::string> dropped;
        entries_.erase_if([&](const Node& n) { return pred(n.value); },
                          [&](const Node& n) {
                              trie_.erase(&n.key, n.value.route, n.value.item_hash);
                              dropped.push_back(n.key);
                              if (!listeners_.empty() && !n.value.value.is_nil()) {
                                  listeners_.emit(LWWChange{kind, n.key, &n.value.value, nullptr, ref(n)});
                              }
                          });
        return dropped;
    }

    HLC* hlc_;
    Entries entries_;  // nodes never move: the trie holds pointers to their keys
    merkle::HashTrie trie_;
    NodeIds node_ids_;
    Listeners<LWWChange> listeners_;
    std::uint64_t expiry_reported_at_;  // report_expired's last time
};

TOPGUN_END_NAMESPACE
