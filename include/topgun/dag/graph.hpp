// Building a DAG of processors (see executor.hpp for how it runs).
//
//   Graph<Row> g;
//   auto scan = g.add("scan", dag::from_vector(rows));
//   auto keep = g.add("filter", dag::filter<Row>(pred));
//   auto out  = g.add("sink", dag::collect<Row>());
//   g.connect(scan, keep, 256);   // edge with a queue of 256 items
//   g.connect(keep, out);
//   dag::Executor<Row> exec(std::move(g));
//   exec.run();  out->items() ...
//
// One item type per graph: the queues are typed and the processors work on
// batches of that type, which is what makes moving an item cheap. A plan that
// mixes shapes uses a small struct or variant as its item.
//
// The builder never fails on the spot (no exceptions): add(), connect() and
// fan_out() record what they are given and validate() — also run by the
// executor's constructor — reports the first problem with a typed kind and a
// message naming the processors: no processors, a null processor, an edge to
// or from a node that does not exist (dangling), a zero capacity, a duplicate
// edge, a cycle (with its path), a transform or sink without an input, a source
// or transform without an output, a source with an input, a sink with an
// output, and a broadcast of an item type that cannot be copied.
//
// The handle add() returns points at the processor itself, which the executor
// keeps at the same address: read a sink's results through it after the run.
#pragma once

#include <topgun/config.hpp>
#include <topgun/dag/ports.hpp>
#include <topgun/dag/processor.hpp>
#include <topgun/dag/queue.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace dag {

template <class P>
struct NodeRef {
    NodeId id = 0;
    P* processor = nullptr;

    P* operator->() const noexcept { return processor; }
    P& operator*() const noexcept { return *processor; }
    operator NodeId() const noexcept { return id; }
};

struct GraphError {
    enum class Kind : std::uint8_t {
        Empty,
        NullProcessor,
        DanglingEdge,
        ZeroCapacity,
        DuplicateEdge,
        Cycle,
        UnconnectedInput,
        UnconnectedOutput,
        SourceWithInput,
        SinkWithOutput,
        BroadcastNeedsCopy,
    };
    Kind kind;
    std::string message;
};

template <Item T>
class Graph {
public:
    static constexpr std::size_t kDefaultCapacity = 1024;

    struct Edge {
        NodeId from;
        NodeId to;
        std::size_t capacity;
    };

    Graph() = default;
    Graph(Graph&&) noexcept = default;
    Graph& operator=(Graph&&) noexcept = default;

    template <class P>
        requires std::derived_from<P, Processor<T>>
    NodeRef<P> add(std::string name, std::unique_ptr<P> processor) {
        P* raw = processor.get();
        nodes_.push_back(Node{std::move(name), std::move(processor), FanOut<T>::broadcast()});
        return NodeRef<P>{nodes_.size() - 1, raw};
    }

    // An edge from `from`'s outbox to a new port of `to`'s inbox. Ports are
    // numbered in connection order, and so are a fan-out's consumers.
    void connect(NodeId from, NodeId to, std::size_t capacity = kDefaultCapacity) {
        edges_.push_back(Edge{from, to, capacity});
    }

    // How `from` routes items among several consumers (broadcast by default).
    void fan_out(NodeId from, FanOut<T> policy) {
        if (from >= nodes_.size()) {
            if (!builder_error_) {
                builder_error_ = GraphError{GraphError::Kind::DanglingEdge,
                                            "fan_out on node #" + std::to_string(from) + ", but the graph has " +
                                                std::to_string(nodes_.size()) + " processors"};
            }
            return;
        }
        nodes_[from].fan_out = std::move(policy);
    }

    std::size_t size() const noexcept { return nodes_.size(); }
    const std::vector<Edge>& edges() const noexcept { return edges_; }
    const std::string& name(NodeId id) const noexcept { return nodes_[id].name; }

    std::optional<GraphError> validate() const {
        std::vector<NodeId> order;
        return check(order);
    }

private:
    friend class Executor<T>;

    struct Node {
        std::string name;
        std::unique_ptr<Processor<T>> processor;
        FanOut<T> fan_out;
    };

    std::string label(NodeId id) const { return "'" + nodes_[id].name + "' (#" + std::to_string(id) + ")"; }

    // The first problem, or nothing with `order` set to a topological order.
    std::optional<GraphError> check(std::vector<NodeId>& order) const {
        using K = GraphError::Kind;
        const std::size_t n = nodes_.size();
        if (n == 0) return GraphError{K::Empty, "the graph has no processors"};
        for (NodeId id = 0; id < n; ++id) {
            if (!nodes_[id].processor) return GraphError{K::NullProcessor, "processor " + label(id) + " is null"};
        }
        if (builder_error_) return builder_error_;

        std::vector<std::size_t> inputs(n, 0);
        std::vector<std::size_t> outputs(n, 0);
        for (std::size_t e = 0; e < edges_.size(); ++e) {
            const Edge& edge = edges_[e];
            // Built only for a message: validation runs for every query plan.
            const auto where = [e] { return "edge #" + std::to_string(e); };
            if (edge.from >= n || edge.to >= n) {
                const NodeId bad = edge.from >= n ? edge.from : edge.to;
                return GraphError{K::DanglingEdge, where() + " refers to node #" + std::to_string(bad) +
                                                       ", but the graph has " + std::to_string(n) + " processors"};
            }
            if (edge.capacity == 0) {
                return GraphError{K::ZeroCapacity,
                                  where() + " from " + label(edge.from) + " to " + label(edge.to) + " has capacity 0"};
            }
            if (edge.from == edge.to) return GraphError{K::Cycle, "cycle: " + label(edge.from) + " feeds itself"};
            for (std::size_t f = 0; f < e; ++f) {
                if (edges_[f].from == edge.from && edges_[f].to == edge.to) {
                    return GraphError{K::DuplicateEdge, where() + " repeats edge #" + std::to_string(f) + " from " +
                                                            label(edge.from) + " to " + label(edge.to)};
                }
            }
            ++outputs[edge.from];
            ++inputs[edge.to];
        }

        for (NodeId id = 0; id < n; ++id) {
            const Role role = nodes_[id].processor->role();
            if (role == Role::Source && inputs[id] > 0) {
                return GraphError{K::SourceWithInput, "source " + label(id) + " has an input edge"};
            }
            if (role == Role::Sink && outputs[id] > 0) {
                return GraphError{K::SinkWithOutput, "sink " + label(id) + " has an output edge"};
            }
            if (role != Role::Source && inputs[id] == 0) {
                return GraphError{K::UnconnectedInput, "processor " + label(id) + " has no input edge"};
            }
            if (role != Role::Sink && outputs[id] == 0) {
                return GraphError{K::UnconnectedOutput, "processor " + label(id) + " has no output edge"};
            }
            if constexpr (!std::copy_constructible<T>) {
                if (outputs[id] > 1 && nodes_[id].fan_out.kind() == FanOut<T>::Kind::Broadcast) {
                    return GraphError{K::BroadcastNeedsCopy, "processor " + label(id) + " broadcasts to " +
                                                                 std::to_string(outputs[id]) +
                                                                 " consumers, but the item type cannot be copied"};
                }
            }
        }

        // Kahn's algorithm; what it cannot order lies on or behind a cycle.
        std::vector<std::size_t> pending = inputs;
        order.clear();
        for (NodeId id = 0; id < n; ++id) {
            if (pending[id] == 0) order.push_back(id);
        }
        for (std::size_t i = 0; i < order.size(); ++i) {
            for (const Edge& edge : edges_) {
                if (edge.from == order[i] && --pending[edge.to] == 0) order.push_back(edge.to);
            }
        }
        if (order.size() == n) return std::nullopt;
        return GraphError{K::Cycle, "cycle: " + describe_cycle(pending)};
    }

    // Every unordered node has an unordered predecessor; walking back n steps
    // from one lands on a cycle, then walking on until it repeats traces it
    // (reported from its lowest node id, so the message is stable).
    std::string describe_cycle(const std::vector<std::size_t>& pending) const {
        const std::size_t n = nodes_.size();
        std::vector<NodeId> pred(n, n);
        for (const Edge& edge : edges_) {
            if (pending[edge.from] > 0 && pending[edge.to] > 0) pred[edge.to] = edge.from;
        }
        NodeId at = 0;
        while (pending[at] == 0) ++at;
        for (std::size_t i = 0; i < n; ++i) at = pred[at];
        std::vector<NodeId> path{at};
        for (NodeId p = pred[at]; p != at; p = pred[p]) path.push_back(p);
        std::reverse(path.begin(), path.end());
        std::rotate(path.begin(), std::min_element(path.begin(), path.end()), path.end());  // lowest id first
        std::string text;
        for (NodeId id : path) text += label(id) + " -> ";
        return text + label(path.front());
    }

    std::vector<Node> nodes_;
    std::vector<Edge> edges_;
    std::optional<GraphError> builder_error_;
};

}  // namespace dag
TOPGUN_END_NAMESPACE
