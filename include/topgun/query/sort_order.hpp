// The one total order over query rows (PROTOCOL.md §8.3). The reference sorts
// the initial page with one comparator and the live window and cursors with
// another (§15 item 27), so deltas could disagree with the page. Everything
// here (initial page, cursors, later the live window) uses this order:
//
//   For each sort key in turn, resolve the field (a dot path) in both values:
//   * nil and missing are equal and sort LAST, whatever the direction;
//   * otherwise by type class: numbers < strings < booleans < everything else;
//     numbers numerically across int/double (exactly, NaN after all numbers),
//     strings bytewise, false < true, the rest (binary, arrays, maps) by
//     Value::compare;
//   * "desc" reverses only this non-nil comparison.
//   Sorting on "_key" compares the record keys instead of a field.
//   Ties after all keys are broken by record key ascending (bytewise), so no
//   two rows are equal and pages are deterministic. No sort keys at all means
//   record key ascending.
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/query/field_path.hpp>
#include <topgun/value.hpp>

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

class SortOrder {
public:
    struct Key {
        FieldPath path;
        bool descending = false;
        bool record_key = false;  // "_key": the record key, not a field
    };

    // Record key ascending.
    SortOrder() = default;
    // Either wire form of Sort: the record form is already decoded into keys.
    explicit SortOrder(const protocol::Sort& sort) {
        keys_.reserve(sort.keys.size());
        for (const protocol::SortField& f : sort.keys) {
            keys_.push_back(Key{FieldPath(f.field), f.direction == protocol::SortDirection::Desc, f.field == "_key"});
        }
    }

    const std::vector<Key>& keys() const noexcept { return keys_; }
    std::size_t size() const noexcept { return keys_.size(); }

    // The value sort key `i` sees in `record`: nullptr for missing, nil and
    // "_key" keys (those compare the record keys).
    const Value* resolve(std::size_t i, const Value& record) const noexcept {
        const Key& k = keys_[i];
        if (k.record_key) return nullptr;
        return slot(k.path.resolve(record));
    }

    // A resolved field as a sort slot: nil and missing are both nullptr.
    static const Value* slot(const Value* field) noexcept { return field == nullptr || field->is_nil() ? nullptr : field; }

    // Ascending order of two non-nil values: type class, then value.
    static int compare_values(const Value& a, const Value& b) noexcept {
        const int ca = type_class(a), cb = type_class(b);
        if (ca != cb) return ca < cb ? -1 : 1;
        return Value::compare(a, b);
    }

    // Ascending order of two resolved slots, nullptr (nil/missing) last.
    static int compare_slots(const Value* a, const Value* b) noexcept {
        if (a == nullptr || b == nullptr) return a == b ? 0 : (a == nullptr ? 1 : -1);
        return compare_values(*a, *b);
    }

    // Rows given as their resolved slots (one per key, see resolve()) and record
    // key: <0, 0 (same key) or >0. Cursors compare with this against stored
    // slots, so it must not look at the record values themselves.
    int compare(std::span<const Value* const> a, std::string_view a_key, std::span<const Value* const> b,
                std::string_view b_key) const noexcept {
        for (std::size_t i = 0; i < keys_.size(); ++i) {
            const Key& k = keys_[i];
            int c = 0;
            if (k.record_key) {
                c = three_way(a_key.compare(b_key));
            } else if (a[i] == nullptr || b[i] == nullptr) {
                // Nil placement ignores the direction.
                if (a[i] != b[i]) return a[i] == nullptr ? 1 : -1;
            } else {
                c = compare_values(*a[i], *b[i]);
            }
            if (c != 0) return k.descending ? -c : c;
        }
        return three_way(a_key.compare(b_key));
    }

    // Two records directly (resolves on every call; for small inputs and tests).
    int compare_records(std::string_view a_key, const Value& a, std::string_view b_key, const Value& b) const {
        std::vector<const Value*> sa(keys_.size()), sb(keys_.size());
        for (std::size_t i = 0; i < keys_.size(); ++i) {
            sa[i] = resolve(i, a);
            sb[i] = resolve(i, b);
        }
        return compare(sa, a_key, sb, b_key);
    }

private:
    static int three_way(int c) noexcept { return c < 0 ? -1 : (c > 0 ? 1 : 0); }

    static int type_class(const Value& v) noexcept {
        if (v.is_number()) return 0;
        if (v.is_string()) return 1;
        if (v.is_bool()) return 2;
        return 3;
    }

    std::vector<Key> keys_;
};

}  // namespace query
TOPGUN_END_NAMESPACE
