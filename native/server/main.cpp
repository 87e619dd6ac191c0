// topgun-server: parses the configuration (exit code 2 on a bad one), opens
// storage and loads it, listens, prints `PORT=<n>` on stdout once accepting,
// and on SIGTERM/SIGINT closes every WebSocket with a close frame, flushes
// storage and exits 0.
#include "auth/jwt.hpp"
#include "config.hpp"
#include "net/listener.hpp"
#include "node.hpp"
#include "storage/store.hpp"

#include <topgun/version.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

namespace {

using namespace topgun::server;

constexpr int kExitRuntimeError = 1;
constexpr int kExitBadConfig = 2;

void setup_logging(const ServerConfig& config) {
    auto logger = spdlog::stderr_logger_mt("topgun");
    if (config.log_format == LogFormat::Json) {
        logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"message":"%v"})");
    } else {
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");
    }
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(config.log_level));
}

std::unique_ptr<topgun::storage::Store> open_store(const ServerConfig& config) {
    switch (config.storage) {
        case StorageBackend::Sqlite: {
            topgun::storage::SqliteOptions options;
            options.path = config.sqlite_path;
            options.sync = config.sqlite_sync == SqliteSync::Full ? topgun::storage::SqliteOptions::Sync::Full
                                                                  : topgun::storage::SqliteOptions::Sync::Normal;
            options.on_background_error = [](const std::string& what) { spdlog::error("storage: {}", what); };
            return topgun::storage::open_sqlite_store(options);
        }
        case StorageBackend::Postgres: return topgun::storage::open_postgres_store(config.database_url);
        case StorageBackend::Memory: return nullptr;
    }
    return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    std::string help;
    auto parsed = parse_config(argc, argv, process_env(), &help);
    if (auto* err = std::get_if<ConfigError>(&parsed)) {
        if (!help.empty()) {
            std::cout << help;
            return 0;
        }
        std::cerr << "topgun-server: " << err->message << "\n";
        return kExitBadConfig;
    }
    ServerConfig config = std::get<ServerConfig>(std::move(parsed));
    setup_logging(config);

    std::unique_ptr<topgun::auth::JwtVerifier> verifier;
    if (!config.no_auth) {
        auto created = topgun::auth::JwtVerifier::create(
            topgun::auth::JwtConfig{config.jwt_secret, config.jwt_issuer, config.jwt_audience});
        if (auto* message = std::get_if<std::string>(&created)) {
            std::cerr << "topgun-server: JWT_SECRET is unusable: " << *message << "\n";
            return kExitBadConfig;
        }
        verifier = std::make_unique<topgun::auth::JwtVerifier>(std::get<topgun::auth::JwtVerifier>(std::move(created)));
    }

    // Signals are taken by sigwait below, so every thread must block them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    try {
        const auto load_start = std::chrono::steady_clock::now();
        Node node(config, open_store(config), std::move(verifier));
        const std::size_t loaded = node.load();
        const auto load_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - load_start).count();

        Listener listener(node);
        const std::uint16_t port = listener.bind();
        node.start();
        listener.start();
        node.set_lifecycle(Lifecycle::Ready);
        spdlog::info("topgun-server {} ready: port {}, {} workers, storage {}{}, auth {}, {} records loaded in {} ms",
                     TOPGUN_VERSION_STRING, port, node.shards().size(), to_string(config.storage),
                     config.storage == StorageBackend::Sqlite ? " (" + config.sqlite_path + ")" : std::string(),
                     config.no_auth ? "off" : "JWT", loaded, load_ms);
        std::cout << "PORT=" << port << std::endl;  // the readiness line; endl flushes

        int signal = 0;
        sigwait(&signals, &signal);
        spdlog::info("signal {}: shutting down", signal);
        node.set_lifecycle(Lifecycle::Draining);
        listener.stop();
        node.close_all_connections(std::chrono::seconds(2));
        node.stop();
        spdlog::info("stopped cleanly");
        return 0;
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return kExitRuntimeError;
    }
}
