#include <topgun/dag/executor.hpp>
#include <topgun/dag/graph.hpp>
#include <topgun/dag/processors.hpp>
#include <topgun/dag/queue.hpp>
#include <topgun/value.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace topgun;
using dag::Executor;
using dag::Graph;
using dag::GraphError;
using dag::Inbox;
using dag::Outbox;
using dag::Status;

namespace {

using I = std::int64_t;

std::vector<I> iota(I n) {
    std::vector<I> v(static_cast<std::size_t>(n));
    std::iota(v.begin(), v.end(), I{0});
    return v;
}

std::vector<I> sorted(std::vector<I> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// Emits 0, 1, 2, ... (forever when limit is empty) and counts what it emitted.
class CountingSource final : public dag::Source<I> {
public:
    explicit CountingSource(std::optional<I> limit) : limit_(limit) {}
    bool generate(Outbox<I>& out) override {
        for (std::size_t room = out.room(); room > 0; --room) {
            if (limit_ && produced_ == *limit_) return true;
            out.push(produced_++);
        }
        return limit_ && produced_ == *limit_;
    }
    I produced() const { return produced_; }

private:
    std::optional<I> limit_;
    I produced_ = 0;
};

// A sink that takes nothing while paused.
class PausableSink final : public dag::Processor<I> {
public:
    PausableSink() : Processor(dag::Role::Sink) {}
    void process(Inbox<I>& in, Outbox<I>&) override {
        if (paused) return;
        in.drain([&](I& x) { items.push_back(x); });
    }
    bool paused = true;
    std::vector<I> items;
};

// Keeps the k largest items and emits them, largest first, once its inputs are
// exhausted; records how many items it had seen when complete() first ran.
class TopK final : public dag::Processor<I> {
public:
    explicit TopK(std::size_t k) : Processor(dag::Role::Transform), k_(k) {}
    void process(Inbox<I>& in, Outbox<I>&) override {
        in.drain([&](I& x) {
            ++seen_;
            best_.push_back(x);
            std::sort(best_.begin(), best_.end(), std::greater<>());
            if (best_.size() > k_) best_.pop_back();
        });
    }
    bool complete(Outbox<I>& out) override {
        if (!seen_at_complete_) seen_at_complete_ = seen_;
        ++complete_calls_;
        while (next_ < best_.size() && out.room() > 0) out.push(best_[next_++]);
        return next_ == best_.size();
    }
    std::optional<std::size_t> seen_at_complete_;
    std::size_t complete_calls_ = 0;

private:
    std::size_t k_;
    std::size_t seen_ = 0;
    std::size_t next_ = 0;
    std::vector<I> best_;
};

// Records how many items each activation took.
class BatchSizes final : public dag::Processor<I> {
public:
    BatchSizes() : Processor(dag::Role::Sink) {}
    void process(Inbox<I>& in, Outbox<I>&) override {
        sizes.push_back(in.drain([](I&) {}));
    }
    std::vector<std::size_t> sizes;
};

// Consumes and forwards nothing: the graph cannot progress through it.
class NeverConsumes final : public dag::Processor<I> {
public:
    NeverConsumes() : Processor(dag::Role::Transform) {}
    void process(Inbox<I>&, Outbox<I>&) override {}
};

// Pushes one item more than the room allows.
class Overflows final : public dag::Processor<I> {
public:
    Overflows() : Processor(dag::Role::Transform) {}
    void process(Inbox<I>& in, Outbox<I>& out) override {
        in.drain([&](I& x) { out.push(x); });
    }
};

// Fails from complete().
class FailsOnComplete final : public dag::Processor<I> {
public:
    FailsOnComplete() : Processor(dag::Role::Sink) {}
    void process(Inbox<I>& in, Outbox<I>&) override {
        in.drain([](I&) {});
    }
    bool complete(Outbox<I>&) override {
        fail("cannot finish");
        return false;
    }
};

Status drive(Executor<I>& exec, std::size_t budget) {
    Status s = Status::Running;
    for (int guard = 0; guard < 10'000'000 && s == Status::Running; ++guard) s = exec.step(budget);
    return s;
}

}  // namespace

TEST_CASE("dag queue: ring buffer wraps, drains in order and refuses past capacity", "[dag]") {
    dag::Queue<I> q(3);
    CHECK(q.capacity() == 3);
    CHECK(q.try_push(1));
    CHECK(q.try_push(2));
    CHECK(q.try_push(3));
    CHECK(q.full());
    CHECK_FALSE(q.try_push(4));
    CHECK(q.size() == 3);
    q.pop();
    CHECK(q.try_push(4));             // wraps around
    CHECK(q.readable().size() == 2);  // 2, 3 lie before the wrap
    std::vector<I> got;
    CHECK(q.drain(10, [&](I& x) { got.push_back(x); }) == 3);
    CHECK(got == std::vector<I>{2, 3, 4});
    CHECK(q.empty());
    CHECK(q.pushed_total() == 4);
    CHECK(q.popped_total() == 4);
    CHECK_FALSE(q.exhausted());
    q.close();
    CHECK(q.exhausted());

    // Random pushes and drains agree with a simple FIFO model.
    std::mt19937 rng(7);
    dag::Queue<I> r(5);
    std::vector<I> model;
    I next = 0;
    for (int i = 0; i < 5000; ++i) {
        if (rng() % 2 == 0) {
            const bool ok = r.try_push(next);
            CHECK(ok == (model.size() < 5));
            if (ok) model.push_back(next);
            ++next;
        } else {
            const std::size_t max = rng() % 4;
            std::vector<I> out;
            r.drain(max, [&](I& x) { out.push_back(x); });
            const std::size_t n = std::min(max, model.size());
            REQUIRE(out == std::vector<I>(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(n)));
            model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(n));
        }
        REQUIRE(r.size() == model.size());
    }
}

TEST_CASE("dag: linear pipeline source -> map -> filter -> sink", "[dag]") {
    Graph<I> g;
    auto src = g.add("numbers", dag::from_vector(iota(10'000)));
    auto triple = g.add("triple", dag::map<I>([](I x) { return 3 * x + 1; }));
    auto even = g.add("even", dag::filter<I>([](const I& x) { return x % 2 == 0; }));
    auto sink = g.add("sink", dag::collect<I>());
    g.connect(src, triple, 7);
    g.connect(triple, even, 64);
    g.connect(even, sink, 1);
    REQUIRE_FALSE(g.validate());
    Executor<I> exec(std::move(g), {.batch = 13});
    CHECK(exec.run() == Status::Done);
    CHECK(exec.outcome().status == Status::Done);

    std::vector<I> expected;
    for (I x = 0; x < 10'000; ++x) {
        if ((3 * x + 1) % 2 == 0) expected.push_back(3 * x + 1);
    }
    CHECK(sink->items() == expected);  // a linear pipeline keeps order
    CHECK(sink->completed());
    CHECK_FALSE(sink->aborted());
    for (dag::NodeId id = 0; id < exec.size(); ++id) CHECK(exec.finished(id));
    CHECK(exec.step(10) == Status::Done);  // terminal status sticks

    // An empty source still completes every stage.
    Graph<I> empty;
    auto s2 = empty.add("empty", dag::from_vector(std::vector<I>{}));
    auto k2 = empty.add("sink", dag::collect<I>());
    empty.connect(s2, k2);
    Executor<I> e2(std::move(empty));
    CHECK(e2.run() == Status::Done);
    CHECK(k2->items().empty());
    CHECK(k2->completed());
}

TEST_CASE("dag: flat_map, try_map, generator source and for_each sink", "[dag]") {
    Graph<I> g;
    I next = 0;
    auto src = g.add("gen", dag::from_generator<I>([&]() -> std::optional<I> {
        if (next == 100) return std::nullopt;
        return next++;
    }));
    // Each x becomes x copies of x: far more than a queue of 3 holds.
    auto expand = g.add("expand", dag::flat_map<I>([](I x, std::vector<I>& out) {
        for (I i = 0; i < x % 7; ++i) out.push_back(x);
    }));
    auto check = g.add("check", dag::try_map<I>([](I x, std::string&) -> std::optional<I> { return x * 2; }));
    I sum = 0;
    std::size_t count = 0;
    auto sink = g.add("sum", dag::for_each<I>([&](I x) {
        sum += x;
        ++count;
    }));
    g.connect(src, expand, 2);
    g.connect(expand, check, 3);
    g.connect(check, sink, 2);
    Executor<I> exec(std::move(g), {.batch = 5});
    CHECK(exec.run() == Status::Done);
    I expected_sum = 0;
    std::size_t expected_count = 0;
    for (I x = 0; x < 100; ++x) {
        expected_sum += (x % 7) * x * 2;
        expected_count += static_cast<std::size_t>(x % 7);
    }
    CHECK(sum == expected_sum);
    CHECK(count == expected_count);
}

TEST_CASE("dag: fan-out broadcast, partition and round robin; fan-in merge (scatter/gather)", "[dag]") {
    SECTION("scatter/gather: N sources -> per-source partial -> merge -> sink") {
        constexpr int kSources = 5;
        Graph<I> g;
        auto merge = g.add("merge", dag::merge<I>());
        auto total = g.add("total", dag::aggregate<I>(
                                        I{0}, [](I& acc, I x) { acc += x; },
                                        [](I&& acc, std::vector<I>& out) { out.push_back(acc); }));
        auto sink = g.add("sink", dag::collect<I>());
        I expected = 0;
        for (int s = 0; s < kSources; ++s) {
            std::vector<I> items;
            for (I i = 0; i < 200 + s * 37; ++i) items.push_back(i * (s + 1));
            for (I x : items) expected += x;
            auto src = g.add("partition-" + std::to_string(s), dag::from_vector(std::move(items)));
            auto partial = g.add("partial-" + std::to_string(s),
                                 dag::aggregate<I>(
                                     I{0}, [](I& acc, I x) { acc += x; },
                                     [](I&& acc, std::vector<I>& out) { out.push_back(acc); }));
            g.connect(src, partial, 1 + static_cast<std::size_t>(s));
            g.connect(partial, merge, 2);
        }
        g.connect(merge, total, 3);
        g.connect(total, sink, 1);
        Executor<I> exec(std::move(g), {.batch = 8});
        CHECK(exec.run() == Status::Done);
        CHECK(sink->items() == std::vector<I>{expected});
    }

    SECTION("merge gathers every item of every producer") {
        Graph<I> g;
        auto merge = g.add("merge", dag::merge<I>());
        auto sink = g.add("sink", dag::collect<I>());
        std::vector<I> expected;
        for (I s = 0; s < 4; ++s) {
            std::vector<I> items;
            for (I i = 0; i < 100; ++i) items.push_back(s * 1000 + i);
            expected.insert(expected.end(), items.begin(), items.end());
            auto src = g.add("src", dag::from_vector(std::move(items)));
            g.connect(src, merge, 3);
        }
        g.connect(merge, sink, 4);
        Executor<I> exec(std::move(g), {.batch = 2});
        CHECK(exec.run() == Status::Done);
        CHECK(sorted(sink->items()) == expected);
        // Fair: the first 40 items gathered come from all four producers.
        std::vector<bool> seen(4, false);
        for (std::size_t i = 0; i < 40; ++i) seen[static_cast<std::size_t>(sink->items()[i] / 1000)] = true;
        CHECK(seen == std::vector<bool>{true, true, true, true});
    }

    SECTION("broadcast gives every consumer every item") {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(500)));
        auto a = g.add("a", dag::collect<I>());
        auto b = g.add("b", dag::collect<I>());
        g.connect(src, a, 4);
        g.connect(src, b, 9);
        Executor<I> exec(std::move(g));
        CHECK(exec.run() == Status::Done);
        CHECK(a->items() == iota(500));
        CHECK(b->items() == iota(500));
    }

    SECTION("partition sends each item to the consumer its function picks") {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(600)));
        std::vector<dag::NodeRef<dag::CollectSink<I>>> sinks;
        for (int i = 0; i < 3; ++i) {
            sinks.push_back(g.add("p" + std::to_string(i), dag::collect<I>()));
            g.connect(src, sinks.back(), 5);
        }
        g.fan_out(src, dag::FanOut<I>::partition([](const I& x) { return static_cast<std::size_t>(x % 3); }));
        Executor<I> exec(std::move(g));
        CHECK(exec.run() == Status::Done);
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(sinks[i]->items().size() == 200);
            for (I x : sinks[i]->items()) CHECK(static_cast<std::size_t>(x % 3) == i);
        }
    }

    SECTION("round robin deals items in turn") {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(10)));
        auto a = g.add("a", dag::collect<I>());
        auto b = g.add("b", dag::collect<I>());
        g.connect(src, a, 2);
        g.connect(src, b, 2);
        g.fan_out(src, dag::FanOut<I>::round_robin());
        Executor<I> exec(std::move(g));
        CHECK(exec.run() == Status::Done);
        CHECK(a->items() == std::vector<I>{0, 2, 4, 6, 8});
        CHECK(b->items() == std::vector<I>{1, 3, 5, 7, 9});
    }
}

TEST_CASE("dag: backpressure pauses the producer and loses or duplicates nothing", "[dag]") {
    SECTION("linear: the producer stops when the queues are full") {
        Graph<I> g;
        auto src = g.add("src", std::make_unique<CountingSource>(I{1000}));
        auto pass = g.add("pass", dag::map<I>([](I x) { return x; }));
        auto sink = g.add("sink", std::make_unique<PausableSink>());
        g.connect(src, pass, 3);
        g.connect(pass, sink, 5);
        Executor<I> exec(std::move(g));
        // The stalled sink blocks the graph once both queues are full: the
        // source produced exactly what the queues hold, however often it is stepped.
        CHECK(exec.step(100) == Status::Blocked);
        CHECK(src->produced() == 3 + 5);
        CHECK(exec.step(100) == Status::Blocked);
        CHECK(src->produced() == 3 + 5);
        CHECK(sink->items.empty());

        sink->paused = false;
        CHECK(exec.run() == Status::Done);
        CHECK(sink->items == iota(1000));  // nothing lost, duplicated or reordered
    }

    SECTION("fan-out: one stalled consumer pauses the producer for all") {
        Graph<I> g;
        auto src = g.add("src", std::make_unique<CountingSource>(I{300}));
        auto fast = g.add("fast", dag::collect<I>());
        auto slow = g.add("slow", std::make_unique<PausableSink>());
        g.connect(src, fast, 50);
        g.connect(src, slow, 4);
        Executor<I> exec(std::move(g));
        CHECK(exec.run() == Status::Blocked);
        CHECK(src->produced() == 4);
        CHECK(fast->items() == iota(4));
        slow->paused = false;
        CHECK(exec.run() == Status::Done);
        CHECK(fast->items() == iota(300));
        CHECK(slow->items == iota(300));
    }
}

TEST_CASE("dag: completion runs after every input is exhausted and emits under backpressure", "[dag]") {
    Graph<I> g;
    auto a = g.add("a", dag::from_vector(iota(400)));
    auto b = g.add("b", dag::from_vector(std::vector<I>{1000, 5, 999}));
    auto top = g.add("top", std::make_unique<TopK>(6));
    auto sink = g.add("sink", dag::collect<I>());
    g.connect(a, top, 2);
    g.connect(b, top, 1);
    g.connect(top, sink, 1);  // complete() can emit one item per activation
    Executor<I> exec(std::move(g), {.batch = 3});
    CHECK(exec.run() == Status::Done);
    CHECK(top->seen_at_complete_ == 403u);  // all input, from both producers
    CHECK(top->complete_calls_ >= 6);       // had to come back for room
    CHECK(sink->items() == std::vector<I>{1000, 999, 399, 398, 397, 396});
    CHECK(sink->completed());
}

TEST_CASE("dag: cancellation stops the graph at the next step and tells the sink", "[dag]") {
    SECTION("executor.cancel()") {
        Graph<I> g;
        auto src = g.add("endless", std::make_unique<CountingSource>(std::nullopt));
        auto pass = g.add("pass", dag::map<I>([](I x) { return x + 1; }));
        auto sink = g.add("sink", dag::collect<I>());
        g.connect(src, pass, 16);
        g.connect(pass, sink, 16);
        Executor<I> exec(std::move(g));
        for (int i = 0; i < 20; ++i) CHECK(exec.step(3) == Status::Running);
        CHECK(src->produced() > 0);
        exec.cancel();
        CHECK(exec.step(3) == Status::Cancelled);
        const I produced = src->produced();
        const auto activations = exec.stats().activations;
        CHECK(exec.step(100) == Status::Cancelled);
        CHECK(exec.run() == Status::Cancelled);
        CHECK(src->produced() == produced);
        CHECK(exec.stats().activations == activations);
        REQUIRE(sink->aborted());
        CHECK(sink->aborted()->status == Status::Cancelled);
        CHECK_FALSE(sink->completed());
        CHECK(exec.outcome().status == Status::Cancelled);
        CHECK_FALSE(exec.outcome().node);
    }

    SECTION("a token cancelled from outside, in the middle of run()") {
        Graph<I> g;
        dag::CancelToken token;
        auto src = g.add("endless", std::make_unique<CountingSource>(std::nullopt));
        I seen = 0;
        auto sink = g.add("sink", dag::for_each<I>([&](I) {
            if (++seen == 5000) token.cancel();  // e.g. a client went away
        }));
        g.connect(src, sink, 64);
        Executor<I> exec(std::move(g), {.batch = 10});
        exec.bind(token);
        CHECK(exec.run() == Status::Cancelled);
        CHECK(seen >= 5000);
        CHECK(seen < 5000 + 10);  // the batch in progress was the last
        CHECK(src->produced() <= 5000 + 64);
    }
}

TEST_CASE("dag: an error in a middle processor stops the graph and names the processor", "[dag]") {
    SECTION("try_map rejects an item") {
        Graph<I> g;
        auto src = g.add("src", std::make_unique<CountingSource>(I{1000}));
        auto parse = g.add("parse", dag::try_map<I>([](I x, std::string& error) -> std::optional<I> {
            if (x == 500) {
                error = "bad item " + std::to_string(x);
                return std::nullopt;
            }
            return x;
        }));
        auto after = g.add("after", dag::map<I>([](I x) { return x; }));
        auto sink = g.add("sink", dag::collect<I>());
        g.connect(src, parse, 32);
        g.connect(parse, after, 32);
        g.connect(after, sink, 32);
        Executor<I> exec(std::move(g), {.batch = 16});
        CHECK(exec.run() == Status::Failed);
        const dag::Outcome& outcome = exec.outcome();
        CHECK(outcome.status == Status::Failed);
        CHECK(outcome.processor == "parse");
        CHECK(outcome.node == std::optional<dag::NodeId>(parse.id));
        CHECK(outcome.message == "bad item 500");
        REQUIRE(sink->aborted());
        CHECK(sink->aborted()->status == Status::Failed);
        CHECK(sink->aborted()->processor == "parse");
        CHECK(sink->aborted()->message == "bad item 500");
        CHECK_FALSE(sink->completed());
        CHECK(sink->items().size() < 500);
        for (std::size_t i = 0; i < sink->items().size(); ++i) CHECK(sink->items()[i] == static_cast<I>(i));
        CHECK(src->produced() < 1000);  // the graph stopped before the source ran dry
        CHECK_FALSE(exec.finished(src.id));
        const I produced = src->produced();
        CHECK(exec.step(100) == Status::Failed);
        CHECK(src->produced() == produced);
    }

    SECTION("fail() from complete()") {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(10)));
        auto sink = g.add("finisher", std::make_unique<FailsOnComplete>());
        g.connect(src, sink);
        Executor<I> exec(std::move(g));
        CHECK(exec.run() == Status::Failed);
        CHECK(exec.outcome().processor == "finisher");
        CHECK(exec.outcome().message == "cannot finish");
    }

    SECTION("pushing past the room is reported, not lost silently") {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(10)));
        auto bad = g.add("greedy", std::make_unique<Overflows>());
        auto sink = g.add("sink", dag::collect<I>());
        g.connect(src, bad, 10);
        g.connect(bad, sink, 2);
        Executor<I> exec(std::move(g));
        CHECK(exec.run() == Status::Failed);
        CHECK(exec.outcome().processor == "greedy");
        CHECK(exec.outcome().message.find("backpressure") != std::string::npos);
    }
}

TEST_CASE("dag: graph validation reports cycles, dangling edges and unconnected ports", "[dag]") {
    using K = GraphError::Kind;
    auto kind_of = [](const Graph<I>& g) { return g.validate() ? std::optional<K>(g.validate()->kind) : std::nullopt; };

    SECTION("empty graph and null processor") {
        Graph<I> g;
        CHECK(kind_of(g) == K::Empty);
        g.add("nothing", std::unique_ptr<dag::Processor<I>>());
        CHECK(kind_of(g) == K::NullProcessor);
    }

    SECTION("cycle through three transforms, with its path") {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(3)));
        auto a = g.add("a", dag::merge<I>());
        auto b = g.add("b", dag::merge<I>());
        auto c = g.add("c", dag::merge<I>());
        auto sink = g.add("sink", dag::collect<I>());
        g.connect(src, a);
        g.connect(a, b);
        g.connect(b, c);
        g.connect(c, a);
        g.connect(c, sink);
        const auto error = g.validate();
        REQUIRE(error);
        CHECK(error->kind == K::Cycle);
        CHECK(error->message == "cycle: 'a' (#1) -> 'b' (#2) -> 'c' (#3) -> 'a' (#1)");
        Executor<I> exec(std::move(g));
        CHECK(exec.status() == Status::Invalid);
        CHECK(exec.run() == Status::Invalid);
        CHECK(exec.graph_error() == std::optional<K>(K::Cycle));
        CHECK(exec.outcome().message.rfind("invalid graph: cycle", 0) == 0);
        CHECK(src->role() == dag::Role::Source);  // handles stay valid
    }

    SECTION("self loop") {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(3)));
        auto a = g.add("a", dag::merge<I>());
        auto sink = g.add("sink", dag::collect<I>());
        g.connect(src, a);
        g.connect(a, a);
        g.connect(a, sink);
        CHECK(kind_of(g) == K::Cycle);
    }

    SECTION("dangling edge and fan_out on an unknown node") {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(3)));
        auto sink = g.add("sink", dag::collect<I>());
        g.connect(src, sink);
        g.connect(src, 7);
        CHECK(kind_of(g) == K::DanglingEdge);
        CHECK(g.validate()->message == "edge #1 refers to node #7, but the graph has 2 processors");

        Graph<I> h;
        auto s2 = h.add("src", dag::from_vector(iota(3)));
        auto k2 = h.add("sink", dag::collect<I>());
        h.connect(s2, k2);
        h.fan_out(9, dag::FanOut<I>::round_robin());
        CHECK(kind_of(h) == K::DanglingEdge);
    }

    SECTION("unconnected input and output") {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(3)));
        auto orphan = g.add("orphan", dag::map<I>([](I x) { return x; }));
        auto sink = g.add("sink", dag::collect<I>());
        g.connect(src, sink);
        g.connect(orphan, sink);
        CHECK(kind_of(g) == K::UnconnectedInput);
        CHECK(g.validate()->message == "processor 'orphan' (#1) has no input edge");

        Graph<I> h;
        auto s2 = h.add("src", dag::from_vector(iota(3)));
        auto lost = h.add("lost", dag::map<I>([](I x) { return x; }));
        h.connect(s2, lost);
        CHECK(kind_of(h) == K::UnconnectedOutput);

        Graph<I> lonely_sink;
        lonely_sink.add("sink", dag::collect<I>());
        CHECK(kind_of(lonely_sink) == K::UnconnectedInput);

        Graph<I> lonely_source;
        lonely_source.add("src", dag::from_vector(iota(3)));
        CHECK(kind_of(lonely_source) == K::UnconnectedOutput);
    }

    SECTION("roles, capacity and duplicates") {
        Graph<I> g;
        auto s1 = g.add("s1", dag::from_vector(iota(3)));
        auto s2 = g.add("s2", dag::from_vector(iota(3)));
        auto sink = g.add("sink", dag::collect<I>());
        g.connect(s1, sink);
        g.connect(s1, s2);
        CHECK(kind_of(g) == K::SourceWithInput);

        Graph<I> h;
        auto src = h.add("src", dag::from_vector(iota(3)));
        auto k1 = h.add("k1", dag::collect<I>());
        auto k2 = h.add("k2", dag::collect<I>());
        h.connect(src, k1);
        h.connect(k1, k2);
        CHECK(kind_of(h) == K::SinkWithOutput);

        Graph<I> z;
        auto zs = z.add("src", dag::from_vector(iota(3)));
        auto zk = z.add("sink", dag::collect<I>());
        z.connect(zs, zk, 0);
        CHECK(kind_of(z) == K::ZeroCapacity);

        Graph<I> d;
        auto ds = d.add("src", dag::from_vector(iota(3)));
        auto dk = d.add("sink", dag::collect<I>());
        d.connect(ds, dk);
        d.connect(ds, dk);
        CHECK(kind_of(d) == K::DuplicateEdge);
    }

    SECTION("broadcast of a move-only item type") {
        using P = std::unique_ptr<int>;
        Graph<P> g;
        std::vector<P> items;
        items.push_back(std::make_unique<int>(1));
        auto src = g.add("src", dag::from_vector(std::move(items)));
        auto a = g.add("a", dag::collect<P>());
        auto b = g.add("b", dag::collect<P>());
        g.connect(src, a);
        g.connect(src, b);
        REQUIRE(g.validate());
        CHECK(g.validate()->kind == K::BroadcastNeedsCopy);
        g.fan_out(src, dag::FanOut<P>::partition([](const P& p) { return static_cast<std::size_t>(*p); }));
        CHECK_FALSE(g.validate());
    }
}

TEST_CASE("dag: step(budget) bounds the work and interleaves two executors", "[dag]") {
    auto build = [](std::vector<char>& log, char tag) {
        Graph<I> g;
        auto src = g.add("src", dag::from_vector(iota(2000)));
        auto dbl = g.add("double", dag::map<I>([](I x) { return 2 * x; }));
        auto sink = g.add("sink", dag::for_each<I>([&log, tag](I) { log.push_back(tag); }));
        g.connect(src, dbl, 16);
        g.connect(dbl, sink, 16);
        return Executor<I>(std::move(g), {.batch = 16});
    };
    std::vector<char> log;
    Executor<I> a = build(log, 'a');
    Executor<I> b = build(log, 'b');
    CHECK(a.step(0) == Status::Running);
    CHECK(a.stats().activations == 0);

    Status sa = Status::Running;
    Status sb = Status::Running;
    std::size_t switches = 0;
    while (sa == Status::Running || sb == Status::Running) {
        const auto before_a = a.stats().activations;
        const auto before_b = b.stats().activations;
        sa = a.step(2);
        sb = b.step(3);
        CHECK(a.stats().activations - before_a <= 2);
        CHECK(b.stats().activations - before_b <= 3);
        ++switches;
    }
    CHECK(sa == Status::Done);
    CHECK(sb == Status::Done);
    CHECK(std::count(log.begin(), log.end(), 'a') == 2000);
    CHECK(std::count(log.begin(), log.end(), 'b') == 2000);
    // Both made progress throughout: the log alternates many times.
    std::size_t runs = 1;
    for (std::size_t i = 1; i < log.size(); ++i) runs += log[i] != log[i - 1] ? 1 : 0;
    CHECK(runs > 100);
    CHECK(switches > 100);

    // One activation takes at most `batch` items, however many are queued.
    Graph<I> g;
    auto src = g.add("src", dag::from_vector(iota(1000)));
    auto sink = g.add("sink", std::make_unique<BatchSizes>());
    g.connect(src, sink, 100);
    Executor<I> exec(std::move(g), {.batch = 7});
    CHECK(exec.run() == Status::Done);
    CHECK(std::accumulate(sink->sizes.begin(), sink->sizes.end(), std::size_t{0}) == 1000);
    CHECK(*std::max_element(sink->sizes.begin(), sink->sizes.end()) == 7);
}

TEST_CASE("dag: a graph that cannot progress reports Blocked instead of spinning", "[dag]") {
    Graph<I> g;
    auto src = g.add("src", dag::from_vector(iota(100)));
    auto stuck = g.add("stuck", std::make_unique<NeverConsumes>());
    auto sink = g.add("sink", dag::collect<I>());
    g.connect(src, stuck, 4);
    g.connect(stuck, sink, 4);
    Executor<I> exec(std::move(g));
    CHECK(exec.run() == Status::Blocked);
    CHECK(exec.status() == Status::Blocked);
    CHECK(sink->items().empty());
    // Budget 1 per step also ends in Blocked after a bounded number of steps.
    int steps = 0;
    while (exec.step(1) == Status::Running) ++steps;
    CHECK(steps < 10);
    CHECK(exec.status() == Status::Blocked);
}

TEST_CASE("dag: graphs carry rows of views and pointers, owned Values and move-only items", "[dag]") {
    SECTION("rows: string_view key + const Value*") {
        struct Row {
            std::string_view key;
            const Value* value = nullptr;
        };
        std::vector<std::string> keys;
        std::vector<Value> values;
        for (int i = 0; i < 300; ++i) {
            keys.push_back("user:" + std::to_string(i));
            values.emplace_back(i % 3 == 0 ? Value("skip") : Value(i));
        }
        std::vector<Row> rows;
        for (std::size_t i = 0; i < keys.size(); ++i) rows.push_back(Row{keys[i], &values[i]});

        Graph<Row> g;
        auto scan = g.add("scan", dag::from_vector(rows));
        auto ints = g.add("ints", dag::filter<Row>([](const Row& r) { return r.value->is_integer(); }));
        auto sink = g.add("sink", dag::collect<Row>());
        g.connect(scan, ints, 8);
        g.connect(ints, sink, 8);
        Executor<Row> exec(std::move(g));
        CHECK(exec.run() == Status::Done);
        REQUIRE(sink->items().size() == 200);
        for (const Row& r : sink->items()) {
            CHECK(r.value->is_integer());
            CHECK(r.key == "user:" + std::to_string(r.value->as_int()));
            CHECK(r.value == &values[static_cast<std::size_t>(r.value->as_int())]);  // no copies of values
        }
    }

    SECTION("owned Values: per-partition partial sums merged into a total") {
        Graph<Value> g;
        auto merge = g.add("merge", dag::merge<Value>());
        auto total = g.add("total", dag::aggregate<Value>(
                                        std::int64_t{0}, [](std::int64_t& acc, Value v) { acc += v.as_int(); },
                                        [](std::int64_t&& acc, std::vector<Value>& out) { out.emplace_back(acc); }));
        auto sink = g.add("sink", dag::collect<Value>());
        for (int p = 0; p < 3; ++p) {
            std::vector<Value> part;
            for (int i = 0; i < 50; ++i) part.emplace_back(p * 100 + i);
            auto src = g.add("p", dag::from_vector(std::move(part)));
            auto partial =
                g.add("partial", dag::aggregate<Value>(
                                     Value(0), [](Value& acc, Value v) { acc = Value(acc.as_int() + v.as_int()); },
                                     [](Value&& acc, std::vector<Value>& out) { out.push_back(std::move(acc)); }));
            g.connect(src, partial, 4);
            g.connect(partial, merge, 1);
        }
        g.connect(merge, total, 1);
        g.connect(total, sink, 1);
        Executor<Value> exec(std::move(g));
        CHECK(exec.run() == Status::Done);
        std::int64_t expected = 0;
        for (int p = 0; p < 3; ++p) {
            for (int i = 0; i < 50; ++i) expected += p * 100 + i;
        }
        REQUIRE(sink->items().size() == 1);
        CHECK(sink->items()[0] == Value(expected));
    }

    SECTION("move-only items through map, filter and a partitioned fan-out") {
        using P = std::unique_ptr<int>;
        std::vector<P> items;
        for (int i = 0; i < 100; ++i) items.push_back(std::make_unique<int>(i));
        Graph<P> g;
        auto src = g.add("src", dag::from_vector(std::move(items)));
        auto inc = g.add("inc", dag::map<P>([](P p) {
            ++*p;
            return p;
        }));
        auto odd = g.add("odd", dag::filter<P>([](const P& p) { return *p % 2 == 1; }));
        auto a = g.add("a", dag::collect<P>());
        auto b = g.add("b", dag::collect<P>());
        g.connect(src, inc, 3);
        g.connect(inc, odd, 3);
        g.connect(odd, a, 3);
        g.connect(odd, b, 3);
        g.fan_out(odd, dag::FanOut<P>::partition([](const P& p) { return static_cast<std::size_t>(*p % 4 == 1); }));
        Executor<P> exec(std::move(g));
        CHECK(exec.run() == Status::Done);
        CHECK(a->items().size() == 25);
        CHECK(b->items().size() == 25);
        for (const P& p : a->items()) CHECK(*p % 4 == 3);
        for (const P& p : b->items()) CHECK(*p % 4 == 1);
    }
}

namespace {

// One stage of a random plan and its direct computation.
struct Op {
    enum Kind { Add, MulMod, Drop, Duplicate, Top3 } kind;
    I a;
};

Op random_op(std::mt19937& rng) {
    const auto roll = rng() % 10;
    const I a = 1 + static_cast<I>(rng() % 9);
    if (roll < 3) return {Op::Add, a};
    if (roll < 5) return {Op::MulMod, a};
    if (roll < 8) return {Op::Drop, 2 + a % 4};
    if (roll < 9) return {Op::Duplicate, a};
    return {Op::Top3, 0};
}

std::vector<I> apply(const Op& op, std::vector<I> in) {
    std::vector<I> out;
    switch (op.kind) {
        case Op::Add:
            for (I x : in) out.push_back(x + op.a);
            break;
        case Op::MulMod:
            for (I x : in) out.push_back((x * op.a) % 10007);
            break;
        case Op::Drop:
            for (I x : in) {
                if (x % op.a != 0) out.push_back(x);
            }
            break;
        case Op::Duplicate:
            for (I x : in) {
                out.push_back(x);
                if (x % 2 == 0) out.push_back(x + 1);
            }
            break;
        case Op::Top3:
            std::sort(in.begin(), in.end(), std::greater<>());
            if (in.size() > 3) in.resize(3);
            out = in;
            break;
    }
    return out;
}

dag::NodeId add_op(Graph<I>& g, const Op& op) {
    switch (op.kind) {
        case Op::Add: return g.add("add", dag::map<I>([a = op.a](I x) { return x + a; }));
        case Op::MulMod: return g.add("mul", dag::map<I>([a = op.a](I x) { return (x * a) % 10007; }));
        case Op::Drop: return g.add("drop", dag::filter<I>([a = op.a](const I& x) { return x % a != 0; }));
        case Op::Duplicate:
            return g.add("dup", dag::flat_map<I>([](I x, std::vector<I>& out) {
                out.push_back(x);
                if (x % 2 == 0) out.push_back(x + 1);
            }));
        case Op::Top3: return g.add("top3", std::make_unique<TopK>(3));
    }
    return 0;
}

}  // namespace

TEST_CASE("dag: property: random DAG shapes give the multiset a direct computation gives", "[dag][property]") {
    constexpr std::uint32_t kBaseSeed = 0x5eedda6u;
    for (std::uint32_t iteration = 0; iteration < 300; ++iteration) {
        const std::uint32_t seed = kBaseSeed + iteration;
        INFO("seed " << seed << " (iteration " << iteration << ")");
        std::mt19937 rng(seed);
        auto capacity = [&] { return 1 + static_cast<std::size_t>(rng() % 64); };

        Graph<I> g;
        std::vector<I> gathered;  // direct computation of what reaches the merge
        std::vector<dag::NodeId> tails;
        const std::size_t width = 1 + rng() % 6;
        for (std::size_t s = 0; s < width; ++s) {
            std::vector<I> items;
            const std::size_t n = rng() % 300;
            for (std::size_t i = 0; i < n; ++i) items.push_back(static_cast<I>(rng() % 1000));
            dag::NodeId tail = g.add("src", dag::from_vector(items));
            const std::size_t chain = rng() % 4;
            for (std::size_t c = 0; c < chain; ++c) {
                const Op op = random_op(rng);
                items = apply(op, std::move(items));
                const dag::NodeId next = add_op(g, op);
                g.connect(tail, next, capacity());
                tail = next;
            }
            gathered.insert(gathered.end(), items.begin(), items.end());
            tails.push_back(tail);
        }
        dag::NodeId tail = tails[0];
        if (width > 1 || rng() % 2 == 0) {
            tail = g.add("merge", dag::merge<I>());
            for (dag::NodeId t : tails) g.connect(t, tail, capacity());
        }
        const std::size_t post = rng() % 4;
        for (std::size_t c = 0; c < post; ++c) {
            const Op op = random_op(rng);
            gathered = apply(op, std::move(gathered));
            const dag::NodeId next = add_op(g, op);
            g.connect(tail, next, capacity());
            tail = next;
        }

        const std::size_t sinks = 1 + rng() % 3;
        const auto mode = rng() % 3;  // broadcast, partition, round robin
        std::vector<dag::NodeRef<dag::CollectSink<I>>> outs;
        for (std::size_t k = 0; k < sinks; ++k) {
            outs.push_back(g.add("sink", dag::collect<I>()));
            g.connect(tail, outs.back(), capacity());
        }
        if (mode == 1) {
            g.fan_out(tail,
                      dag::FanOut<I>::partition([sinks](const I& x) { return static_cast<std::size_t>(x) % sinks; }));
        } else if (mode == 2) {
            g.fan_out(tail, dag::FanOut<I>::round_robin());
        }

        REQUIRE_FALSE(g.validate());
        const std::size_t batch = 1 + rng() % 64;
        Executor<I> exec(std::move(g), {.batch = batch});
        const std::size_t budget = 1 + rng() % 20;
        REQUIRE(drive(exec, budget) == Status::Done);

        const std::vector<I> expected = sorted(gathered);
        if (mode == 0) {
            for (auto& out : outs) CHECK(sorted(out->items()) == expected);
        } else {
            std::vector<I> all;
            for (std::size_t k = 0; k < sinks; ++k) {
                for (I x : outs[k]->items()) {
                    all.push_back(x);
                    if (mode == 1) CHECK(static_cast<std::size_t>(x) % sinks == k);
                }
                if (mode == 2) {
                    const std::size_t fair = expected.size() / sinks;
                    CHECK(outs[k]->items().size() >= fair);
                    CHECK(outs[k]->items().size() <= fair + 1);
                }
            }
            CHECK(sorted(all) == expected);
        }
    }
}
