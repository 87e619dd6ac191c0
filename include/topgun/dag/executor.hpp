// The cooperative executor of a DAG of processors: sources, transforms and
// sinks joined by bounded queues (queue.hpp, ports.hpp, processor.hpp,
// graph.hpp; reusable processors in processors.hpp).
//
// Scheduling. No threads: the executor visits the processors in topological
// order, round after round, and activates each one that can make progress —
// one virtual call that moves a batch. step(budget) performs at most `budget`
// activations and returns, so a server worker can interleave many executors
// (or yield) between steps; run() steps until the graph stops. Visiting in
// topological order lets a batch travel the whole pipeline within one round.
//
// Backpressure. A processor with outputs is activated only when its outbox
// has room (the least free space among its consumers' queues), and it may push
// at most that much. A full queue therefore pauses its producer without any
// signal beyond the queue itself; when the consumer takes items, room appears
// and the producer is activated again. Memory stays bounded by the capacities.
// Pushing past the room fails the processor rather than losing or
// overwriting an item.
//
// Completion. When a processor finishes (complete() returned true) its
// outbound queues are closed; a processor whose inbound queues are all closed
// and empty has exhausted its inputs, and only then is complete() called, at
// every later activation until it returns true, so an aggregator or a top-k
// can emit any amount under backpressure. A source's inputs are exhausted from
// the start. The graph is Done when every processor has finished.
//
// Cancellation. cancel(), or a CancelToken set from anywhere (another thread
// included: it is an atomic flag), stops the graph at the next activation
// boundary: no processor is called again, and every unfinished one gets
// on_abort() with status Cancelled.
//
// Errors. A processor calls fail(message); after that activation the executor
// stops the graph, records the processor and message in outcome(), and calls
// on_abort() with status Failed on every unfinished processor (the sink learns
// which processor failed and why). An invalid graph gives status Invalid
// before anything runs. No exceptions on any of these paths.
//
// No progress. If a whole round activates nothing that moves an item or
// finishes, step() returns Blocked instead of spinning: with the processors
// of this library that cannot happen, but a processor waiting on something
// outside the graph may do it, and the caller decides when to step again.
//
// Why this design: query plans are small scatter/gather DAGs run many at a
// time by a few server threads (and single-threaded in WASM), so cooperative
// steps over batches give bounded latency per step and bounded memory with no
// locks; typed ring-buffer queues and one virtual call per batch keep the
// per-item cost at a few nanoseconds.
#pragma once

#include <topgun/config.hpp>
#include <topgun/dag/graph.hpp>
#include <topgun/dag/ports.hpp>
#include <topgun/dag/processor.hpp>
#include <topgun/dag/queue.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace dag {

// A shared cancellation flag: copies observe the same flag.
class CancelToken {
public:
    CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
    void cancel() noexcept { flag_->store(true, std::memory_order_relaxed); }
    bool cancelled() const noexcept { return flag_->load(std::memory_order_relaxed); }

private:
    std::shared_ptr<std::atomic<bool>> flag_;
};

struct ExecutorOptions {
    // At most this many items are taken from the inbox per activation (the
    // outbox room bounds what is pushed), so one activation is bounded work.
    std::size_t batch = 1024;
};

struct ExecutorStats {
    std::uint64_t activations = 0;  // calls into processors
    std::uint64_t rounds = 0;       // full visits of the graph
};

template <Item T>
class Executor {
public:
    // Validates the graph; an invalid one gives status Invalid and runs nothing.
    explicit Executor(Graph<T>&& graph, ExecutorOptions options = {}) : options_(options) {
        if (options_.batch == 0) options_.batch = 1;
        std::vector<NodeId> order;
        if (auto error = graph.check(order)) {
            status_ = Status::Invalid;
            outcome_.status = Status::Invalid;
            outcome_.message = "invalid graph: " + error->message;
            error_kind_ = error->kind;
            for (auto& node : graph.nodes_) {
                if (node.processor) invalid_.push_back(std::move(node.processor));
            }
            return;
        }
        const std::size_t n = graph.nodes_.size();
        std::vector<std::vector<Queue<T>*>> ins(n), outs(n);
        for (const auto& edge : graph.edges_) {
            queues_.push_back(std::make_unique<Queue<T>>(edge.capacity));
            outs[edge.from].push_back(queues_.back().get());
            ins[edge.to].push_back(queues_.back().get());
        }
        nodes_.reserve(n);
        for (NodeId id = 0; id < n; ++id) {
            auto& g = graph.nodes_[id];
            nodes_.push_back(Node{std::move(g.name), std::move(g.processor), Inbox<T>(std::move(ins[id])),
                                  Outbox<T>(std::move(outs[id]), std::move(g.fan_out)), false});
        }
        order_ = std::move(order);
    }

    Executor(Executor&&) noexcept = default;
    Executor& operator=(Executor&&) noexcept = default;

    // Steps until the graph stops: Done, Cancelled, Failed, Invalid or Blocked.
    Status run() {
        while (step(std::numeric_limits<std::size_t>::max()) == Status::Running) {
        }
        return status_;
    }

    // At most `budget` activations; Running if there is more to do.
    Status step(std::size_t budget) {
        if (is_terminal(status_)) return status_;
        status_ = outcome_.status = Status::Running;
        for (std::size_t used = 0; used < budget;) {
            if (cancel_requested_ || (token_ && token_->cancelled())) {
                abort(Status::Cancelled, std::nullopt, "cancelled");
                return status_;
            }
            const NodeId id = order_[cursor_];
            if (++cursor_ == order_.size()) {
                cursor_ = 0;
                ++stats_.rounds;
            }
            switch (activate(id)) {
                case Activation::Idle: break;
                case Activation::Stuck: ++used; break;
                case Activation::Progress:
                    ++used;
                    idle_visits_ = 0;
                    if (is_terminal(status_)) return status_;
                    continue;
            }
            if (++idle_visits_ >= order_.size()) {
                idle_visits_ = 0;
                status_ = Status::Blocked;
                outcome_.status = Status::Blocked;
                return status_;
            }
        }
        return status_;
    }

    // Stops the graph at the next activation boundary.
    void cancel() noexcept { cancel_requested_ = true; }
    void bind(CancelToken token) { token_ = std::move(token); }

    Status status() const noexcept { return status_; }
    const Outcome& outcome() const noexcept { return outcome_; }
    // Set when status() is Invalid.
    const std::optional<GraphError::Kind>& graph_error() const noexcept { return error_kind_; }
    const ExecutorStats& stats() const noexcept { return stats_; }

    std::size_t size() const noexcept { return nodes_.size(); }
    Processor<T>& processor(NodeId id) noexcept { return *nodes_[id].processor; }
    const std::string& name(NodeId id) const noexcept { return nodes_[id].name; }
    bool finished(NodeId id) const noexcept { return nodes_[id].finished; }

private:
    struct Node {
        std::string name;
        std::unique_ptr<Processor<T>> processor;
        Inbox<T> in;
        Outbox<T> out;
        bool finished;
    };

    enum class Activation : std::uint8_t { Idle, Stuck, Progress };

    Activation activate(NodeId id) {
        Node& node = nodes_[id];
        if (node.finished) return Activation::Idle;
        Processor<T>& p = *node.processor;
        const bool sink = p.role() == Role::Sink;
        if (!sink && node.out.room() == 0) return Activation::Idle;  // backpressure

        const std::uint64_t before = node.in.taken_total() + node.out.pushed_total();
        bool done = false;
        if (node.in.available() > 0) {
            node.in.quota_ = options_.batch;
            p.process(node.in, node.out);
        } else if (node.in.exhausted()) {
            done = p.complete(node.out);
        } else {
            return Activation::Idle;  // waiting for input
        }
        ++stats_.activations;

        if (node.out.overflowed()) {
            fail(id, "pushed past the outbox room (backpressure contract)");
            return Activation::Progress;
        }
        if (p.failed()) {
            fail(id, *p.error());
            return Activation::Progress;
        }
        if (done) {
            node.finished = true;
            for (Queue<T>* q : node.out.targets_) q->close();
            if (++finished_count_ == nodes_.size()) {
                status_ = Status::Done;
                outcome_.status = Status::Done;
            }
            return Activation::Progress;
        }
        const std::uint64_t after = node.in.taken_total() + node.out.pushed_total();
        return after != before ? Activation::Progress : Activation::Stuck;
    }

    void fail(NodeId id, std::string message) { abort(Status::Failed, id, std::move(message)); }

    void abort(Status status, std::optional<NodeId> id, std::string message) {
        status_ = status;
        outcome_.status = status;
        outcome_.node = id;
        outcome_.processor = id ? nodes_[*id].name : std::string();
        outcome_.message = std::move(message);
        for (Node& node : nodes_) {
            if (!node.finished) node.processor->on_abort(outcome_);
        }
    }

    ExecutorOptions options_;
    std::vector<std::unique_ptr<Queue<T>>> queues_;
    std::vector<Node> nodes_;
    std::vector<NodeId> order_;
    std::vector<std::unique_ptr<Processor<T>>> invalid_;  // kept so handles stay valid
    std::size_t cursor_ = 0;
    std::size_t idle_visits_ = 0;
    std::size_t finished_count_ = 0;
    bool cancel_requested_ = false;
    std::optional<CancelToken> token_;
    Status status_ = Status::Running;
    Outcome outcome_;
    std::optional<GraphError::Kind> error_kind_;
    ExecutorStats stats_;
};

}  // namespace dag
TOPGUN_END_NAMESPACE
