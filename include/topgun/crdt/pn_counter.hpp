// Positive-negative counter (PROTOCOL.md §10.3): per node, a grow-only total of
// increments and one of decrements; value = Σp − Σn; merge takes the per-node
// maximum of each side separately, so merges commute and repeat harmlessly.
//
// Totals are doubles because the TS client's are JS numbers. The wire accepts
// both {p, n} and {positive, negative} (D6); that mapping belongs to the codec,
// this header only holds the state.
#pragma once

#include <topgun/config.hpp>
#include <topgun/crdt/listeners.hpp>

#include <cmath>
#include <map>
#include <string>
#include <utility>

TOPGUN_BEGIN_NAMESPACE

struct PNCounterState {
    // Ordered maps: the value is summed in one order on every replica, so equal
    // states give bit-identical doubles.
    std::map<std::string, double> positive;
    std::map<std::string, double> negative;

    friend bool operator==(const PNCounterState&, const PNCounterState&) = default;
};

struct PNCounterChange {
    double value;  // the counter's value after the change
};

class PNCounter {
public:
    explicit PNCounter(std::string node_id, PNCounterState initial = {})
        : node_id_(std::move(node_id)), state_(std::move(initial)) {}

    const std::string& node_id() const noexcept { return node_id_; }

    double value() const noexcept {
        double sum = 0;
        for (const auto& [node, p] : state_.positive) sum += p;
        for (const auto& [node, n] : state_.negative) sum -= n;
        return sum;
    }

    double increment() { return add(1); }
    double decrement() { return add(-1); }

    // Adds `delta` to this node's positive or negative total and returns the new
    // value. A zero or non-finite delta changes nothing (NaN would otherwise
    // poison the total forever, as it can in the TS client).
    double add(double delta) {
        if (delta == 0 || !std::isfinite(delta)) return value();
        if (delta > 0) {
            state_.positive[node_id_] += delta;
        } else {
            state_.negative[node_id_] += -delta;
        }
        const double v = value();
        if (!listeners_.empty()) listeners_.emit(PNCounterChange{v});
        return v;
    }

    const PNCounterState& state() const noexcept { return state_; }

    // Per-node max, separately for each side. Remote totals that are not above
    // ours (NaN, negatives, older values) are ignored. Returns whether anything
    // changed; listeners hear only of changes.
    bool merge(const PNCounterState& remote) {
        bool changed = merge_side(state_.positive, remote.positive);
        changed = merge_side(state_.negative, remote.negative) || changed;
        if (changed && !listeners_.empty()) listeners_.emit(PNCounterChange{value()});
        return changed;
    }

    // Called synchronously after each change (not on subscription, unlike the TS
    // client: read value() for the current state).
    ListenerId subscribe(Listeners<PNCounterChange>::Callback cb) { return listeners_.add(std::move(cb)); }
    void unsubscribe(ListenerId id) { listeners_.remove(id); }

private:
    static bool merge_side(std::map<std::string, double>& local, const std::map<std::string, double>& remote) {
        bool changed = false;
        for (const auto& [node, total] : remote) {
            // An absent node counts as 0, so only positive totals are taken.
            const auto it = local.find(node);
            const double current = it == local.end() ? 0.0 : it->second;
            if (total > current) {
                local.insert_or_assign(node, total);
                changed = true;
            }
        }
        return changed;
    }

    std::string node_id_;
    PNCounterState state_;
    Listeners<PNCounterChange> listeners_;
};

TOPGUN_END_NAMESPACE
