// Generic MsgPack codec for the protocol's structs. A struct describes its wire
// fields once, in wire order:
//
//     struct LockRequest {
//         std::string request_id;
//         std::optional<std::uint64_t> ttl;
//         template <class Self, class V> static void fields(Self& s, V&& v) {
//             v("requestId", s.request_id);
//             v("ttl", s.ttl);
//         }
//     };
//
// and encode_struct/decode_struct derive both directions from it: maps decode
// straight into the struct (no intermediate tree), unknown keys are skipped,
// optional fields may be absent or nil, and encoding writes fields in the
// described order so our bytes equal msgpackr's for the same JS object.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/short_string.hpp>
#include <topgun/hlc.hpp>
#include <topgun/msgpack/reader.hpp>
#include <topgun/msgpack/writer.hpp>
#include <topgun/value.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace protocol {

// A field that distinguishes "absent" from "explicitly nil" (ClientOp.record:
// an explicit nil means remove; LWW records' ttlMs, which the Rust server
// always writes, as nil when unset).
template <class T>
struct Nullable {
    enum class State : std::uint8_t { Absent, Nil, Present };
    State state = State::Absent;
    T value{};

    Nullable() = default;
    Nullable(T v) : state(State::Present), value(std::move(v)) {}  // NOLINT: implicit by design
    static Nullable nil() {
        Nullable n;
        n.state = State::Nil;
        return n;
    }
    bool absent() const noexcept { return state == State::Absent; }
    bool is_nil() const noexcept { return state == State::Nil; }
    bool present() const noexcept { return state == State::Present; }
    const T* get() const noexcept { return present() ? &value : nullptr; }
    std::optional<T> to_optional() const { return present() ? std::optional<T>(value) : std::nullopt; }
    friend bool operator==(const Nullable&, const Nullable&) = default;
};

// Ordered string-keyed map (insertion order is wire order).
template <class T>
using StringMap = std::vector<std::pair<std::string, T>>;

// String enums: specialise EnumNames<E> with `static constexpr std::array names`
// listing the wire strings in enumerator order.
template <class E>
struct EnumNames;

template <class E>
constexpr std::string_view enum_name(E e) noexcept {
    return EnumNames<E>::names[static_cast<std::size_t>(e)];
}
template <class E>
constexpr std::optional<E> enum_from(std::string_view s) noexcept {
    const auto& names = EnumNames<E>::names;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (topgun::detail::same_short_string(names[i], s)) return static_cast<E>(i);
    }
    return std::nullopt;
}

namespace detail {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_nullable : std::false_type {};
template <class T>
struct is_nullable<Nullable<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class T>
struct is_string_map<std::vector<std::pair<std::string, T>>> : std::true_type {};

template <class T>
concept Described = requires(T& t) { T::fields(t, [](std::string_view, auto&) {}); };
// Types with their own wire form (for example a field accepting two shapes).
template <class T>
concept CustomCodec = requires(const T& c, T& m, msgpack::Writer& w, msgpack::Reader& r) {
    c.encode(w);
    { m.decode(r) } -> std::same_as<bool>;
};
template <class T>
concept StringEnum = std::is_enum_v<T> && requires { EnumNames<T>::names; };

// Whether a field may be left out of a map: such fields are skipped when empty
// on encode and not required on decode.
template <class T>
constexpr bool is_optional_field = is_optional<T>::value || is_nullable<T>::value;

template <class T>
bool present(const T& field) {
    if constexpr (is_optional<T>::value) {
        return field.has_value();
    } else if constexpr (is_nullable<T>::value) {
        return !field.absent();
    } else {
        return true;
    }
}

using topgun::detail::same_short_string;  // field names against member keys

// Reads a member key. A key that is not a string never names a field: it is
// skipped and reads as "" (which matches no field), so the caller skips its value.
inline bool read_member_key(msgpack::Reader& r, std::string_view& key) {
    if (r.peek() != msgpack::Kind::String) {
        key = {};
        return r.skip();
    }
    return r.read_string(key);
}

inline void prefix_path(msgpack::Reader& r, std::string_view segment) {
    std::string& path = r.error().path;
    if (path.empty() || path.front() == '[') {
        path.insert(0, segment);
    } else {
        path.insert(0, std::string(segment) + ".");
    }
}

}  // namespace detail

template <class T>
void encode_field(msgpack::Writer& w, const T& v);
template <class T>
bool decode_field(msgpack::Reader& r, T& out);

// Writes the present fields of a described struct as map members; returns how many.
template <detail::Described T>
std::size_t encode_members(msgpack::Writer& w, const T& v) {
    std::size_t count = 0;
    T::fields(v, [&](std::string_view name, const auto& field) {
        if (!detail::present(field)) return;
        w.string(name);
        encode_field(w, field);
        ++count;
    });
    return count;
}

// A described struct as a map (map16, count patched after the present fields).
template <detail::Described T>
void encode_struct(msgpack::Writer& w, const T& v) {
    const std::size_t at = w.begin_map();
    w.end_map(at, encode_members(w, v));
}

// Decodes the members of a map whose header was already read. Keys that name
// no field (such as a flat message's "type") are skipped. A struct describes at
// most 64 fields: `seen` is a bit set over them.
template <detail::Described T>
bool decode_members(msgpack::Reader& r, T& out, std::uint32_t count) {
    std::uint64_t seen = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::string_view key;
        if (!detail::read_member_key(r, key)) return false;
        bool matched = false;
        bool ok = true;
        std::size_t index = 0;
        T::fields(out, [&](std::string_view name, auto& field) {
            if (!matched && detail::same_short_string(name, key)) {
                matched = true;
                seen |= std::uint64_t{1} << index;
                ok = decode_field(r, field);
                if (!ok) detail::prefix_path(r, name);
            }
            ++index;
        });
        if (!ok) return false;
        if (!matched && !r.skip()) return false;
    }
    bool complete = true;
    std::size_t index = 0;
    T::fields(out, [&](std::string_view name, auto& field) {
        using F = std::remove_cvref_t<decltype(field)>;
        if (complete && !detail::is_optional_field<F> && !(seen & (std::uint64_t{1} << index))) {
            complete = false;
            r.fail(msgpack::Errc::MissingField);
            r.error().path = std::string(name);
        }
        ++index;
    });
    return complete;
}

template <detail::Described T>
bool decode_struct(msgpack::Reader& r, T& out) {
    std::uint32_t count = 0;
    if (!r.read_map_header(count) || !r.enter()) return false;
    if (!decode_members(r, out, count)) return false;
    r.leave();
    return true;
}

template <class T>
void encode_field(msgpack::Writer& w, const T& v) {
    if constexpr (detail::CustomCodec<T>) {
        v.encode(w);
    } else if constexpr (std::is_same_v<T, std::string>) {
        w.string(v);
    } else if constexpr (std::is_same_v<T, bool>) {
        w.boolean(v);
    } else if constexpr (std::is_same_v<T, double>) {
        w.number(v);
    } else if constexpr (std::is_integral_v<T>) {
        if constexpr (std::is_signed_v<T>) {
            w.number(static_cast<std::int64_t>(v));
        } else {
            w.number(static_cast<std::uint64_t>(v));
        }
    } else if constexpr (std::is_same_v<T, Value>) {
        w.value(v);
    } else if constexpr (std::is_same_v<T, Bytes>) {
        w.binary(v);
    } else if constexpr (std::is_same_v<T, Timestamp>) {
        const std::size_t at = w.begin_map();
        w.string("millis");
        w.number(v.millis);
        w.string("counter");
        w.number(v.counter);
        w.string("nodeId");
        w.string(v.node_id);
        w.end_map(at, 3);
    } else if constexpr (detail::StringEnum<T>) {
        w.string(enum_name(v));
    } else if constexpr (detail::is_optional<T>::value) {
        if (v) {
            encode_field(w, *v);
        } else {
            w.nil();
        }
    } else if constexpr (detail::is_nullable<T>::value) {
        if (v.present()) {
            encode_field(w, v.value);
        } else {
            w.nil();
        }
    } else if constexpr (detail::is_string_map<T>::value) {
        w.map_header(v.size());
        for (const auto& [key, item] : v) {
            w.string(key);
            encode_field(w, item);
        }
    } else if constexpr (detail::is_vector<T>::value) {
        w.array_header(v.size());
        for (const auto& item : v) encode_field(w, item);
    } else if constexpr (detail::Described<T>) {
        encode_struct(w, v);
    } else {
        static_assert(sizeof(T) == 0, "no wire encoding for this field type");
    }
}

template <class T>
bool decode_field(msgpack::Reader& r, T& out) {
    if constexpr (detail::CustomCodec<T>) {
        return out.decode(r);
    } else if constexpr (std::is_same_v<T, std::string>) {
        return r.read_string(out);
    } else if constexpr (std::is_same_v<T, bool>) {
        return r.read_bool(out);
    } else if constexpr (std::is_same_v<T, double>) {
        return r.read_double(out);
    } else if constexpr (std::is_same_v<T, std::uint32_t>) {
        return r.read_u32(out);
    } else if constexpr (std::is_same_v<T, std::uint64_t>) {
        return r.read_uint(out);
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
        return r.read_int(out);
    } else if constexpr (std::is_same_v<T, Value>) {
        return r.read_value(out);
    } else if constexpr (std::is_same_v<T, Bytes>) {
        std::span<const std::uint8_t> bytes;
        if (!r.read_binary(bytes)) return false;
        out.assign(bytes.begin(), bytes.end());
        return true;
    } else if constexpr (std::is_same_v<T, Timestamp>) {
        std::uint32_t count = 0;
        if (!r.read_map_header(count)) return false;
        bool millis = false, counter = false, node = false;
        for (std::uint32_t i = 0; i < count; ++i) {
            std::string_view key;
            if (!detail::read_member_key(r, key)) return false;
            constexpr std::string_view kNames[] = {"millis", "counter", "nodeId"};
            std::size_t field = 0;
            while (field < 3 && !detail::same_short_string(key, kNames[field])) ++field;
            bool ok = true;
            switch (field) {
                case 0: ok = millis = r.read_uint(out.millis); break;
                case 1: ok = counter = r.read_u32(out.counter); break;
                case 2: ok = node = r.read_string(out.node_id); break;
                default: ok = r.skip(); break;
            }
            if (!ok) {
                if (field < 3) detail::prefix_path(r, key);
                return false;
            }
        }
        if (!millis || !counter || !node) {
            r.fail(msgpack::Errc::MissingField);
            r.error().path = !millis ? "millis" : (!counter ? "counter" : "nodeId");
            return false;
        }
        return true;
    } else if constexpr (detail::StringEnum<T>) {
        std::string_view s;
        if (!r.read_string(s)) return false;
        const auto e = enum_from<T>(s);
        if (!e) return r.fail(msgpack::Errc::InvalidValue, "unknown value \"" + std::string(s) + "\"");
        out = *e;
        return true;
    } else if constexpr (detail::is_optional<T>::value) {
        if (r.skip_nil()) {
            out.reset();
            return true;
        }
        return decode_field(r, out.emplace());
    } else if constexpr (detail::is_nullable<T>::value) {
        if (r.skip_nil()) {
            out = T::nil();
            return true;
        }
        out.state = T::State::Present;
        return decode_field(r, out.value);
    } else if constexpr (detail::is_string_map<T>::value) {
        std::uint32_t count = 0;
        if (!r.read_map_header(count) || !r.enter()) return false;
        out.clear();
        out.reserve(count);
        for (std::uint32_t i = 0; i < count; ++i) {
            auto& [key, item] = out.emplace_back();
            if (!r.read_string(key)) return false;
            if (!decode_field(r, item)) {
                detail::prefix_path(r, key);
                return false;
            }
        }
        r.leave();
        return true;
    } else if constexpr (detail::is_vector<T>::value) {
        std::uint32_t count = 0;
        if (!r.read_array_header(count) || !r.enter()) return false;
        out.clear();
        out.reserve(count);
        for (std::uint32_t i = 0; i < count; ++i) {
            if (!decode_field(r, out.emplace_back())) {
                detail::prefix_path(r, "[" + std::to_string(i) + "]");
                return false;
            }
        }
        r.leave();
        return true;
    } else if constexpr (detail::Described<T>) {
        return decode_struct(r, out);
    } else {
        static_assert(sizeof(T) == 0, "no wire decoding for this field type");
    }
}

}  // namespace protocol
TOPGUN_END_NAMESPACE
