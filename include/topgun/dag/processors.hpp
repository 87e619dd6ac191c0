// Reusable processors for DAGs (the model is in executor.hpp). Each is a
// template over the item type and its callable, so the per-item call is
// inlined into the batch loop; the factories spell the types for you:
//
//   from_vector<T>(items)        source moving out of a vector
//   from_generator<T>(g)         source calling g() -> std::optional<T> until empty
//   map<T>(f)                    f(T&&) -> T
//   try_map<T>(f)                f(T&&, std::string& error) -> std::optional<T>;
//                                an empty result fails the processor with `error`
//   filter<T>(p)                 keeps items with p(const T&)
//   flat_map<T>(f)               f(T&&, std::vector<T>& out) appends 0..n items
//   merge<T>()                   passes items through; with several inbound
//                                edges it is the gather stage of scatter/gather
//   aggregate<T>(state, acc, fin) acc(S&, T&&) per item; fin(S&&, std::vector<T>&)
//                                once inputs are exhausted, emitted under backpressure
//   collect<T>()                 sink keeping the items and how the run ended
//   for_each<T>(f)               sink calling f(T&&)
//
// Processors that expand items (flat_map, aggregate) keep what does not fit
// in the outbox and emit it at their next activation, so no item is lost or
// reordered and memory stays bounded by what one input produces.
#pragma once

#include <topgun/config.hpp>
#include <topgun/dag/ports.hpp>
#include <topgun/dag/processor.hpp>
#include <topgun/dag/queue.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace dag {

namespace detail {

// Items an expanding processor produced but could not push yet.
template <Item T>
class Pending {
public:
    std::vector<T>& buffer() noexcept { return items_; }
    // Pushes what fits; true when nothing is left.
    bool flush(Outbox<T>& out) {
        for (std::size_t room = out.room(); next_ < items_.size() && room > 0; --room) {
            out.push(std::move(items_[next_++]));
        }
        if (next_ < items_.size()) return false;
        items_.clear();
        next_ = 0;
        return true;
    }

private:
    std::vector<T> items_;
    std::size_t next_ = 0;
};

}  // namespace detail

template <Item T>
class VectorSource final : public Source<T> {
public:
    explicit VectorSource(std::vector<T> items) : items_(std::move(items)) {}
    bool generate(Outbox<T>& out) override {
        for (std::size_t room = out.room(); next_ < items_.size() && room > 0; --room) {
            out.push(std::move(items_[next_++]));
        }
        return next_ == items_.size();
    }

private:
    std::vector<T> items_;
    std::size_t next_ = 0;
};

template <Item T, class G>
    requires std::is_invocable_r_v<std::optional<T>, G&>
class GeneratorSource final : public Source<T> {
public:
    explicit GeneratorSource(G g) : g_(std::move(g)) {}
    bool generate(Outbox<T>& out) override {
        for (std::size_t room = out.room(); room > 0; --room) {
            std::optional<T> item = g_();
            if (!item) return true;
            out.push(std::move(*item));
        }
        return false;
    }

private:
    G g_;
};

template <Item T, class F>
    requires std::is_invocable_r_v<T, F&, T&&>
class Map final : public Processor<T> {
public:
    explicit Map(F f) : Processor<T>(Role::Transform), f_(std::move(f)) {}
    void process(Inbox<T>& in, Outbox<T>& out) override {
        in.drain(out.room(), [&](T& item) { out.push(f_(std::move(item))); });
    }

private:
    F f_;
};

template <Item T, class F>
    requires std::is_invocable_r_v<std::optional<T>, F&, T&&, std::string&>
class TryMap final : public Processor<T> {
public:
    explicit TryMap(F f) : Processor<T>(Role::Transform), f_(std::move(f)) {}
    void process(Inbox<T>& in, Outbox<T>& out) override {
        std::string error;
        in.drain(out.room(), [&](T& item) {
            if (this->failed()) return;  // the graph stops after this batch
            std::optional<T> result = f_(std::move(item), error);
            if (result) {
                out.push(std::move(*result));
            } else {
                this->fail(error.empty() ? std::string("item rejected") : std::move(error));
            }
        });
    }

private:
    F f_;
};

template <Item T, class P>
    requires std::is_invocable_r_v<bool, P&, const T&>
class Filter final : public Processor<T> {
public:
    explicit Filter(P p) : Processor<T>(Role::Transform), p_(std::move(p)) {}
    void process(Inbox<T>& in, Outbox<T>& out) override {
        in.drain(out.room(), [&](T& item) {
            if (p_(static_cast<const T&>(item))) out.push(std::move(item));
        });
    }

private:
    P p_;
};

template <Item T, class F>
    requires std::is_invocable_v<F&, T&&, std::vector<T>&>
class FlatMap final : public Processor<T> {
public:
    explicit FlatMap(F f) : Processor<T>(Role::Transform), f_(std::move(f)) {}
    void process(Inbox<T>& in, Outbox<T>& out) override {
        // One input at a time: its outputs may not all fit.
        while (pending_.flush(out) && out.room() > 0) {
            if (in.drain(1, [&](T& item) { f_(std::move(item), pending_.buffer()); }) == 0) return;
        }
    }
    bool complete(Outbox<T>& out) override { return pending_.flush(out); }

private:
    F f_;
    detail::Pending<T> pending_;
};

template <Item T>
class Merge final : public Processor<T> {
public:
    Merge() noexcept : Processor<T>(Role::Transform) {}
    void process(Inbox<T>& in, Outbox<T>& out) override {
        in.drain(out.room(), [&](T& item) { out.push(std::move(item)); });
    }
};

template <Item T, class S, class A, class F>
    requires std::is_invocable_v<A&, S&, T&&> && std::is_invocable_v<F&, S&&, std::vector<T>&>
class Aggregate final : public Processor<T> {
public:
    Aggregate(S state, A accumulate, F finish)
        : Processor<T>(Role::Transform),
          state_(std::move(state)),
          accumulate_(std::move(accumulate)),
          finish_(std::move(finish)) {}
    void process(Inbox<T>& in, Outbox<T>& /*out*/) override {
        in.drain([&](T& item) { accumulate_(state_, std::move(item)); });
    }
    bool complete(Outbox<T>& out) override {
        if (!finished_) {
            finish_(std::move(state_), pending_.buffer());
            finished_ = true;
        }
        return pending_.flush(out);
    }

private:
    S state_;
    A accumulate_;
    F finish_;
    bool finished_ = false;
    detail::Pending<T> pending_;
};

template <Item T>
class CollectSink final : public Processor<T> {
public:
    CollectSink() noexcept : Processor<T>(Role::Sink) {}
    void process(Inbox<T>& in, Outbox<T>& /*out*/) override {
        in.drain([&](T& item) { items_.push_back(std::move(item)); });
    }
    bool complete(Outbox<T>& /*out*/) override {
        completed_ = true;
        return true;
    }
    void on_abort(const Outcome& outcome) override { aborted_ = outcome; }

    std::vector<T>& items() noexcept { return items_; }
    // Every input was exhausted and consumed.
    bool completed() const noexcept { return completed_; }
    // How the graph stopped early (cancelled or failed), if it did.
    const std::optional<Outcome>& aborted() const noexcept { return aborted_; }

private:
    std::vector<T> items_;
    bool completed_ = false;
    std::optional<Outcome> aborted_;
};

template <Item T, class F>
    requires std::is_invocable_v<F&, T&&>
class ForEachSink final : public Processor<T> {
public:
    explicit ForEachSink(F f) : Processor<T>(Role::Sink), f_(std::move(f)) {}
    void process(Inbox<T>& in, Outbox<T>& /*out*/) override {
        in.drain([&](T& item) { f_(std::move(item)); });
    }

private:
    F f_;
};

template <Item T>
std::unique_ptr<VectorSource<T>> from_vector(std::vector<T> items) {
    return std::make_unique<VectorSource<T>>(std::move(items));
}
template <Item T, class G>
std::unique_ptr<GeneratorSource<T, G>> from_generator(G g) {
    return std::make_unique<GeneratorSource<T, G>>(std::move(g));
}
template <Item T, class F>
std::unique_ptr<Map<T, F>> map(F f) {
    return std::make_unique<Map<T, F>>(std::move(f));
}
template <Item T, class F>
std::unique_ptr<TryMap<T, F>> try_map(F f) {
    return std::make_unique<TryMap<T, F>>(std::move(f));
}
template <Item T, class P>
std::unique_ptr<Filter<T, P>> filter(P p) {
    return std::make_unique<Filter<T, P>>(std::move(p));
}
template <Item T, class F>
std::unique_ptr<FlatMap<T, F>> flat_map(F f) {
    return std::make_unique<FlatMap<T, F>>(std::move(f));
}
template <Item T>
std::unique_ptr<Merge<T>> merge() {
    return std::make_unique<Merge<T>>();
}
template <Item T, class S, class A, class F>
std::unique_ptr<Aggregate<T, S, A, F>> aggregate(S state, A accumulate, F finish) {
    return std::make_unique<Aggregate<T, S, A, F>>(std::move(state), std::move(accumulate), std::move(finish));
}
template <Item T>
std::unique_ptr<CollectSink<T>> collect() {
    return std::make_unique<CollectSink<T>>();
}
template <Item T, class F>
std::unique_ptr<ForEachSink<T, F>> for_each(F f) {
    return std::make_unique<ForEachSink<T, F>>(std::move(f));
}

}  // namespace dag
TOPGUN_END_NAMESPACE
