#include "metrics.hpp"

#include "node.hpp"
#include "storage/write_behind.hpp"

#include <fmt/format.h>

#include <span>

namespace topgun::server {
namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, std::string_view name, double value, std::string_view labels = {}) {
    out += labels.empty() ? fmt::format("{} {}\n", name, value) : fmt::format("{}{{{}}} {}\n", name, labels, value);
}

// Cumulative buckets in seconds from per-bucket counts over millisecond bounds.
void histogram(std::string& out, std::string_view name, std::string_view help, std::span<const double> bounds_ms,
               std::span<const std::uint64_t> cumulative, std::uint64_t count, double sum_seconds) {
    family(out, name, "histogram", help);
    for (std::size_t i = 0; i < bounds_ms.size(); ++i) {
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_ms[i] / 1000, cumulative[i]);
    }
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count, name, sum_seconds, name, count);
}

}  // namespace

std::string render_metrics(Node& node, const DataCounts& data) {
    NodeMetrics& m = node.metrics();
    const auto read = [](const auto& counter) { return static_cast<double>(counter.load(std::memory_order_relaxed)); };
    std::string out;

    family(out, "topgun_connections_active", "gauge", "Open WebSocket connections.");
    sample(out, "topgun_connections_active", read(m.connections_active));
    family(out, "topgun_connections_total", "counter", "WebSocket connections accepted since start.");
    sample(out, "topgun_connections_total", read(m.connections_total));

    family(out, "topgun_ops_total", "counter", "Write operations handled by the shards, by type.");
    static constexpr std::array<std::string_view, 4> kTypes = {"PUT", "REMOVE", "OR_ADD", "OR_REMOVE"};
    for (std::size_t i = 0; i < kTypes.size(); ++i) {
        sample(out, "topgun_ops_total", read(m.ops_by_type[i]), fmt::format("type=\"{}\"", kTypes[i]));
    }
    family(out, "topgun_ops_applied_total", "counter", "Write operations applied.");
    sample(out, "topgun_ops_applied_total", read(m.ops_applied));
    family(out, "topgun_ops_rejected_total", "counter", "Write operations answered with OP_REJECTED.");
    sample(out, "topgun_ops_rejected_total", read(m.ops_rejected));
    family(out, "topgun_writes_in_flight", "gauge", "Write batches accepted and not yet acknowledged.");
    sample(out, "topgun_writes_in_flight", read(m.writes_in_flight));

    std::array<std::uint64_t, LatencyHistogram::kBoundsMs.size()> cumulative{};
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < cumulative.size(); ++i) cumulative[i] = running += m.write_latency.buckets[i].load();
    const std::uint64_t writes = running + m.write_latency.buckets.back().load();
    histogram(out, "topgun_write_latency_seconds", "A write batch from arrival to its OP_ACK (after the storage commit for PERSISTED).",
              LatencyHistogram::kBoundsMs, cumulative, writes, static_cast<double>(m.write_latency.sum_us.load()) / 1e6);

    family(out, "topgun_frames_rejected_total", "counter", "Inbound frames refused, by reason.");
    sample(out, "topgun_frames_rejected_total", read(m.frames_malformed), "reason=\"malformed\"");
    sample(out, "topgun_frames_rejected_total", read(m.frames_rate_limited), "reason=\"rate_limited\"");
    sample(out, "topgun_frames_rejected_total", read(m.writes_shed), "reason=\"storage_backlog\"");
    family(out, "topgun_slow_consumers_dropped_total", "counter", "Connections closed because they read too slowly.");
    sample(out, "topgun_slow_consumers_dropped_total", read(m.slow_consumers_dropped));

    family(out, "topgun_maps", "gauge", "Maps held (LWW and OR).");
    sample(out, "topgun_maps", static_cast<double>(data.maps));
    family(out, "topgun_records", "gauge", "Records held: LWW records (tombstones included) and OR records.");
    sample(out, "topgun_records", static_cast<double>(data.records));

    if (storage::WriteBehind* wb = node.persistence()) {
        const storage::WriteBehind::Stats s = wb->stats();
        family(out, "topgun_storage_pending_mutations", "gauge", "Mutations waiting for the storage commit.");
        sample(out, "topgun_storage_pending_mutations", static_cast<double>(wb->pending()));
        family(out, "topgun_storage_commit_failures_total", "counter", "Failed storage commit attempts.");
        sample(out, "topgun_storage_commit_failures_total", static_cast<double>(s.failures));
        histogram(out, "topgun_storage_commit_seconds", "Storage transaction commit time.", storage::WriteBehind::kLatencyBoundsMs,
                  s.commit_latency_le, s.commits, s.commit_latency_sum_ms / 1000);
    }
    return out;
}

}  // namespace topgun::server
