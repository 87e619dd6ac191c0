// One realistic sample of every message kind (and of both HTTP sync bodies),
// built as typed structs and encoded by our codec: the source of the golden
// fixtures the CLI generates.
#pragma once

#include <topgun/value.hpp>

#include <string>
#include <vector>

namespace topgun::golden {

struct GoldenSample {
    std::string name;  // the message's type string, or HTTP_SYNC_REQUEST / HTTP_SYNC_RESPONSE
    topgun::Bytes bytes;
};

// 92 samples: the 90 message kinds in PROTOCOL.md §3 order, then the two HTTP sync bodies.
std::vector<GoldenSample> golden_samples();

}  // namespace topgun::golden
