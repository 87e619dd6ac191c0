// The exact MsgPack form of a Value in storage.
//
// The wire writer (msgpack::Writer::value) encodes numbers as msgpackr does for
// JS numbers: a whole double becomes an integer and a 40-bit integer a float64,
// so a value would come back from disk with another type. Storage keeps the type:
// integers always use MsgPack's integer formats, doubles always float64 (bit for
// bit, -0 and NaN payloads included), binaries stay binaries, and maps keep their
// member order. Everything else is the wire's encoding, so any MsgPack tool reads
// a stored blob, and msgpack::Reader decodes it back to an identical Value.
#pragma once

#include "storage/store.hpp"

#include <topgun/msgpack/writer.hpp>
#include <topgun/value.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace topgun::storage {

// Containers nested deeper than this are refused (as the protocol decoder does),
// so every stored value decodes again without unbounded recursion.
inline constexpr std::size_t kMaxValueDepth = 256;

// Appends the exact encoding of `v`; throws StoreError(Rejected) for a value
// nested deeper than kMaxValueDepth (the writer then holds a partial value).
void encode_value(msgpack::Writer& out, const Value& v);
Bytes encode_value(const Value& v);

// Whether `v` can be stored (nesting within kMaxValueDepth).
bool storable(const Value& v) noexcept;

// Decodes one value that must span the whole input; false with a message on failure.
bool decode_value(std::span<const std::uint8_t> bytes, Value& out, std::string& error);

// Identical type, bits and member order: the equality a round trip must keep
// (Value's own == says 1 == 1.0 and ignores member order).
bool identical(const Value& a, const Value& b) noexcept;

}  // namespace topgun::storage
