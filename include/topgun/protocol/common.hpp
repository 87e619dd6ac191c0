// Sub-types shared by many messages (PROTOCOL.md §3 "Shared sub-types").
// Field order in each fields() is wire order: the order the reference TS client
// builds its objects in (and the reference fixtures use).
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/lww_map.hpp>
#include <topgun/crdt/or_map.hpp>
#include <topgun/crdt/pn_counter.hpp>
#include <topgun/protocol/fields.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

enum class WriteConcern : std::uint8_t { FireAndForget, Memory, Applied, Replicated, Persisted };
template <>
struct EnumNames<WriteConcern> {
    static constexpr std::array<std::string_view, 5> names = {"FIRE_AND_FORGET", "MEMORY", "APPLIED", "REPLICATED",
                                                              "PERSISTED"};
};

enum class ChangeType : std::uint8_t { Enter, Update, Leave };
template <>
struct EnumNames<ChangeType> {
    static constexpr std::array<std::string_view, 3> names = {"ENTER", "UPDATE", "LEAVE"};
};

enum class OpType : std::uint8_t { Put, Remove, OrAdd, OrRemove };
template <>
struct EnumNames<OpType> {
    static constexpr std::array<std::string_view, 4> names = {"PUT", "REMOVE", "OR_ADD", "OR_REMOVE"};
};

// An LWW record as it travels: `value` nil is a tombstone; `ttlMs` keeps the
// difference between absent and nil (the Rust server writes nil).
struct LWWRecordData {
    Value value;
    Timestamp timestamp;
    Nullable<std::uint64_t> ttl_ms;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("value", s.value);
        v("timestamp", s.timestamp);
        v("ttlMs", s.ttl_ms);
    }

    LWWRecord to_record() const& { return LWWRecord{value, timestamp, ttl_ms.to_optional()}; }
    LWWRecord to_record() && { return LWWRecord{std::move(value), std::move(timestamp), ttl_ms.to_optional()}; }
    static LWWRecordData from(LWWRecord r) {
        LWWRecordData d{std::move(r.value), std::move(r.timestamp), {}};
        if (r.ttl_ms) d.ttl_ms = *r.ttl_ms;
        return d;
    }
    friend bool operator==(const LWWRecordData&, const LWWRecordData&) = default;
};

struct ORMapRecordData {
    Value value;
    Timestamp timestamp;
    std::string tag;
    Nullable<std::uint64_t> ttl_ms;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("value", s.value);
        v("timestamp", s.timestamp);
        v("tag", s.tag);
        v("ttlMs", s.ttl_ms);
    }

    ORRecord to_record() const {
        return ORRecord{value, timestamp, tag, ttl_ms.to_optional()};
    }
    static ORMapRecordData from(const ORRecord& r) {
        ORMapRecordData d{r.value, r.timestamp, r.tag, {}};
        if (r.ttl_ms) d.ttl_ms = *r.ttl_ms;
        return d;
    }
    friend bool operator==(const ORMapRecordData&, const ORMapRecordData&) = default;
};

struct ORMapEntry {
    std::string key;
    std::vector<ORMapRecordData> records;
    std::vector<std::string> tombstones;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("key", s.key);
        v("records", s.records);
        v("tombstones", s.tombstones);
    }
    friend bool operator==(const ORMapEntry&, const ORMapEntry&) = default;
};

// One write. The TS client sends op-log entries (extra keys are ignored).
// `record` and `orRecord`/`orTag` keep absent apart from nil: an explicit
// `record: nil` means REMOVE (PROTOCOL.md §5.3).
struct ClientOp {
    std::optional<std::string> id;
    std::string map_name;
    std::string key;
    std::optional<OpType> op_type;
    Nullable<LWWRecordData> record;
    Nullable<ORMapRecordData> or_record;
    Nullable<std::string> or_tag;
    std::optional<WriteConcern> write_concern;
    std::optional<std::uint64_t> timeout;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("id", s.id);
        v("mapName", s.map_name);
        v("key", s.key);
        v("opType", s.op_type);
        v("record", s.record);
        v("orRecord", s.or_record);
        v("orTag", s.or_tag);
        v("writeConcern", s.write_concern);
        v("timeout", s.timeout);
    }
    friend bool operator==(const ClientOp&, const ClientOp&) = default;
};

struct OpResult {
    std::string op_id;
    bool success = false;
    WriteConcern achieved_level = WriteConcern::Applied;
    std::optional<std::string> error;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("opId", s.op_id);
        v("success", s.success);
        v("achievedLevel", s.achieved_level);
        v("error", s.error);
    }
    friend bool operator==(const OpResult&, const OpResult&) = default;
};

struct SearchOptions {
    std::optional<std::uint32_t> limit;
    std::optional<double> min_score;
    std::optional<StringMap<double>> boost;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("limit", s.limit);
        v("minScore", s.min_score);
        v("boost", s.boost);
    }
    friend bool operator==(const SearchOptions&, const SearchOptions&) = default;
};

// A standing full-text search: the body of SEARCH_SUB and of the cluster's
// CLUSTER_SEARCH_SUBSCRIBE.
struct SearchSubscription {
    std::string subscription_id;
    std::string map_name;
    std::string query;
    std::optional<SearchOptions> options;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("subscriptionId", s.subscription_id);
        v("mapName", s.map_name);
        v("query", s.query);
        v("options", s.options);
    }
    friend bool operator==(const SearchSubscription&, const SearchSubscription&) = default;
};

// PN counter state in both spellings (D6): the schema's {p, n} and the real TS
// client's {positive, negative}. Decoding accepts either; the server fills both.
struct PNCounterStateData {
    std::optional<StringMap<double>> p;
    std::optional<StringMap<double>> n;
    std::optional<StringMap<double>> positive;
    std::optional<StringMap<double>> negative;

    template <class Self, class V>
    static void fields(Self& s, V&& v) {
        v("p", s.p);
        v("n", s.n);
        v("positive", s.positive);
        v("negative", s.negative);
    }

    // The increments, whichever spelling carried them ({positive, negative} wins
    // when a peer sent both).
    const StringMap<double>& increments() const { return positive ? *positive : (p ? *p : empty()); }
    const StringMap<double>& decrements() const { return negative ? *negative : (n ? *n : empty()); }

    // Both spellings, so schema-following peers and the real client both read it.
    static PNCounterStateData both(StringMap<double> inc, StringMap<double> dec) {
        return PNCounterStateData{inc, dec, std::move(inc), std::move(dec)};
    }

    // The core counter state, from whichever spelling the peer used.
    PNCounterState to_state() const {
        PNCounterState state;
        for (const auto& [node, total] : increments()) state.positive[node] = total;
        for (const auto& [node, total] : decrements()) state.negative[node] = total;
        return state;
    }
    static PNCounterStateData from(const PNCounterState& state) {
        return both(StringMap<double>(state.positive.begin(), state.positive.end()),
                    StringMap<double>(state.negative.begin(), state.negative.end()));
    }
    friend bool operator==(const PNCounterStateData&, const PNCounterStateData&) = default;

private:
    static const StringMap<double>& empty() {
        static const StringMap<double> none;
        return none;
    }
};

}  // namespace protocol
TOPGUN_END_NAMESPACE
