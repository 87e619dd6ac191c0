// The server's configuration: command-line flags and environment variables,
// drop-in compatible with the reference `topgun-server` (UPSTREAM.md §2) plus
// our own knobs. Parsing never exits: it returns the configuration or an error
// message that main() prints before exiting with code 2.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace topgun::server {

enum class StorageBackend { Sqlite, Postgres, Memory };
enum class LogFormat { Text, Json };
enum class SqliteSync { Normal, Full };

struct ServerConfig {
    // --- network
    std::uint16_t port = 8080;     // 0 = ephemeral
    std::string host = "127.0.0.1";  // what peers use to reach this node (PARTITION_MAP)
    std::vector<std::string> bind_addresses;  // resolved: explicit TOPGUN_BIND_ADDR, or the defaults below
    std::string node_id = "topgun-server-node";
    unsigned workers = 0;  // 0 = one per core

    // --- auth
    bool no_auth = false;
    std::string jwt_secret;
    std::optional<std::string> jwt_issuer;
    std::optional<std::string> jwt_audience;
    bool forward_auth_errors = false;  // INSECURE_FORWARD_AUTH_ERRORS
    std::chrono::milliseconds auth_timeout{10'000};
    std::chrono::milliseconds idle_timeout{60'000};
    // How long a LOCK_REQUEST for a held lock waits before it is denied
    // (under the TS client's own minimum wait of 5 s).
    std::chrono::milliseconds lock_wait_limit{4'000};
    std::vector<std::string> admin_subjects;  // TOPGUN_ADMIN_SUBJECTS: JWT subjects that bypass access policies
    std::vector<std::string> cors_origins;    // TOPGUN_CORS_ORIGINS: origins allowed cross-origin (`*`: any)
    bool journal_enabled = true;         // TOPGUN_JOURNAL_ENABLED
    std::size_t journal_capacity = 10'000;  // events the journal keeps (TOPGUN_JOURNAL_CAPACITY)

    // --- storage
    StorageBackend storage = StorageBackend::Sqlite;
    std::string sqlite_path = "./topgun.db";
    SqliteSync sqlite_sync = SqliteSync::Full;
    std::string database_url;
    std::chrono::milliseconds commit_interval{0};  // group commit linger: 0 = commit as soon as the writer is free
    std::size_t commit_batch = 8192;                 // mutations per transaction at most
    bool default_persisted = false;                  // ack unqualified writes PERSISTED instead of APPLIED
    std::size_t max_pending_mutations = 100'000;     // storage backlog beyond which new writes get ERROR 429

    // --- data
    std::uint64_t max_drift_ms = 60'000;  // a client timestamp further ahead is rejected (D1)
    std::chrono::milliseconds tombstone_retention{std::chrono::hours(24 * 7)};
    std::chrono::milliseconds gc_interval{std::chrono::minutes(10)};
    std::chrono::milliseconds ttl_sweep_interval{std::chrono::seconds(30)};

    // --- per-connection limits (PROTOCOL.md §1.3, §12.4)
    std::size_t max_frame_bytes = 2 * 1024 * 1024;
    double op_rate = 20'000;   // ops per second, sustained
    double op_burst = 40'000;  // ops
    std::size_t max_inflight_batches = 32;          // per connection; beyond, reading pauses
    std::size_t max_backlog_bytes = 16 * 1024 * 1024;  // queued outbound bytes before a slow consumer is dropped

    // --- logs
    LogFormat log_format = LogFormat::Text;
    std::string log_level = "info";
};

struct ConfigError {
    std::string message;
};

// Reads `getenv` through `env` so tests can supply their own environment.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup process_env();

// The configuration from argv and the environment, or what is wrong with it.
// `--help` output goes to `help_out` and yields nothing with an empty message.
std::variant<ServerConfig, ConfigError> parse_config(int argc, const char* const* argv, const EnvLookup& env,
                                                     std::string* help_out = nullptr);

std::string_view to_string(StorageBackend b) noexcept;

}  // namespace topgun::server
