// A wall clock the test sets by hand, for deterministic HLC behaviour.
#pragma once

#include <topgun/hlc.hpp>

#include <cstdint>

namespace topgun::testing {

struct FakeClock {
    std::uint64_t now = 1'000'000;
    ClockSource source() {
        return [this] { return now; };
    }
};

}  // namespace topgun::testing
