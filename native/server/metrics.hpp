// /metrics: the node's counters in the Prometheus text exposition format
// (version 0.0.4). Maps and records are counted on the shards by the caller
// and passed in; everything else is read from NodeMetrics and WriteBehind.
#pragma once

#include <cstddef>
#include <string>

namespace topgun::server {

class Node;

struct DataCounts {
    std::size_t maps = 0;
    std::size_t records = 0;  // stored LWW records (tombstones included) and OR records
};

std::string render_metrics(Node& node, const DataCounts& data);

}  // namespace topgun::server
