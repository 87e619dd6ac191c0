// A Transport that keeps what would have been written: for driving a
// Connection in-process (protocol tests, the connection fuzz target).
#pragma once

#include "session/transport.hpp"

#include <string>
#include <vector>

namespace topgun::server {

class MemoryTransport final : public Transport {
public:
    void send(SharedFrame frame) override {
        if (!closed) frames.push_back(std::move(frame));
    }
    void close(std::uint16_t code, std::string_view reason) override {
        closed = true;
        close_code = code;
        close_reason = std::string(reason);
    }
    void pause_reading() override { paused = true; }
    void resume_reading() override { paused = false; }

    std::vector<SharedFrame> frames;
    bool closed = false;
    bool paused = false;
    std::uint16_t close_code = 0;
    std::string close_reason;
};

}  // namespace topgun::server
