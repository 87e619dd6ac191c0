// Golden wire fixtures: a pair NAME.json + NAME.msgpack per message, in the
// reference fixtures' conventions (JSON.stringify of the object msgpackr packed).
#pragma once

#include <topgun/value.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace topgun::golden {

// The JSON form the reference generator writes for a decoded MsgPack value:
// maps keep their key order, binaries become Node's Buffer JSON
// ({"type":"Buffer","data":[...]}), whole-valued floats become integers.
nlohmann::ordered_json to_json(const Value& v);

struct Outcome {
    std::string name;
    bool passed = false;
    std::string detail;  // why it failed, or what was checked
};

// Verifies one pair: the bytes decode, equal the JSON, decode as their typed
// message (or HTTP sync body), and re-encode to the same bytes.
Outcome verify_pair(const std::filesystem::path& msgpack_file, const std::filesystem::path& json_file);

// Verifies every *.msgpack in `dir` with its *.json twin; sorted by name.
std::vector<Outcome> verify_dir(const std::filesystem::path& dir);

// Message kinds that no passing outcome covers.
std::vector<std::string> kinds_without_fixture(const std::vector<Outcome>& outcomes);

// Writes every sample of golden_samples() into `dir` as NAME.json + NAME.msgpack.
// Returns how many pairs were written.
std::size_t generate_dir(const std::filesystem::path& dir);

}  // namespace topgun::golden
