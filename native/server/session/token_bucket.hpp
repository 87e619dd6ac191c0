// The per-connection op-rate limiter (PROTOCOL.md §1.3 item 5): a token
// bucket refilled at `rate` tokens per second up to `burst`; each inner op
// costs one token.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace topgun::server {

class TokenBucket {
public:
    using Clock = std::chrono::steady_clock;

    TokenBucket(double rate, double burst, Clock::time_point now) : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

    // Takes `cost` tokens if there are that many; otherwise takes none. A cost
    // above the burst is charged as the whole burst (as the reference does), so
    // one large batch, such as a client's replayed offline op log, can pass on
    // a full bucket instead of being refused forever.
    bool try_take(std::size_t cost, Clock::time_point now) {
        refill(now);
        const double c = std::min(static_cast<double>(cost), burst_);
        if (c > tokens_) return false;
        tokens_ -= c;
        return true;
    }

private:
    void refill(Clock::time_point now) {
        if (now <= last_) return;
        tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
        last_ = now;
    }

    double rate_;
    double burst_;
    double tokens_;
    Clock::time_point last_;
};

}  // namespace topgun::server
