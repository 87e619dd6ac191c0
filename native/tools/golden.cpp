#include "golden.hpp"

#include "golden_samples.hpp"

#include <topgun/msgpack/reader.hpp>
#include <topgun/protocol/codec.hpp>
#include <topgun/protocol/http_sync.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

namespace topgun::golden {
namespace {

Bytes read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::filesystem::path& p, const void* data, std::size_t size) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Decodes as a typed message (or HTTP sync body), re-encodes; "" when the bytes
// come back identical, else what went wrong.
std::string typed_round_trip(const std::string& name, const Bytes& bytes) {
    Bytes again;
    msgpack::Error error;
    if (name == "HTTP_SYNC_REQUEST" || name == "HTTP_SYNC_RESPONSE") {
        if (name == "HTTP_SYNC_REQUEST") {
            protocol::HttpSyncRequest body;
            if (!protocol::decode_body(bytes, body, error)) return "typed decode failed: " + error.message();
            again = protocol::encode_body(body);
        } else {
            protocol::HttpSyncResponse body;
            if (!protocol::decode_body(bytes, body, error)) return "typed decode failed: " + error.message();
            again = protocol::encode_body(body);
        }
    } else {
        auto decoded = protocol::decode_message(bytes);
        if (!decoded) return "typed decode failed: " + decoded.error().message();
        again = protocol::encode_message(decoded.message());
    }
    if (again == bytes) return "";
    const auto at = std::mismatch(again.begin(), again.end(), bytes.begin(), bytes.end());
    return "re-encoded bytes differ at byte " + std::to_string(at.first - again.begin()) + " (" +
           std::to_string(again.size()) + " vs " + std::to_string(bytes.size()) + " bytes)";
}

}  // namespace

nlohmann::ordered_json to_json(const Value& v) {
    using J = nlohmann::ordered_json;
    switch (v.type()) {
        case Value::Type::Nil: return nullptr;
        case Value::Type::Bool: return v.as_bool();
        case Value::Type::Int: return v.as_int();
        case Value::Type::UInt: return v.as_uint();
        case Value::Type::Double: {
            const double d = v.as_double();
            // JS has one number type: 1700000000000 written as float64 is the integer.
            if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740992.0) {
                return d < 0 ? J(static_cast<std::int64_t>(d)) : J(static_cast<std::uint64_t>(d));
            }
            return d;
        }
        case Value::Type::String: return v.as_string();
        case Value::Type::Binary: {
            J out = J::object();
            out["type"] = "Buffer";
            out["data"] = J::array();
            for (std::uint8_t b : v.as_binary()) out["data"].push_back(b);
            return out;
        }
        case Value::Type::Array: {
            J out = J::array();
            for (const Value& item : v.as_array()) out.push_back(to_json(item));
            return out;
        }
        case Value::Type::Map: {
            J out = J::object();
            for (const auto& [key, item] : v.as_map()) out[key] = to_json(item);
            return out;
        }
    }
    return nullptr;
}

Outcome verify_pair(const std::filesystem::path& msgpack_file, const std::filesystem::path& json_file) {
    Outcome o{msgpack_file.stem().string(), false, ""};
    const Bytes bytes = read_file(msgpack_file);
    nlohmann::ordered_json expected;
    {
        std::ifstream in(json_file);
        if (!in) {
            o.detail = "missing " + json_file.filename().string();
            return o;
        }
        expected = nlohmann::ordered_json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (expected.is_discarded()) {
            o.detail = "invalid JSON in " + json_file.filename().string();
            return o;
        }
    }
    Value generic;
    msgpack::Error error;
    if (!msgpack::decode(bytes, generic, error)) {
        o.detail = "not MsgPack: " + error.message();
        return o;
    }
    if (to_json(generic) != expected) {
        o.detail = "MsgPack content differs from the JSON (same keys in the same order expected)";
        return o;
    }
    const std::string name = expected.contains("type") && expected["type"].is_string()
                                 ? expected["type"].get<std::string>()
                                 : o.name;
    if (std::string problem = typed_round_trip(name, bytes); !problem.empty()) {
        o.detail = problem;
        return o;
    }
    o.passed = true;
    o.detail = name;
    return o;
}

std::vector<Outcome> verify_dir(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() == ".msgpack") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<Outcome> out;
    for (const auto& f : files) {
        auto json = f;
        json.replace_extension(".json");
        out.push_back(verify_pair(f, json));
    }
    return out;
}

std::vector<std::string> kinds_without_fixture(const std::vector<Outcome>& outcomes) {
    std::vector<std::string> missing;
    for (std::string_view kind : protocol::message_type_names()) {
        const bool covered = std::any_of(outcomes.begin(), outcomes.end(),
                                         [&](const Outcome& o) { return o.passed && o.detail == kind; });
        if (!covered) missing.emplace_back(kind);
    }
    return missing;
}

std::size_t generate_dir(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    std::size_t written = 0;
    for (const GoldenSample& sample : golden_samples()) {
        Value generic;
        msgpack::Error error;
        if (!msgpack::decode(sample.bytes, generic, error)) continue;
        write_file(dir / (sample.name + ".msgpack"), sample.bytes.data(), sample.bytes.size());
        const std::string json = to_json(generic).dump(2);
        write_file(dir / (sample.name + ".json"), json.data(), json.size());
        ++written;
    }
    return written;
}

}  // namespace topgun::golden
