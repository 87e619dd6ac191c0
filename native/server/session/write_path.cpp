#include "session/write_path.hpp"

#include "node.hpp"
#include "service/shard_queries.hpp"
#include "storage/write_behind.hpp"

#include <topgun/protocol/codec.hpp>

#include <algorithm>

namespace topgun::server {

using namespace topgun::protocol;

std::uint64_t wall_millis() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

void deliver_events(Node& node, const std::vector<WriteOutcome::MapEvents>& events, std::uint64_t exclude) {
    if (!node.has_holders()) return;
    for (const WriteOutcome::MapEvents& m : events) node.deliver(Channel::MapHolders, m.map_name, {make_frame(m.batch.frame())}, exclude);
}

namespace {

// Applies one shard's part of a write on that shard. A write whose origin has
// gone (a closed connection) still applies; only its answer is dropped.
void apply_part(Node& node, std::size_t owner, std::vector<ClientOp> ops, std::shared_ptr<PendingWrite> w, WriteOrigin origin) {
    WriteOutcome out;
    out.collect_events = node.has_holders();
    out.collect_mutations = node.durable();
    out.collect_journal = node.journal().enabled();
    out.policies = &node.access();
    out.caller = origin.caller.get();
    ShardQueries& queries = node.state(owner).queries();
    queries.set_writer(origin.connection);
    apply_ops(node.state(owner), ops, out);
    queries.set_writer(0);
    node.journal().append(std::move(out.journal));
    node.metrics().ops_applied.fetch_add(ops.size() - out.rejected.size(), std::memory_order_relaxed);
    for (std::size_t k = 0; k < out.by_kind.size(); ++k) {
        node.metrics().ops_by_type[k].fetch_add(out.by_kind[k], std::memory_order_relaxed);
    }
    deliver_events(node, out.events, origin.connection);
    const std::size_t home = origin.home;
    bool persisted_now = true;
    if (storage::WriteBehind* wb = node.persistence(); wb != nullptr && !out.mutations.empty()) {
        if (w->want_persisted) {
            persisted_now = false;
            wb->submit(std::move(out.mutations), [&node, home, w](bool ok) {
                node.shards()[home].post([w, ok] {
                    ++w->persisted;
                    if (!ok) w->persist_failed = true;
                    w->progress(*w);
                });
            });
        } else {
            wb->submit(std::move(out.mutations));
        }
    }
    auto finish = [w, persisted_now, rejected = std::move(out.rejected)]() mutable {
        ++w->applied;
        if (persisted_now) ++w->persisted;
        for (auto& r : rejected) w->rejected.push_back(std::move(r));
        w->progress(*w);
    };
    if (owner == home) {
        finish();
    } else {
        node.shards()[home].post(std::move(finish));
    }
}

}  // namespace

bool storage_backlogged(Node& node) {
    const storage::WriteBehind* wb = node.persistence();
    return wb != nullptr && wb->pending() >= node.config().max_pending_mutations;
}

std::shared_ptr<PendingWrite> submit_write(Node& node, WriteOrigin origin, std::vector<ClientOp> ops,
                                           std::optional<WriteConcern> requested, std::function<void(PendingWrite&)> progress) {
    auto w = std::make_shared<PendingWrite>();
    w->progress = std::move(progress);
    w->last_id = ops.empty() || !ops.back().id ? "unknown" : *ops.back().id;
    for (const ClientOp& op : ops) {
        if (op.write_concern) requested = std::max(requested.value_or(*op.write_concern), *op.write_concern);
    }
    const WriteConcern level = requested.value_or(node.config().default_persisted ? WriteConcern::Persisted : WriteConcern::Applied);
    w->want_persisted = level == WriteConcern::Persisted && node.durable();
    w->report_results = requested.has_value();

    const std::size_t shard_count = node.shards().size();
    std::vector<std::vector<ClientOp>> parts(shard_count);
    const std::uint64_t now = wall_millis();
    for (ClientOp& op : ops) {
        if (w->report_results) w->op_ids.push_back(op.id.value_or(""));
        if (auto rejection = validate_op(op, now, node.config().max_drift_ms)) {
            w->rejected.push_back(std::move(*rejection));
            continue;
        }
        parts[node.shards().owner_of(op.key)].push_back(std::move(op));
    }
    for (const auto& p : parts) w->parts += p.empty() ? 0 : 1;
    node.metrics().writes_in_flight.fetch_add(1, std::memory_order_relaxed);

    for (std::size_t owner = 0; owner < shard_count; ++owner) {
        if (parts[owner].empty()) continue;
        if (owner == origin.home) {
            apply_part(node, owner, std::move(parts[owner]), w, origin);
        } else {
            node.shards()[owner].post([&node, owner, ops = std::move(parts[owner]), w, origin]() mutable {
                apply_part(node, owner, std::move(ops), w, origin);
            });
        }
    }
    return w;
}

WriteAnswer answer_write(Node& node, const PendingWrite& w) {
    node.metrics().writes_in_flight.fetch_sub(1, std::memory_order_relaxed);
    node.metrics().ops_rejected.fetch_add(w.rejected.size(), std::memory_order_relaxed);
    WriteAnswer out;
    out.rejected = w.rejected;
    out.persist_failed = w.persist_failed;
    out.ack.last_id = w.last_id;
    const WriteConcern achieved = w.want_persisted && !w.persist_failed ? WriteConcern::Persisted : WriteConcern::Applied;
    out.ack.achieved_level = achieved;
    if (w.report_results) {
        std::vector<OpResult> results;
        for (const std::string& id : w.op_ids) {
            const auto rejected = std::find_if(w.rejected.begin(), w.rejected.end(), [&](const OpRejection& r) { return r.op_id == id; });
            if (rejected == w.rejected.end()) {
                results.push_back(OpResult{id, true, achieved, {}});
            } else {
                results.push_back(OpResult{id, false, WriteConcern::FireAndForget, rejected->reason});
            }
        }
        out.ack.results = std::move(results);
    }
    node.metrics().write_latency.observe(std::chrono::steady_clock::now() - w.arrived);
    return out;
}

}  // namespace topgun::server
