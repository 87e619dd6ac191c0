// PnCounter: a positive-negative counter for JavaScript. Its state travels in
// the wire form of COUNTER_SYNC / COUNTER_UPDATE (both spellings, p/n and
// positive/negative, so the reference client and server both read it).
#include "js_bytes.hpp"

#include <topgun/crdt/pn_counter.hpp>
#include <topgun/protocol/codec.hpp>
#include <topgun/protocol/common.hpp>

#include <emscripten/bind.h>

#include <string>

namespace topgun::wasm {

class PnCounter {
public:
    explicit PnCounter(const std::string& node_id) : counter_(node_id) {}

    double add(double delta) { return counter_.add(delta); }
    double value() const { return counter_.value(); }

    emscripten::val state() const {
        return encoded(protocol::PNCounterStateData::from(counter_.state()));
    }

    // A state in the wire form in; true when it changed the value, or `{error}`.
    emscripten::val merge(const emscripten::val& state) {
        return with_input<protocol::PNCounterStateData>(state, "merge", [&](const protocol::PNCounterStateData& remote) {
            return emscripten::val(counter_.merge(remote.to_state()));
        });
    }

private:
    PNCounter counter_;
};

EMSCRIPTEN_BINDINGS(topgun_pn_counter) {
    emscripten::class_<PnCounter>("PnCounter")
        .constructor<const std::string&>()
        .function("add", &PnCounter::add)
        .function("value", &PnCounter::value)
        .function("state", &PnCounter::state)
        .function("merge", &PnCounter::merge);
}

}  // namespace topgun::wasm
