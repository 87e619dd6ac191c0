// Runs the real topgun-server binary for process-level tests: environment,
// the `PORT=<n>` readiness line, signals and exit codes; and a synchronous
// Beast WebSocket client that speaks raw protocol frames to it.
#pragma once

#include <topgun/protocol/codec.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace topgun::server::testing {

inline std::string server_binary() {
    if (const char* p = std::getenv("TOPGUN_SERVER_BINARY")) return p;
    return TOPGUN_SERVER_BINARY;  // set by CMake
}

class ServerProcess {
public:
    using Env = std::map<std::string, std::string>;

    // Starts the server with `env` added to a minimal environment; waits for
    // PORT= (or for the process to exit, e.g. on a bad configuration).
    explicit ServerProcess(Env env, std::vector<std::string> args = {"--port", "0"}) {
        int out[2];
        REQUIRE(pipe(out) == 0);
        pid_ = fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            dup2(out[1], STDOUT_FILENO);
            close(out[0]);
            close(out[1]);
            std::vector<std::string> env_strings{"PATH=/usr/bin:/bin"};
            // TOPGUN_TEST_SERVER_LOG_LEVEL=debug shows the servers' logs when a test needs them.
            const char* level = std::getenv("TOPGUN_TEST_SERVER_LOG_LEVEL");
            if (!env.count("TOPGUN_LOG_LEVEL")) env_strings.push_back(std::string("TOPGUN_LOG_LEVEL=") + (level ? level : "warn"));
            for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
            std::vector<char*> envp;
            for (auto& s : env_strings) envp.push_back(s.data());
            envp.push_back(nullptr);
            std::string bin = server_binary();
            std::vector<char*> argv{bin.data()};
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execve(bin.c_str(), argv.data(), envp.data());
            _exit(127);
        }
        close(out[1]);
        stdout_fd_ = out[0];
        port_ = read_port(std::chrono::seconds(20));
    }
    ~ServerProcess() {
        if (running()) kill_now();
        if (stdout_fd_ >= 0) close(stdout_fd_);
    }
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    pid_t pid() const { return pid_; }
    std::optional<std::uint16_t> port() const { return port_; }
    std::uint16_t require_port() const {
        REQUIRE(port_.has_value());
        return *port_;
    }
    const std::string& stdout_text() const { return stdout_; }

    bool running() {
        if (exited_) return false;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            status_ = status;
            return false;
        }
        return true;
    }

    // Sends `signal` and waits up to `limit` for the exit; the exit code, or -1 on timeout.
    int signal_and_wait(int signal, std::chrono::milliseconds limit) {
        ::kill(pid_, signal);
        return wait_exit(limit);
    }
    int wait_exit(std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (running()) {
            if (std::chrono::steady_clock::now() > deadline) return -1;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
    }
    void kill_now() {
        ::kill(pid_, SIGKILL);
        wait_exit(std::chrono::seconds(10));
    }

private:
    std::optional<std::uint16_t> read_port(std::chrono::seconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        char buf[256];
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{stdout_fd_, POLLIN, 0};
            if (poll(&p, 1, 50) > 0) {
                const ssize_t n = read(stdout_fd_, buf, sizeof buf);
                if (n <= 0) return std::nullopt;  // stdout closed: the process ended
                stdout_.append(buf, static_cast<std::size_t>(n));
                const auto at = stdout_.find("PORT=");
                const auto end = stdout_.find('\n', at);
                if (at != std::string::npos && end != std::string::npos) {
                    return static_cast<std::uint16_t>(std::stoi(stdout_.substr(at + 5, end - at - 5)));
                }
            }
            if (!running()) return std::nullopt;
        }
        return std::nullopt;
    }

    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    std::string stdout_;
    std::optional<std::uint16_t> port_;
    bool exited_ = false;
    int status_ = 0;
};

// A blocking WebSocket client with a read deadline.
class WsClient {
public:
    WsClient(const std::string& host, std::uint16_t port, const std::string& path = "/") : ws_(io_) {
        namespace beast = boost::beast;
        boost::asio::ip::tcp::resolver resolver(io_);
        const auto results = resolver.resolve(host, std::to_string(port));
        beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(5));
        beast::get_lowest_layer(ws_).connect(results);
        beast::get_lowest_layer(ws_).expires_never();
        ws_.binary(true);
        ws_.handshake(host, path);
    }

    template <class M>
    void send(const M& message) {
        send_bytes(protocol::encode_message(message));
    }
    void send_bytes(const Bytes& frame) { ws_.write(boost::asio::buffer(frame)); }

    // The next message, or nothing when `limit` passes or the socket closes.
    std::optional<protocol::Message> receive(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
        namespace beast = boost::beast;
        beast::flat_buffer buffer;
        beast::error_code error;
        bool done = false;
        ws_.async_read(buffer, [&](beast::error_code ec, std::size_t) {
            error = ec;
            done = true;
        });
        io_.restart();
        io_.run_for(limit);
        if (!done) {
            beast::get_lowest_layer(ws_).cancel();
            io_.restart();
            io_.run();
            return std::nullopt;
        }
        if (error) {
            last_error_ = error;
            return std::nullopt;
        }
        const auto data = buffer.cdata();
        auto decoded = protocol::decode_message({static_cast<const std::uint8_t*>(data.data()), data.size()});
        REQUIRE(decoded);
        return std::move(decoded.message());
    }

    template <class M>
    M receive_as(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
        auto m = receive(limit);
        REQUIRE(m.has_value());
        auto* typed = std::get_if<M>(&*m);
        INFO("got " << protocol::type_name(*m));
        REQUIRE(typed != nullptr);
        return std::move(*typed);
    }

    // The close frame's code once the server closed the socket.
    std::optional<std::uint16_t> close_code() const {
        if (last_error_ != boost::beast::websocket::error::closed) return std::nullopt;
        return static_cast<std::uint16_t>(ws_.reason().code);
    }

private:
    boost::asio::io_context io_;
    boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
    boost::beast::error_code last_error_;
};

}  // namespace topgun::server::testing
