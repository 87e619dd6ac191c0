#include "config.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <sstream>

namespace topgun::server {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Every environment value goes through one of these; a bad value names the
// variable, what it holds and what would be accepted.
class EnvReader {
public:
    explicit EnvReader(const EnvLookup& env) : env_(env) {}

    std::optional<std::string> text(const char* name) const {
        auto v = env_(name);
        if (v && v->empty()) return std::nullopt;  // set but empty = unset, as shells often export X=
        return v;
    }

    void flag(const char* name, bool& out) {
        const auto v = text(name);
        if (!v) return;
        const std::string s = lower(*v);
        if (s == "1" || s == "true" || s == "yes" || s == "on") {
            out = true;
        } else if (s == "0" || s == "false" || s == "no" || s == "off") {
            out = false;
        } else {
            fail(name, *v, "1/true/yes/on or 0/false/no/off");
        }
    }

    // A comma list; blanks around items and empty items are dropped.
    void list(const char* name, std::vector<std::string>& out) {
        const auto v = text(name);
        if (!v) return;
        out.clear();
        std::size_t start = 0;
        while (start <= v->size()) {
            const std::size_t comma = std::min(v->find(',', start), v->size());
            std::string item = v->substr(start, comma - start);
            item.erase(0, item.find_first_not_of(" \t"));
            item.erase(item.find_last_not_of(" \t") + 1);
            if (!item.empty()) out.push_back(std::move(item));
            start = comma + 1;
        }
    }

    template <class T>
    void number(const char* name, T& out, T min, T max) {
        const auto v = text(name);
        if (!v) return;
        T parsed{};
        const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
        if (ec != std::errc() || end != v->data() + v->size() || parsed < min || parsed > max) {
            std::ostringstream range;
            range << "a number from " << min << " to " << max;
            fail(name, *v, range.str());
            return;
        }
        out = parsed;
    }

    void millis(const char* name, std::chrono::milliseconds& out, std::int64_t min, std::int64_t max) {
        std::int64_t ms = out.count();
        number(name, ms, min, max);
        out = std::chrono::milliseconds(ms);
    }

    template <class E>
    void choice(const char* name, E& out, std::initializer_list<std::pair<const char*, E>> options) {
        const auto v = text(name);
        if (!v) return;
        const std::string s = lower(*v);
        std::string accepted;
        for (const auto& [spelling, value] : options) {
            if (s == spelling) {
                out = value;
                return;
            }
            accepted += accepted.empty() ? "" : ", ";
            accepted += spelling;
        }
        fail(name, *v, "one of " + accepted);
    }

    void fail(const char* name, const std::string& value, const std::string& expected) {
        if (error_.empty()) error_ = std::string(name) + "=\"" + value + "\" is invalid: expected " + expected;
    }
    const std::string& error() const noexcept { return error_; }

private:
    const EnvLookup& env_;
    std::string error_;
};

}  // namespace

EnvLookup process_env() {
    return [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        if (v == nullptr) return std::nullopt;
        return std::string(v);
    };
}

std::string_view to_string(StorageBackend b) noexcept {
    switch (b) {
        case StorageBackend::Sqlite: return "sqlite";
        case StorageBackend::Postgres: return "postgres";
        case StorageBackend::Memory: return "memory";
    }
    return "?";
}

std::variant<ServerConfig, ConfigError> parse_config(int argc, const char* const* argv, const EnvLookup& env,
                                                     std::string* help_out) {
    ServerConfig c;
    EnvReader e(env);

    // Environment first; flags given on the command line override it.
    if (auto port = e.text("PORT")) {
        std::uint16_t p = 0;
        e.number("PORT", p, std::uint16_t{0}, std::uint16_t{65535});
        c.port = p;
    }
    e.flag("TOPGUN_NO_AUTH", c.no_auth);
    if (auto s = env("JWT_SECRET")) c.jwt_secret = *s;
    c.jwt_issuer = e.text("TOPGUN_JWT_ISSUER");
    c.jwt_audience = e.text("TOPGUN_JWT_AUDIENCE");
    e.flag("INSECURE_FORWARD_AUTH_ERRORS", c.forward_auth_errors);
    e.millis("TOPGUN_AUTH_TIMEOUT_MS", c.auth_timeout, 100, 3'600'000);
    e.millis("TOPGUN_IDLE_TIMEOUT_MS", c.idle_timeout, 100, 86'400'000);
    e.millis("TOPGUN_LOCK_WAIT_MS", c.lock_wait_limit, 0, 3'600'000);
    e.list("TOPGUN_ADMIN_SUBJECTS", c.admin_subjects);
    e.list("TOPGUN_CORS_ORIGINS", c.cors_origins);
    e.flag("TOPGUN_JOURNAL_ENABLED", c.journal_enabled);
    e.number("TOPGUN_JOURNAL_CAPACITY", c.journal_capacity, std::size_t{1}, std::size_t{10'000'000});

    // The reference's embedded engine (redb) has no equivalent here: its name
    // selects our embedded default, so a reference deployment's env just works.
    e.choice("STORAGE_BACKEND", c.storage,
             {{"sqlite", StorageBackend::Sqlite},
              {"redb", StorageBackend::Sqlite},
              {"postgres", StorageBackend::Postgres},
              {"memory", StorageBackend::Memory},
              {"null", StorageBackend::Memory}});
    if (auto s = e.text("DATABASE_URL")) c.database_url = *s;
    const auto sqlite_path_env = e.text("TOPGUN_SQLITE_PATH");
    e.choice("TOPGUN_SQLITE_SYNC", c.sqlite_sync, {{"full", SqliteSync::Full}, {"normal", SqliteSync::Normal}});
    e.millis("TOPGUN_COMMIT_INTERVAL_MS", c.commit_interval, 0, 10'000);
    e.number("TOPGUN_COMMIT_BATCH", c.commit_batch, std::size_t{1}, std::size_t{1'000'000});
    e.number("TOPGUN_MAX_PENDING_WRITES", c.max_pending_mutations, std::size_t{1}, std::size_t{100'000'000});
    e.choice("TOPGUN_WRITE_CONCERN_DEFAULT", c.default_persisted, {{"applied", false}, {"persisted", true}});

    e.number("TOPGUN_MAX_DRIFT_MS", c.max_drift_ms, std::uint64_t{0}, std::uint64_t{86'400'000});
    e.millis("TOPGUN_TOMBSTONE_RETENTION_MS", c.tombstone_retention, 1'000, std::int64_t{1} << 50);
    e.millis("TOPGUN_GC_INTERVAL_MS", c.gc_interval, 100, std::int64_t{1} << 40);
    e.millis("TOPGUN_TTL_SWEEP_INTERVAL_MS", c.ttl_sweep_interval, 100, std::int64_t{1} << 40);

    e.number("TOPGUN_OP_RATE", c.op_rate, 1.0, 1e9);
    e.number("TOPGUN_OP_BURST", c.op_burst, 1.0, 1e9);
    e.number("TOPGUN_MAX_BACKLOG_BYTES", c.max_backlog_bytes, std::size_t{64 * 1024}, std::size_t{1} << 34);
    e.number("TOPGUN_WORKERS", c.workers, 0u, 256u);

    e.choice("TOPGUN_LOG_FORMAT", c.log_format, {{"text", LogFormat::Text}, {"json", LogFormat::Json}});
    if (auto s = e.text("TOPGUN_LOG_LEVEL")) c.log_level = lower(*s);
    if (!e.error().empty()) return ConfigError{e.error()};

    CLI::App app{"topgun-server: the TopGun C++ data grid server"};
    std::optional<std::uint16_t> port_flag;
    std::string data_dir;
    std::uint16_t cluster_port = 0;
    std::string seed_nodes;
    app.add_option("--port", port_flag, "client HTTP/WebSocket port (0 = ephemeral; env PORT; default 8080)");
    app.add_option("--host", c.host, "address peers use to reach this node");
    app.add_option("--node-id", c.node_id, "this node's identity (no ':')");
    app.add_option("--data-dir", data_dir, "directory for the embedded database (topgun.db)");
    app.add_option("--workers", c.workers, "worker threads (0 = one per core; env TOPGUN_WORKERS)");
    app.add_option("--cluster-port", cluster_port, "inter-node port (accepted for compatibility; single node)");
    app.add_option("--seed-nodes", seed_nodes, "cluster seeds (clustering is not available yet)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        if (help_out != nullptr) *help_out = app.help();
        return ConfigError{};
    } catch (const CLI::ParseError& err) {
        return ConfigError{std::string(err.what())};
    }
    if (port_flag) c.port = *port_flag;
    if (c.node_id.empty() || c.node_id.find(':') != std::string::npos) {
        return ConfigError{"--node-id \"" + c.node_id + "\" is invalid: it must be non-empty and contain no ':'"};
    }
    if (!seed_nodes.empty()) {
        return ConfigError{"--seed-nodes: clustering is not available in this version; run without it (single node)"};
    }

    if (sqlite_path_env) {
        c.sqlite_path = *sqlite_path_env;
    } else if (!data_dir.empty()) {
        c.sqlite_path = data_dir + "/topgun.db";
    }

    if (!c.no_auth && c.jwt_secret.empty()) {
        return ConfigError{"JWT_SECRET is required when authentication is on (set TOPGUN_NO_AUTH=1 to run without auth)"};
    }
    if (c.storage == StorageBackend::Postgres && c.database_url.empty()) {
        return ConfigError{"STORAGE_BACKEND=postgres needs DATABASE_URL (e.g. postgresql://user:pass@host/db)"};
    }

    if (auto bind = e.text("TOPGUN_BIND_ADDR")) {
        boost::system::error_code ec;
        boost::asio::ip::make_address(*bind, ec);
        if (ec) return ConfigError{"TOPGUN_BIND_ADDR=\"" + *bind + "\" is invalid: expected an IPv4 or IPv6 address"};
        c.bind_addresses = {*bind};
    } else if (c.no_auth) {
        // No auth: reachable from this machine only, over both families, so
        // "localhost" works whichever address it resolves to first.
        c.bind_addresses = {"127.0.0.1", "::1"};
    } else {
        c.bind_addresses = {"::"};  // dual stack: every interface, IPv4 and IPv6
    }
    return c;
}

}  // namespace topgun::server
