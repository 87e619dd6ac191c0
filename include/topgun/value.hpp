// The dynamic value shared by user data and MsgPack: nil, bool, signed and
// unsigned integers, double, string, binary, array and string-keyed map.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/short_string.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE

using Bytes = std::vector<std::uint8_t>;

// A value is 16 bytes: a type tag and an 8-byte payload; strings, binaries and
// containers live on the heap. Records store one per entry, so the size matters
// for memory per record.
class Value {
public:
    // The kinds kept on the heap come last (release() relies on it).
    enum class Type : std::uint8_t { Nil, Bool, Int, UInt, Double, String, Binary, Array, Map };

    using Array = std::vector<Value>;
    using Member = std::pair<std::string, Value>;
    // Members keep insertion order, as JS objects and msgpackr do, so a value
    // re-encodes to the bytes it was decoded from. Keys are unique.
    using Map = std::vector<Member>;

    Value() noexcept = default;
    Value(std::nullptr_t) noexcept {}
    Value(bool b) noexcept : type_(Type::Bool) { data_.b = b; }
    template <std::integral I>
        requires(!std::same_as<I, bool>)
    Value(I i) noexcept {
        if constexpr (std::is_signed_v<I>) {
            type_ = Type::Int;
            data_.i = i;
        } else if (static_cast<std::uint64_t>(i) <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            // Integers are Int whenever they fit, so equal numbers have one representation.
            type_ = Type::Int;
            data_.i = static_cast<std::int64_t>(i);
        } else {
            type_ = Type::UInt;
            data_.u = i;
        }
    }
    Value(double d) noexcept : type_(Type::Double) { data_.d = d; }
    Value(float f) noexcept : Value(static_cast<double>(f)) {}
    Value(std::string s) : type_(Type::String) { data_.s = new std::string(std::move(s)); }
    Value(std::string_view s) : Value(std::string(s)) {}
    Value(const char* s) : Value(std::string(s)) {}
    Value(Bytes b) : type_(Type::Binary) { data_.bin = new Bytes(std::move(b)); }
    Value(Array a) : type_(Type::Array) { data_.arr = new Array(std::move(a)); }
    Value(Map m) : type_(Type::Map) { data_.map = new Map(std::move(m)); }

    static Value array() { return Value(Array{}); }
    static Value map() { return Value(Map{}); }

    Value(const Value& other) { copy_from(other); }
    Value(Value&& other) noexcept : type_(other.type_), data_(other.data_) { other.type_ = Type::Nil; }
    Value& operator=(const Value& other) {
        if (this != &other) {
            Value tmp(other);
            swap(tmp);
        }
        return *this;
    }
    Value& operator=(Value&& other) noexcept {
        if (this != &other) {
            release();
            type_ = other.type_;
            data_ = other.data_;
            other.type_ = Type::Nil;
        }
        return *this;
    }
    ~Value() { release(); }

    void swap(Value& other) noexcept {
        std::swap(type_, other.type_);
        std::swap(data_, other.data_);
    }

    Type type() const noexcept { return type_; }
    bool is_nil() const noexcept { return type_ == Type::Nil; }
    bool is_bool() const noexcept { return type_ == Type::Bool; }
    bool is_integer() const noexcept { return type_ == Type::Int || type_ == Type::UInt; }
    bool is_number() const noexcept { return is_integer() || type_ == Type::Double; }
    bool is_string() const noexcept { return type_ == Type::String; }
    bool is_binary() const noexcept { return type_ == Type::Binary; }
    bool is_array() const noexcept { return type_ == Type::Array; }
    bool is_map() const noexcept { return type_ == Type::Map; }

    // Accessors require the matching type (checked by the caller).
    bool as_bool() const noexcept { return data_.b; }
    std::int64_t as_int() const noexcept { return data_.i; }
    std::uint64_t as_uint() const noexcept { return data_.u; }
    double as_double() const noexcept { return data_.d; }
    // Any number as a double (integers may round).
    double to_double() const noexcept {
        switch (type_) {
            case Type::Int: return static_cast<double>(data_.i);
            case Type::UInt: return static_cast<double>(data_.u);
            case Type::Double: return data_.d;
            default: return std::numeric_limits<double>::quiet_NaN();
        }
    }
    const std::string& as_string() const noexcept { return *data_.s; }
    std::string& as_string() noexcept { return *data_.s; }
    const Bytes& as_binary() const noexcept { return *data_.bin; }
    Bytes& as_binary() noexcept { return *data_.bin; }
    const Array& as_array() const noexcept { return *data_.arr; }
    Array& as_array() noexcept { return *data_.arr; }
    const Map& as_map() const noexcept { return *data_.map; }
    Map& as_map() noexcept { return *data_.map; }

    // Map member lookup; nullptr when this is not a map or the key is absent.
    const Value* find(std::string_view key) const noexcept {
        if (type_ != Type::Map) return nullptr;
        for (const auto& [k, v] : *data_.map) {
            if (detail::same_short_string(k, key)) return &v;
        }
        return nullptr;
    }
    Value* find(std::string_view key) noexcept {
        return const_cast<Value*>(static_cast<const Value*>(this)->find(key));
    }

    // Sets a map member (replacing an existing one); a nil value becomes a map first.
    Value& set(std::string_view key, Value v) {
        if (type_ == Type::Nil) *this = map();
        if (Value* existing = find(key)) {
            *existing = std::move(v);
            return *existing;
        }
        return data_.map->emplace_back(std::string(key), std::move(v)).second;
    }

    // Appends to an array; a nil value becomes an array first.
    Value& push_back(Value v) {
        if (type_ == Type::Nil) *this = array();
        return data_.arr->emplace_back(std::move(v));
    }

    // Element count of arrays, maps, strings and binaries; 0 otherwise.
    std::size_t size() const noexcept {
        switch (type_) {
            case Type::String: return data_.s->size();
            case Type::Binary: return data_.bin->size();
            case Type::Array: return data_.arr->size();
            case Type::Map: return data_.map->size();
            default: return 0;
        }
    }

    // Structural equality with JS number semantics: 42 == 42.0, map member order
    // does not matter.
    friend bool operator==(const Value& a, const Value& b) noexcept { return compare(a, b) == 0; }

    // One deterministic total order over all values: by kind rank
    // (nil < bool < number < string < binary < array < map), numbers by numeric
    // value (NaN after every other number), strings and binaries bytewise,
    // arrays lexicographically, maps as their members sorted by key.
    static int compare(const Value& a, const Value& b) noexcept;

private:
    // Inline for the common case of nothing on the heap (moved-from, scalars).
    static_assert(Type::String > Type::Double && Type::Binary > Type::String && Type::Array > Type::String &&
                      Type::Map > Type::String,
                  "release() takes the kinds from String on as the ones on the heap");
    void release() noexcept {
        if (type_ >= Type::String) release_heap();
    }
    void release_heap() noexcept {
        switch (type_) {
            case Type::String: delete data_.s; break;
            case Type::Binary: delete data_.bin; break;
            case Type::Array: delete data_.arr; break;
            case Type::Map: delete data_.map; break;
            default: break;
        }
        type_ = Type::Nil;
    }
    void copy_from(const Value& other) {
        type_ = other.type_;
        switch (type_) {
            case Type::String: data_.s = new std::string(*other.data_.s); break;
            case Type::Binary: data_.bin = new Bytes(*other.data_.bin); break;
            case Type::Array: data_.arr = new Array(*other.data_.arr); break;
            case Type::Map: data_.map = new Map(*other.data_.map); break;
            default: data_ = other.data_; break;
        }
    }

    Type type_ = Type::Nil;
    union Data {
        bool b;
        std::int64_t i;
        std::uint64_t u;
        double d;
        std::string* s;
        Bytes* bin;
        Array* arr;
        Map* map;
    } data_{};
};

static_assert(sizeof(Value) == 16);

namespace detail {

inline int rank(Value::Type t) noexcept {
    switch (t) {
        case Value::Type::Nil: return 0;
        case Value::Type::Bool: return 1;
        case Value::Type::Int:
        case Value::Type::UInt:
        case Value::Type::Double: return 2;
        case Value::Type::String: return 3;
        case Value::Type::Binary: return 4;
        case Value::Type::Array: return 5;
        case Value::Type::Map: return 6;
    }
    return 7;
}

template <class T>
int three_way(const T& a, const T& b) noexcept {
    return a < b ? -1 : (b < a ? 1 : 0);
}

// Compares an integer with a double exactly (no rounding of large integers).
inline int compare_int_double(std::int64_t i, double d) noexcept {
    if (std::isnan(d)) return -1;
    if (d >= 9223372036854775808.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    const double whole = std::floor(d);
    const auto di = static_cast<std::int64_t>(whole);
    if (i != di) return i < di ? -1 : 1;
    return whole < d ? -1 : 0;
}

inline int compare_uint_double(std::uint64_t u, double d) noexcept {
    if (std::isnan(d)) return -1;
    if (d >= 18446744073709551616.0) return -1;
    if (d < 0) return 1;
    const double whole = std::floor(d);
    const auto du = static_cast<std::uint64_t>(whole);
    if (u != du) return u < du ? -1 : 1;
    return whole < d ? -1 : 0;
}

inline int compare_numbers(const Value& a, const Value& b) noexcept {
    using T = Value::Type;
    const T ta = a.type(), tb = b.type();
    if (ta == T::Double && tb == T::Double) {
        const double x = a.as_double(), y = b.as_double();
        if (std::isnan(x) || std::isnan(y)) return three_way(std::isnan(x), std::isnan(y));
        return three_way(x, y);
    }
    if (ta == T::Double) return -compare_numbers(b, a);
    // a is an integer from here on.
    if (tb == T::Double) {
        return ta == T::Int ? compare_int_double(a.as_int(), b.as_double())
                            : compare_uint_double(a.as_uint(), b.as_double());
    }
    if (ta == T::Int && tb == T::Int) return three_way(a.as_int(), b.as_int());
    if (ta == T::UInt && tb == T::UInt) return three_way(a.as_uint(), b.as_uint());
    // Int vs UInt: a UInt is always above INT64_MAX.
    return ta == T::Int ? -1 : 1;
}

inline std::vector<const Value::Member*> sorted_members(const Value::Map& m) {
    std::vector<const Value::Member*> out;
    out.reserve(m.size());
    for (const auto& member : m) out.push_back(&member);
    std::sort(out.begin(), out.end(), [](const auto* x, const auto* y) { return x->first < y->first; });
    return out;
}

}  // namespace detail

inline int Value::compare(const Value& a, const Value& b) noexcept {
    const int ra = detail::rank(a.type_), rb = detail::rank(b.type_);
    if (ra != rb) return ra < rb ? -1 : 1;
    switch (a.type_) {
        case Type::Nil: return 0;
        case Type::Bool: return detail::three_way(a.data_.b, b.data_.b);
        case Type::Int:
        case Type::UInt:
        case Type::Double: return detail::compare_numbers(a, b);
        case Type::String: {
            const int c = a.data_.s->compare(*b.data_.s);
            return c < 0 ? -1 : (c > 0 ? 1 : 0);
        }
        case Type::Binary: return detail::three_way(*a.data_.bin, *b.data_.bin);
        case Type::Array: {
            const Array& x = *a.data_.arr;
            const Array& y = *b.data_.arr;
            const std::size_t n = std::min(x.size(), y.size());
            for (std::size_t i = 0; i < n; ++i) {
                if (const int c = compare(x[i], y[i])) return c;
            }
            return detail::three_way(x.size(), y.size());
        }
        case Type::Map: {
            const auto x = detail::sorted_members(*a.data_.map);
            const auto y = detail::sorted_members(*b.data_.map);
            const std::size_t n = std::min(x.size(), y.size());
            for (std::size_t i = 0; i < n; ++i) {
                if (x[i]->first != y[i]->first) return x[i]->first < y[i]->first ? -1 : 1;
                if (const int c = compare(x[i]->second, y[i]->second)) return c;
            }
            return detail::three_way(x.size(), y.size());
        }
    }
    return 0;
}

TOPGUN_END_NAMESPACE
