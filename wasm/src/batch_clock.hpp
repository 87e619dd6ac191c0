// A replica's wall clock. Reading the time calls out to JavaScript, and a
// batch of local writes or merges would read it once per record; inside a
// Batch it is read once (the batch's records share that millisecond and the
// HLC counter orders them, as for any writes within one millisecond).
#pragma once

#include <topgun/hlc.hpp>

#include <cstdint>
#include <optional>

namespace topgun::wasm {

class BatchClock {
public:
    BatchClock() = default;
    BatchClock(const BatchClock&) = delete;  // source() points at this object
    BatchClock& operator=(const BatchClock&) = delete;

    ClockSource source() {
        return [this] { return batch_millis_ ? *batch_millis_ : system_clock_millis(); };
    }

    class Batch {
    public:
        explicit Batch(BatchClock& clock) : clock_(clock) { clock_.batch_millis_ = system_clock_millis(); }
        ~Batch() { clock_.batch_millis_.reset(); }
        Batch(const Batch&) = delete;
        Batch& operator=(const Batch&) = delete;

    private:
        BatchClock& clock_;
    };

private:
    std::optional<std::uint64_t> batch_millis_;
};

}  // namespace topgun::wasm
