// The OR-map entry hash of the reference TS client (hashORMapEntry, PROTOCOL.md
// §6.3 definition 1), byte for byte: FNV-1a over
//   "key:<key>" + for each record, sorted by tag: "|<tag>:<valueText>:<millis>:<counter>:<nodeId>[:ttl=<ttl>]"
// where valueText is the client's stringifyValue(). Its quirks are reproduced on
// purpose, since any difference changes the hash: strings are unquoted at the top
// level, and objects go through JSON.stringify(value, Object.keys(value).sort()),
// whose key array is a property allow-list applied at every depth.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/js_text.hpp>
#include <topgun/hash.hpp>
#include <topgun/hlc.hpp>
#include <topgun/value.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace detail {

// The replacer key list of JSON.stringify(value, Object.keys(value).sort()): a
// member of any object, at any depth, is emitted only if its key is listed. For
// a top-level array or binary the list is the index strings "0".."n-1"; kept as
// a count so a large array needs no strings.
class JsonAllowList {
public:
    static JsonAllowList indices(std::size_t count) noexcept {
        JsonAllowList a;
        a.count_ = count;
        return a;
    }
    // `sorted` must be in UTF-16 order (what Array.prototype.sort gives).
    static JsonAllowList keys(std::vector<std::string_view> sorted) noexcept {
        JsonAllowList a;
        a.is_index_list_ = false;
        a.keys_ = std::move(sorted);
        return a;
    }

    bool allows(std::string_view key) const noexcept {
        if (is_index_list_) {
            const auto index = canonical_index(key);
            return index && *index < count_;
        }
        return std::binary_search(keys_.begin(), keys_.end(), key, Utf16Less{});
    }
    bool is_index_list() const noexcept { return is_index_list_; }
    std::size_t index_count() const noexcept { return count_; }
    const std::vector<std::string_view>& key_list() const noexcept { return keys_; }

    // The array index a property key names: decimal digits without a leading zero
    // (what JS accepts as an integer index; "01" or "1e3" are ordinary keys).
    static std::optional<std::size_t> canonical_index(std::string_view key) noexcept {
        if (key.empty() || key.size() > 15 || (key.size() > 1 && key.front() == '0')) return std::nullopt;
        std::size_t n = 0;
        for (char c : key) {
            if (c < '0' || c > '9') return std::nullopt;
            n = n * 10 + static_cast<std::size_t>(c - '0');
        }
        return n;
    }

private:
    JsonAllowList() = default;

    bool is_index_list_ = true;
    std::size_t count_ = 0;
    std::vector<std::string_view> keys_;
};

// Visits the decimal strings of 0..limit-1 in string order ("0","1","10","11",...,"2"):
// the order of Object.keys(...).sort() over array indices, without building them.
template <class F>
void for_each_index_in_string_order(std::size_t limit, F&& f) {
    if (limit == 0) return;
    f(std::size_t{0});
    // Depth-first over digit prefixes; at most 20 levels deep.
    auto visit = [&](auto& self, std::size_t n) -> void {
        f(n);
        for (std::size_t d = 0; d < 10; ++d) {
            if (n > (SIZE_MAX - d) / 10) return;
            const std::size_t child = n * 10 + d;
            if (child >= limit) return;
            self(self, child);
        }
    };
    for (std::size_t first = 1; first < 10 && first < limit; ++first) visit(visit, first);
}

inline void append_json_value(std::string& out, const Value& v, const JsonAllowList& allow);

inline void append_json_member_key(std::string& out, bool& first, std::string_view key) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, key);
    out += ':';
}

// A binary is a Uint8Array in the TS client: not an array to JSON.stringify but an
// object whose integer-indexed elements, and the numeric properties it inherits,
// are read through the allow-list. (Its inherited "buffer" object is not
// modelled: what it prints depends on the JS engine and on whether the array is a
// view into a larger buffer. "byteOffset" is assumed 0 for the same reason.)
inline void append_json_binary(std::string& out, const Bytes& bytes, const JsonAllowList& allow) {
    out += '{';
    bool first = true;
    auto emit = [&](std::string_view key, std::size_t number) {
        append_json_member_key(out, first, key);
        append_js_number(out, number);
    };
    if (allow.is_index_list()) {
        const std::size_t limit = std::min(allow.index_count(), bytes.size());
        for_each_index_in_string_order(limit, [&](std::size_t i) {
            char buf[24];
            const auto r = std::to_chars(buf, buf + sizeof buf, i);
            emit(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)), bytes[i]);
        });
    } else {
        for (std::string_view key : allow.key_list()) {
            if (const auto index = JsonAllowList::canonical_index(key)) {
                if (*index < bytes.size()) emit(key, bytes[*index]);
            } else if (key == "length" || key == "byteLength") {
                emit(key, bytes.size());
            } else if (key == "byteOffset") {
                emit(key, 0);
            } else if (key == "BYTES_PER_ELEMENT") {
                emit(key, 1);
            }
        }
    }
    out += '}';
}

// SerializeJSONProperty of one value nested in the top-level one.
inline void append_json_value(std::string& out, const Value& v, const JsonAllowList& allow) {
    switch (v.type()) {
        case Value::Type::Nil: out += "null"; break;
        case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; break;
        case Value::Type::Int: append_js_number(out, v.as_int()); break;
        case Value::Type::UInt: append_js_number(out, v.as_uint()); break;
        case Value::Type::Double:
            // JSON has no NaN or Infinity: JSON.stringify writes null for them.
            if (std::isfinite(v.as_double())) {
                append_js_number(out, v.as_double());
            } else {
                out += "null";
            }
            break;
        case Value::Type::String: append_json_string(out, v.as_string()); break;
        case Value::Type::Binary: append_json_binary(out, v.as_binary(), allow); break;
        case Value::Type::Array: {
            // Arrays ignore the allow-list: every element is written.
            out += '[';
            bool first = true;
            for (const Value& element : v.as_array()) {
                if (!first) out += ',';
                first = false;
                append_json_value(out, element, allow);
            }
            out += ']';
            break;
        }
        case Value::Type::Map: {
            // Members are written in allow-list order, which is sorted, so: the
            // allowed members sorted by key.
            std::vector<const Value::Member*> members;
            members.reserve(v.size());
            for (const auto& member : v.as_map()) {
                if (allow.allows(member.first)) members.push_back(&member);
            }
            std::sort(members.begin(), members.end(),
                      [](const auto* a, const auto* b) { return utf16_compare(a->first, b->first) < 0; });
            out += '{';
            bool first = true;
            for (const auto* member : members) {
                append_json_member_key(out, first, member->first);
                append_json_value(out, member->second, allow);
            }
            out += '}';
            break;
        }
    }
}

}  // namespace detail

namespace merkle {

// The TS client's stringifyValue(): null -> "null", strings raw (unquoted),
// numbers and booleans as String() prints them (so NaN -> "NaN"), arrays, maps and
// binaries as JSON.stringify(v, Object.keys(v).sort()). (JS undefined, which
// prints "undefined", has no Value counterpart.)
inline void append_or_value_text(std::string& out, const Value& v) {
    switch (v.type()) {
        case Value::Type::Nil: out += "null"; break;
        case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; break;
        case Value::Type::Int: detail::append_js_number(out, v.as_int()); break;
        case Value::Type::UInt: detail::append_js_number(out, v.as_uint()); break;
        case Value::Type::Double: detail::append_js_number(out, v.as_double()); break;
        case Value::Type::String: out += v.as_string(); break;
        case Value::Type::Binary:
            detail::append_json_binary(out, v.as_binary(), detail::JsonAllowList::indices(v.size()));
            break;
        case Value::Type::Array:
            detail::append_json_value(out, v, detail::JsonAllowList::indices(v.size()));
            break;
        case Value::Type::Map: {
            std::vector<std::string_view> keys;
            keys.reserve(v.size());
            for (const auto& member : v.as_map()) keys.emplace_back(member.first);
            std::sort(keys.begin(), keys.end(), detail::Utf16Less{});
            detail::append_json_value(out, v, detail::JsonAllowList::keys(std::move(keys)));
            break;
        }
    }
}

inline std::string or_value_text(const Value& v) {
    std::string out;
    append_or_value_text(out, v);
    return out;
}

}  // namespace merkle

namespace detail {

// Collects text with the interface of Fnv1a, so one writer serves both the hash
// and the (debugging, testing) text form.
struct TextSink {
    std::string& out;
    TextSink& add_utf8(std::string_view s) {
        out += s;
        return *this;
    }
    TextSink& add_char(char c) {
        out += c;
        return *this;
    }
    TextSink& add_decimal(std::uint64_t n) {
        append_js_number(out, n);
        return *this;
    }
};

template <class T>
const auto& or_record_ref(const T& r) noexcept {
    if constexpr (std::is_pointer_v<T>) {
        return *r;
    } else {
        return r;
    }
}

// Records are anything with value, timestamp, tag and ttl_ms members (ORRecord),
// or pointers to such. Every chunk boundary here is next to an ASCII separator,
// so feeding chunks one by one decodes exactly like the joined JS string.
template <class Sink, class Range>
void write_or_entry(Sink& sink, std::string_view key, const Range& records) {
    sink.add_utf8("key:").add_utf8(key);
    std::string value_text;
    auto write = [&](const auto& r) {
        value_text.clear();
        merkle::append_or_value_text(value_text, r.value);
        sink.add_char('|').add_utf8(r.tag).add_char(':').add_utf8(value_text).add_char(':');
        sink.add_decimal(r.timestamp.millis).add_char(':').add_decimal(r.timestamp.counter).add_char(':');
        sink.add_utf8(r.timestamp.node_id);
        // The TS client also writes ":ttl=null" for a null ttlMs; an optional
        // cannot hold that state, so only a present TTL is written.
        if (r.ttl_ms) sink.add_utf8(":ttl=").add_decimal(*r.ttl_ms);
    };
    auto tag_less = [](const auto& a, const auto& b) {
        return utf16_compare(or_record_ref(a).tag, or_record_ref(b).tag) < 0;
    };
    // Stores keep their records in tag order already; sort only when needed.
    if (std::is_sorted(std::begin(records), std::end(records), tag_less)) {
        for (const auto& r : records) write(or_record_ref(r));
        return;
    }
    using Record = std::remove_cvref_t<decltype(or_record_ref(*std::begin(records)))>;
    std::vector<const Record*> sorted;
    for (const auto& r : records) sorted.push_back(std::addressof(or_record_ref(r)));
    std::sort(sorted.begin(), sorted.end(), tag_less);
    for (const Record* r : sorted) write(*r);
}

}  // namespace detail

namespace merkle {

// The entry hash of one OR-map key over its stored records (tombstoned tags are
// not records; TTL-expired ones are, as in the TS client). Tags are sorted in
// JS default order, i.e. by UTF-16 code units.
template <class Range>
std::uint32_t or_entry_hash(std::string_view key, const Range& records) {
    Fnv1a h;
    detail::write_or_entry(h, key, records);
    return h.value();
}

// The string or_entry_hash() hashes (the parts joined with '|').
template <class Range>
std::string or_entry_text(std::string_view key, const Range& records) {
    std::string out;
    detail::TextSink sink{out};
    detail::write_or_entry(sink, key, records);
    return out;
}

}  // namespace merkle
TOPGUN_END_NAMESPACE
