// The processor interface of a DAG (see executor.hpp for the whole model).
//
// A processor is a vertex with a role:
//   Source     no inputs; emits from generate() until it returns true.
//   Transform  inputs and outputs; process() takes a batch from the inbox and
//              pushes results, complete() may emit more once inputs are done.
//   Sink       inputs only; process() takes a batch, complete() finishes.
//
// The contract, which the executor relies on:
//   - process(in, out) is called only when some input item is available and
//     (unless a sink) out.room() > 0. It takes what it can handle — at most
//     in.quota() through drain() — and pushes at most out.room() items. It
//     keeps no reference to items after it returns (slots are reused).
//   - complete(out) is called once every input is exhausted (for a source:
//     from the start), again at later steps while it returns false, and only
//     when out.room() > 0. That is where aggregators and top-k emit; emitting
//     more than the room means returning false and continuing next time.
//   - fail(message) marks the processor failed; the executor stops the graph
//     after the current call and reports the message and the processor. No
//     exceptions are needed on the data path.
//   - on_abort(outcome) is called once on every unfinished processor when the
//     graph is cancelled or fails, so a sink can report a terminal status.
//
// Why batches through one virtual call: a virtual call per item would cost
// more than the item's work in a filter or a projection; one call per batch
// amortises it to nothing while keeping processors type-erased in the graph.
#pragma once

#include <topgun/config.hpp>
#include <topgun/dag/ports.hpp>
#include <topgun/dag/queue.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

TOPGUN_BEGIN_NAMESPACE
namespace dag {

using NodeId = std::size_t;

enum class Role : std::uint8_t { Source, Transform, Sink };

enum class Status : std::uint8_t {
    Running,    // more work to do; call step() again
    Blocked,    // a whole round made no progress (processors waiting on something outside the graph)
    Done,       // every processor finished
    Cancelled,  // cancel() or the cancel token stopped the graph
    Failed,     // a processor failed; see the outcome
    Invalid,    // the graph did not validate; see the outcome
};

constexpr std::string_view to_string(Status s) noexcept {
    switch (s) {
        case Status::Running: return "running";
        case Status::Blocked: return "blocked";
        case Status::Done: return "done";
        case Status::Cancelled: return "cancelled";
        case Status::Failed: return "failed";
        case Status::Invalid: return "invalid";
    }
    return "?";
}

constexpr bool is_terminal(Status s) noexcept {
    return s == Status::Done || s == Status::Cancelled || s == Status::Failed || s == Status::Invalid;
}

// How a run ended (or is going): for Failed, which processor raised what.
struct Outcome {
    Status status = Status::Running;
    std::optional<NodeId> node;  // the failed processor
    std::string processor;       // its name
    std::string message;
};

template <Item T>
class Processor {
public:
    explicit Processor(Role role) noexcept : role_(role) {}
    virtual ~Processor() = default;
    Processor(const Processor&) = delete;
    Processor& operator=(const Processor&) = delete;

    Role role() const noexcept { return role_; }

    virtual void process(Inbox<T>& in, Outbox<T>& out) = 0;
    // True when finished; the default finishes at once.
    virtual bool complete(Outbox<T>& /*out*/) { return true; }
    virtual void on_abort(const Outcome& /*outcome*/) {}

    bool failed() const noexcept { return error_.has_value(); }
    const std::optional<std::string>& error() const noexcept { return error_; }

protected:
    // Stops the graph after the current call; the first message wins.
    void fail(std::string message) {
        if (!error_) error_ = std::move(message);
    }

private:
    Role role_;
    std::optional<std::string> error_;
};

// A processor without inputs: generate() pushes up to out.room() items and
// returns true once it has nothing more to emit.
template <Item T>
class Source : public Processor<T> {
public:
    Source() noexcept : Processor<T>(Role::Source) {}

    virtual bool generate(Outbox<T>& out) = 0;

    void process(Inbox<T>& /*in*/, Outbox<T>& /*out*/) final {}  // never called: no inputs
    bool complete(Outbox<T>& out) final { return generate(out); }
};

}  // namespace dag
TOPGUN_END_NAMESPACE
