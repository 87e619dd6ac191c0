// SqliteStore: a write-ahead log of SQLite files folded into one keyed database.
//
// Why a log in front of the keyed tables: every write is acknowledged only
// after its commit, and an upsert into a B-tree rewrites its whole page. With
// random keys over a large table (a map with 1M keys, or 100k), each commit of
// a few hundred upserts touched a few hundred 4 KB pages and PERSISTED writes
// ran at ~30k/s. Appending rows to a log is sequential (~150 bytes per change,
// a few pages per commit), and the fold that moves them into the keyed tables
// runs off the commit path, visits the keys in order, keeps only the last
// change per key, and rewrites each touched page once per fold, however many
// changes it holds.
//
// Files (`path` is SqliteOptions::path):
//   path            the keyed database (schema version 2, WAL mode):
//     schema_version(version)
//     lww(map, key, millis, counter, node, ttl, value)  PK(map, key)   value NULL = tombstone
//     or_records(map, key, tag, millis, counter, node, ttl, value)  PK(map, key, tag)
//     or_tombstones(map, tag)  PK(map, tag)
//     meta(ns, key, value)  PK(ns, key)
//     fold_state(generation)  the last log generation folded in
//   path-log.N      log generation N (WAL mode, never checkpointed: it is read
//                   once by its fold and deleted):
//     log(seq, changes)  one row per write(): its changes as one MsgPack blob
//                        (the format is at encode_change below)
// Every keyed table is WITHOUT ROWID, so a row lives in its primary key's
// B-tree. Timestamps are columns (millis and ttl are uint64 stored as the int64
// with the same bits), values exact MsgPack blobs (value_codec.hpp): the files
// can be inspected with the sqlite3 shell.
//
// Writes (the WriteBehind thread): the batch encoded into one blob, inserted in
// one transaction on the active generation; durable when it returns. One row
// per batch rather than per change: a row costs SQLite ~1.5 us of CPU, the
// encoding a tenth of that, and this thread shares two cores with the server.
// The fold (its own thread, and on open, load and close): seal the active
// generation (open the next one and swap, so writers wait only for a pointer
// swap), and in one transaction on the keyed database: read its changes in
// pieces of about fold_chunk_bytes, sort each piece by (table, map, key, newest
// first) and apply the newest per key; record the generation in fold_state; then delete the file. A crash before that
// commit leaves the generation to the next open; a crash after it leaves a file
// whose number is <= fold_state, which the next open deletes unread. Changes
// carry final states (store.hpp), so the last one per key is the whole story.
//
// Bounds: a fold starts once the log holds twice as many changes as the keyed
// tables hold rows, within [fold_min_rows, fold_max_rows], or fold_max_bytes, and
// after fold_idle without writes. The fold holds one piece in memory. While the
// active log is twice the maximum, writes wait for the fold,
// and fail as Transient after kFoldWaitLimit (WriteBehind retries; the server
// sheds load on its backlog). Restart folds what is left: at most two
// generations.
#include "storage/store.hpp"
#include "storage/value_codec.hpp"

#include <topgun/msgpack/reader.hpp>
#include <topgun/msgpack/writer.hpp>

#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace topgun::storage {
namespace {

using Kind = StoreError::Kind;
using Clock = std::chrono::steady_clock;

// How long a write waits for a fold that is far behind before it fails.
constexpr auto kFoldWaitLimit = std::chrono::seconds(1);
// Close folds the active log when it is at most this long (fast enough for a
// shutdown); a longer one is folded by the next open.
constexpr std::size_t kFoldOnCloseRows = 50'000;
// The longest pause between retries of a failing fold.
constexpr auto kFoldRetryMax = std::chrono::seconds(5);


Kind kind_of(int rc) noexcept {
    switch (rc & 0xFF) {
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
        case SQLITE_FORMAT: return Kind::Fatal;
        case SQLITE_TOOBIG:
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE: return Kind::Rejected;
        default: return Kind::Transient;  // full, I/O, busy, locked, read-only, out of memory, ...
    }
}

class Statement {
public:
    Statement() = default;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement() { finalize(); }

    int try_prepare(sqlite3* db, const char* sql) noexcept {
        finalize();
        return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    }
    sqlite3_stmt* get() const noexcept { return stmt_; }
    void finalize() noexcept {
        sqlite3_finalize(stmt_);
        stmt_ = nullptr;
    }

    // Bindings point into memory the caller keeps alive until the step.
    void text(int i, std::string_view s) {
        sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    }
    void blob(int i, std::span<const std::uint8_t> b) {
        // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
        static const std::uint8_t empty = 0;
        sqlite3_bind_blob(stmt_, i, b.empty() ? &empty : b.data(), static_cast<int>(b.size()), SQLITE_STATIC);
    }
    void integer(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
    void unsigned64(int i, std::uint64_t v) { sqlite3_bind_int64(stmt_, i, static_cast<std::int64_t>(v)); }
    void null(int i) { sqlite3_bind_null(stmt_, i); }
    void optional_u64(int i, const std::optional<std::uint64_t>& v) {
        if (v) {
            unsigned64(i, *v);
        } else {
            null(i);
        }
    }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

std::string_view column_text(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    return p == nullptr ? std::string_view()
                        : std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}
std::span<const std::uint8_t> column_blob(sqlite3_stmt* s, int i) {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
    return {p, p == nullptr ? 0 : static_cast<std::size_t>(sqlite3_column_bytes(s, i))};
}
std::optional<std::uint64_t> column_optional_u64(sqlite3_stmt* s, int i) {
    if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
    return static_cast<std::uint64_t>(sqlite3_column_int64(s, i));
}

// One connection, with errors that name the file. Statements prepared on it
// must be finalized first: declare them after the Database they use.
class Database {
public:
    explicit Database(std::string path) : path_(std::move(path)) {}
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    ~Database() { close(); }

    const std::string& path() const noexcept { return path_; }
    sqlite3* get() const noexcept { return db_; }

    [[noreturn]] void fail(Kind kind, const std::string& what) const {
        throw StoreError(kind, "SQLite database '" + path_ + "': " + what);
    }
    [[noreturn]] void fail_rc(int rc, const std::string& what) const {
        if ((rc & 0xFF) == SQLITE_NOTADB) fail(Kind::Fatal, "the file is not a SQLite database (" + what + ")");
        fail(kind_of(rc), what + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)));
    }

    // NOMUTEX: the owner serialises all use of a connection.
    void open(bool create) {
        const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
        const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
        if (rc != SQLITE_OK) {
            const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
            close();
            fail(kind_of(rc), "cannot open: " + message);
        }
        sqlite3_extended_result_codes(db_, 1);
        // Another process holding the write lock (a second server on the same
        // file, the sqlite3 shell) is waited for, then reported as Transient.
        sqlite3_busy_timeout(db_, 5000);
    }
    void close() noexcept {
        sqlite3_close(db_);
        db_ = nullptr;
    }

    // Closing the last connection to a WAL database normally copies the WAL
    // back into it; pointless for a log file that is about to be deleted.
    void checkpoint_on_close(bool on) noexcept {
        sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on ? 0 : 1, nullptr);
    }

    void enable_wal(SqliteOptions::Sync sync) {
        // The first statement reads the header: a file that is not a database fails here.
        const std::string mode = query_text("PRAGMA journal_mode=WAL", "cannot enable WAL mode");
        if (mode != "wal") fail(Kind::Fatal, "cannot enable WAL mode (journal_mode is '" + mode + "')");
        exec(sync == SqliteOptions::Sync::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
             "cannot set synchronous");
    }

    void exec(const std::string& sql, const std::string& what) {
        char* error = nullptr;
        const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
        if (rc != SQLITE_OK) {
            const std::string message = error != nullptr ? error : sqlite3_errstr(rc);
            sqlite3_free(error);
            fail(kind_of(rc), what + ": " + message);
        }
    }

    // The first column of the first row as text ("" when there is none).
    std::string query_text(const std::string& sql, const std::string& what) {
        Statement s;
        int rc = s.try_prepare(db_, sql.c_str());
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(s.get());
            if (rc == SQLITE_ROW) return std::string(column_text(s.get(), 0));
            if (rc == SQLITE_DONE) return {};
        }
        fail_rc(rc, what);
    }
    std::int64_t query_integer(const std::string& sql, const std::string& what) {
        const std::string text = query_text(sql, what);
        std::int64_t n = 0;
        std::from_chars(text.data(), text.data() + text.size(), n);
        return n;
    }

    void prepare(Statement& s, const char* sql) {
        const int rc = s.try_prepare(db_, sql);
        if (rc != SQLITE_OK) fail_rc(rc, std::string("cannot prepare \"") + sql + "\"");
    }

    // Runs a statement to completion; its bindings are left in place.
    void step(Statement& s, const char* what) {
        const int rc = sqlite3_step(s.get());
        if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
            sqlite3_reset(s.get());
            return;
        }
        const std::string message = sqlite3_errmsg(db_);
        sqlite3_reset(s.get());
        fail(kind_of(rc), std::string(what) + " failed: " + message);
    }

    // Steps a SELECT, calling row() per row; the statement is reset at the end.
    template <class Row>
    void scan(Statement& s, const char* what, Row&& row) {
        sqlite3_stmt* st = s.get();
        int rc;
        try {
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
        } catch (...) {
            sqlite3_reset(st);
            throw;
        }
        if (rc != SQLITE_DONE) {
            const std::string message = sqlite3_errmsg(db_);
            sqlite3_reset(st);
            fail(kind_of(rc), std::string("reading ") + what + " failed: " + message);
        }
        sqlite3_reset(st);
    }

    void rollback() noexcept {
        // After some errors (disk full, I/O) SQLite has already rolled back.
        if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }

private:
    std::string path_;
    sqlite3* db_ = nullptr;
};

constexpr const char* kCreateSchema = R"sql(
CREATE TABLE lww (
    map TEXT NOT NULL, key TEXT NOT NULL,
    millis INTEGER NOT NULL, counter INTEGER NOT NULL, node TEXT NOT NULL, ttl INTEGER,
    value BLOB,
    PRIMARY KEY (map, key)) WITHOUT ROWID;
CREATE TABLE or_records (
    map TEXT NOT NULL, key TEXT NOT NULL, tag TEXT NOT NULL,
    millis INTEGER NOT NULL, counter INTEGER NOT NULL, node TEXT NOT NULL, ttl INTEGER,
    value BLOB NOT NULL,
    PRIMARY KEY (map, key, tag)) WITHOUT ROWID;
CREATE TABLE or_tombstones (
    map TEXT NOT NULL, tag TEXT NOT NULL,
    PRIMARY KEY (map, tag)) WITHOUT ROWID;
CREATE TABLE meta (
    ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (ns, key)) WITHOUT ROWID;
)sql";

// Version 1 had no log: its tables are all in the keyed database already.
constexpr const char* kCreateFoldState =
    "CREATE TABLE fold_state (generation INTEGER NOT NULL); INSERT INTO fold_state VALUES (0);";

// user_version 1 of a log file.
constexpr int kLogFormat = 1;
constexpr const char* kCreateLog =
    "CREATE TABLE log (seq INTEGER PRIMARY KEY, changes BLOB NOT NULL); PRAGMA user_version = 1;";

// --- the log's change records ---------------------------------------------------------------------------
//
// A log row's blob is a MsgPack array of changes, each an array:
//   [0, map, key, millis, counter, node, ttl|nil, value|nil]   LwwPut (a nil value: tombstone)
//   [1, map, key]                                              LwwErase
//   [2, map, key, [[tag, millis, counter, node, ttl|nil, value], ...]]  OrKeyPut
//   [3, map, [tag, ...]]   OrTombstonesAdd       [4, map, [tag, ...]]  OrTombstonesErase
//   [5, ns, key, value]    MetaPut (binary)      [6, ns, key]          MetaErase
// Names, keys, tags and node ids are MsgPack binaries (SQLite keys may hold
// any bytes); values are value_codec's exact encoding, inline, so the fold
// binds their bytes as they are.
enum ChangeKind : std::uint64_t {
    kLwwPut,
    kLwwErase,
    kOrKeyPut,
    kTombstonesAdd,
    kTombstonesErase,
    kMetaPut,
    kMetaErase
};

constexpr msgpack::Limits kChangeLimits{kMaxValueDepth + 4, std::numeric_limits<std::size_t>::max()};

void encode_name(msgpack::Writer& out, std::string_view s) {
    out.binary({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}
void encode_stamp(msgpack::Writer& out, const Timestamp& ts, const std::optional<std::uint64_t>& ttl) {
    out.number(ts.millis);
    out.number(ts.counter);
    encode_name(out, ts.node_id);
    if (ttl) {
        out.number(*ttl);
    } else {
        out.nil();
    }
}

// Appends one change; throws StoreError(Rejected) for a value too deep to store.
void encode_change(msgpack::Writer& out, const Mutation& m) {
    std::visit(
        [&](const auto& op) {
            using T = std::decay_t<decltype(op)>;
            if constexpr (std::is_same_v<T, LwwPut>) {
                out.array_header(8);
                out.number(std::uint64_t{kLwwPut});
                encode_name(out, op.map);
                encode_name(out, op.key);
                encode_stamp(out, op.record.timestamp, op.record.ttl_ms);
                if (op.record.is_tombstone()) {
                    out.nil();
                } else {
                    encode_value(out, op.record.value);
                }
            } else if constexpr (std::is_same_v<T, LwwErase>) {
                out.array_header(3);
                out.number(std::uint64_t{kLwwErase});
                encode_name(out, op.map);
                encode_name(out, op.key);
            } else if constexpr (std::is_same_v<T, OrKeyPut>) {
                out.array_header(4);
                out.number(std::uint64_t{kOrKeyPut});
                encode_name(out, op.map);
                encode_name(out, op.key);
                out.array_header(op.records.size());
                for (const ORRecord& r : op.records) {
                    out.array_header(6);
                    encode_name(out, r.tag);
                    encode_stamp(out, r.timestamp, r.ttl_ms);
                    encode_value(out, r.value);
                }
            } else if constexpr (std::is_same_v<T, OrTombstonesAdd> || std::is_same_v<T, OrTombstonesErase>) {
                out.array_header(3);
                out.number(std::uint64_t{std::is_same_v<T, OrTombstonesAdd> ? kTombstonesAdd : kTombstonesErase});
                encode_name(out, op.map);
                out.array_header(op.tags.size());
                for (const std::string& tag : op.tags) encode_name(out, tag);
            } else if constexpr (std::is_same_v<T, MetaPut>) {
                out.array_header(4);
                out.number(std::uint64_t{kMetaPut});
                encode_name(out, op.ns);
                encode_name(out, op.key);
                out.binary(op.value);
            } else {
                static_assert(std::is_same_v<T, MetaErase>);
                out.array_header(3);
                out.number(std::uint64_t{kMetaErase});
                encode_name(out, op.ns);
                encode_name(out, op.key);
            }
        },
        m);
}

// The keyed table a change is for.
enum Table : std::uint8_t { kLww, kOr, kTombstone, kMeta };

// One decoded change of a sealed generation, pointing into its rows' bytes.
struct Change {
    Table table;
    bool remove;
    std::string_view map, key;           // for tombstones, key is the tag
    std::size_t order;                   // position in the generation: the later wins
    std::span<const std::uint8_t> body;  // what a put sets: its remaining fields
};

std::string_view as_text(std::span<const std::uint8_t> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Splits one log row into changes; false when it does not decode.
bool decode_changes(std::span<const std::uint8_t> row, std::vector<Change>& out) {
    msgpack::Reader r(row, kChangeLimits);
    auto name = [&](std::string_view& s) {
        std::span<const std::uint8_t> b;
        if (!r.read_binary(b)) return false;
        s = as_text(b);
        return true;
    };
    // Skips `n` values and returns their bytes.
    auto rest = [&](int n) {
        const std::size_t from = r.offset();
        for (int i = 0; i < n; ++i) r.skip();
        return r.bytes_since(from);
    };
    std::uint32_t count = 0;
    if (!r.read_array_header(count)) return false;
    for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
        std::uint32_t fields = 0;
        std::uint64_t kind = 0;
        std::string_view map, key;
        if (!r.read_array_header(fields) || !r.read_uint(kind, kMetaErase) || !name(map)) return false;
        switch (kind) {
            case kLwwPut:
                if (fields != 8 || !name(key)) return false;
                out.push_back({kLww, false, map, key, out.size(), rest(5)});
                break;
            case kLwwErase:
                if (fields != 3 || !name(key)) return false;
                out.push_back({kLww, true, map, key, out.size(), {}});
                break;
            case kOrKeyPut:
                if (fields != 4 || !name(key)) return false;
                out.push_back({kOr, false, map, key, out.size(), rest(1)});
                break;
            case kTombstonesAdd:
            case kTombstonesErase: {
                std::uint32_t tags = 0;
                if (fields != 3 || !r.read_array_header(tags)) return false;
                for (std::uint32_t t = 0; t < tags; ++t) {
                    if (!name(key)) return false;
                    out.push_back({kTombstone, kind == kTombstonesErase, map, key, out.size(), {}});
                }
                break;
            }
            case kMetaPut:
                if (fields != 4 || !name(key)) return false;
                out.push_back({kMeta, false, map, key, out.size(), rest(1)});
                break;
            default:  // kMetaErase
                if (fields != 3 || !name(key)) return false;
                out.push_back({kMeta, true, map, key, out.size(), {}});
                break;
        }
    }
    return r.ok() && r.at_end();
}

// One log generation open for appending.
struct LogGeneration {
    std::uint64_t number;
    Database db;
    Statement begin, commit, insert;  // after db: finalized first
    msgpack::Writer changes;          // the blob being written
    std::size_t mutations = 0;  // changes appended
    std::size_t bytes = 0;
    Clock::time_point last_write = Clock::now();

    LogGeneration(std::uint64_t n, std::string path) : number(n), db(std::move(path)) {}
};

// fsync of a directory, so that a file just created in it survives a power loss.
void sync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;  // the file itself is synced; a directory we cannot open cannot be helped
    ::fsync(fd);
    ::close(fd);
}

class SqliteStore final : public Store {
public:
    explicit SqliteStore(const SqliteOptions& options) : options_(options), main_(options.path) {
        try {
            open_main();
            fold_leftover_generations();
            update_fold_threshold();
            active_ = create_generation(next_generation_++);
            folder_ = std::thread([this] { run_folder(); });
        } catch (...) {
            close();
            throw;
        }
    }
    ~SqliteStore() override { close(); }

    std::string_view backend() const noexcept override { return "sqlite"; }
    bool durable() const noexcept override { return true; }

    void write(std::span<const Mutation> batch) override {
        if (batch.empty()) return;
        std::unique_lock lock(log_mutex_);
        wait_while_far_behind(lock);
        LogGeneration& g = *active_;
        g.changes.clear();
        g.changes.array_header(batch.size());
        for (const Mutation& m : batch) encode_change(g.changes, m);  // may refuse: nothing written yet
        g.db.step(g.begin, "BEGIN");
        try {
            g.insert.blob(1, g.changes.bytes());
            g.db.step(g.insert, "log append");
            g.db.step(g.commit, "COMMIT");
        } catch (...) {
            g.db.rollback();
            throw;
        }
        g.mutations += batch.size();
        g.bytes += g.changes.size();
        g.last_write = Clock::now();
        const bool due = fold_due(g);
        lock.unlock();
        if (due) wake_folder();
    }

    void load(LoadSink& sink) override {
        std::lock_guard main_lock(main_mutex_);
        seal_active(/*replace=*/true);
        fold_sealed();
        // One read transaction: the four tables come from one snapshot.
        main_.step(begin_read_, "BEGIN");
        try {
            load_lww(sink);
            load_or(sink);
            load_tombstones(sink);
            load_meta(sink);
            main_.step(commit_, "COMMIT");
        } catch (...) {
            main_.rollback();
            throw;
        }
    }

private:
    // --- the keyed database ------------------------------------------------------------------------

    void open_main() {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (fs::is_directory(options_.path, ec)) main_.fail(Kind::Fatal, "the path is a directory, not a database file");
        const fs::path parent = fs::path(options_.path).parent_path();
        if (!parent.empty() && !fs::is_directory(parent, ec)) {
            main_.fail(Kind::Fatal, "directory '" + parent.string() + "' does not exist");
        }
        main_.open(/*create=*/true);
        // The fold deletes a log generation right after its commit here: that
        // commit must be on disk first, whatever the writes' own setting.
        main_.enable_wal(SqliteOptions::Sync::Full);
        main_.exec("PRAGMA cache_size=-" + std::to_string(options_.cache_mib * 1024), "cannot set cache_size");
        // The fold checkpoints after each commit (it is the only writer here).
        main_.exec("PRAGMA wal_autocheckpoint=0", "cannot set wal_autocheckpoint");
        check_integrity();
        ensure_schema();
        prepare_main_statements();
    }

    void check_integrity() {
        Statement check;
        main_.prepare(check, "PRAGMA quick_check(8)");
        std::string problems;
        main_.scan(check, "PRAGMA quick_check", [&](sqlite3_stmt* st) {
            const std::string_view line = column_text(st, 0);
            if (line == "ok") return;
            if (!problems.empty()) problems += "; ";
            problems += line;
        });
        if (!problems.empty()) main_.fail(Kind::Fatal, "the file is damaged (PRAGMA quick_check: " + problems + ")");
    }

    void ensure_schema() {
        main_.exec("BEGIN IMMEDIATE", "cannot start the schema transaction");
        try {
            const bool fresh = main_.query_text("SELECT count(*) FROM sqlite_schema WHERE name='schema_version'",
                                                "cannot read the schema") == "0";
            if (fresh) {
                main_.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)", "cannot create the schema");
                main_.exec(kCreateSchema, "cannot create the schema");
                main_.exec(kCreateFoldState, "cannot create the schema");
                main_.exec("INSERT INTO schema_version VALUES (" + std::to_string(kSqliteSchemaVersion) + ")",
                           "cannot create the schema");
            } else {
                const std::string text =
                    main_.query_text("SELECT max(version) FROM schema_version", "cannot read schema_version");
                long version = 0;
                std::from_chars(text.data(), text.data() + text.size(), version);  // stays 0 unless a number
                if (version > kSqliteSchemaVersion) {
                    main_.fail(Kind::Fatal, "schema_version " + std::to_string(version) +
                                                " is newer than this TopGun build supports (" +
                                                std::to_string(kSqliteSchemaVersion) +
                                                "); upgrade TopGun or point it at another file");
                }
                if (version < 1) main_.fail(Kind::Fatal, "schema_version table is empty or invalid ('" + text + "')");
                if (version == 1) {
                    main_.exec(kCreateFoldState, "cannot upgrade the schema to version 2");
                    main_.exec("UPDATE schema_version SET version = 2", "cannot upgrade the schema to version 2");
                }
            }
            main_.exec("COMMIT", "cannot commit the schema");
        } catch (...) {
            main_.rollback();
            throw;
        }
    }

    void prepare_main_statements() {
        main_.prepare(begin_, "BEGIN IMMEDIATE");
        main_.prepare(begin_read_, "BEGIN");
        main_.prepare(commit_, "COMMIT");
        main_.prepare(lww_put_,
                      "INSERT OR REPLACE INTO lww (map, key, millis, counter, node, ttl, value) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        main_.prepare(lww_erase_, "DELETE FROM lww WHERE map = ?1 AND key = ?2");
        main_.prepare(or_clear_key_, "DELETE FROM or_records WHERE map = ?1 AND key = ?2");
        // Two records of one set with the same tag: the later one stays (store.hpp).
        main_.prepare(or_put_,
                      "INSERT OR REPLACE INTO or_records (map, key, tag, millis, counter, node, ttl, value) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        main_.prepare(tombstone_add_, "INSERT OR IGNORE INTO or_tombstones (map, tag) VALUES (?1, ?2)");
        main_.prepare(tombstone_erase_, "DELETE FROM or_tombstones WHERE map = ?1 AND tag = ?2");
        main_.prepare(meta_put_, "INSERT OR REPLACE INTO meta (ns, key, value) VALUES (?1, ?2, ?3)");
        main_.prepare(meta_erase_, "DELETE FROM meta WHERE ns = ?1 AND key = ?2");
        main_.prepare(set_folded_, "UPDATE fold_state SET generation = ?1");
        main_.prepare(attach_, "ATTACH DATABASE ?1 AS oplog");
        main_.prepare(detach_, "DETACH DATABASE oplog");
        main_.prepare(select_lww_, "SELECT map, key, millis, counter, node, ttl, value FROM lww ORDER BY map, key");
        main_.prepare(select_or_,
                      "SELECT map, key, tag, millis, counter, node, ttl, value FROM or_records "
                      "ORDER BY map, key, tag");
        main_.prepare(select_tombstones_, "SELECT map, tag FROM or_tombstones ORDER BY map, tag");
        main_.prepare(select_meta_, "SELECT ns, key, value FROM meta ORDER BY ns, key");
    }

    void close() noexcept {
        {
            std::lock_guard lock(folder_mutex_);
            stop_ = true;
        }
        folder_cv_.notify_all();
        if (folder_.joinable()) folder_.join();
        std::lock_guard main_lock(main_mutex_);
        if (main_.get() != nullptr) {
            try {
                if (active_ && active_->mutations <= kFoldOnCloseRows) seal_active(/*replace=*/false);
                fold_sealed();
            } catch (const StoreError& e) {
                report(std::string("fold at close failed, the next open folds again: ") + e.what());
            }
        }
        active_.reset();
        for (Statement* s : {&begin_, &begin_read_, &commit_, &lww_put_, &lww_erase_, &or_clear_key_, &or_put_,
                             &tombstone_add_, &tombstone_erase_, &meta_put_, &meta_erase_, &set_folded_, &attach_,
                             &detach_, &select_lww_, &select_or_, &select_tombstones_, &select_meta_}) {
            s->finalize();
        }
        main_.close();  // the last connection: checkpoints the WAL away
    }

    void report(const std::string& what) noexcept {
        if (!options_.on_background_error) return;
        try {
            options_.on_background_error("SQLite database '" + options_.path + "': " + what);
        } catch (...) {
        }
    }

    // --- log generations ------------------------------------------------------------------------------

    std::string generation_path(std::uint64_t n) const { return options_.path + "-log." + std::to_string(n); }

    static void remove_generation_files(const std::string& file) {
        std::error_code ec;
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file + suffix, ec);
    }

    // Generation numbers of the log files next to the database, ascending.
    std::vector<std::uint64_t> generations_on_disk() const {
        namespace fs = std::filesystem;
        const fs::path db(options_.path);
        const fs::path dir = db.parent_path().empty() ? fs::path(".") : db.parent_path();
        const std::string prefix = db.filename().string() + "-log.";
        std::vector<std::uint64_t> found;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
            const std::string name = entry.path().filename().string();
            if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
            const char* first = name.data() + prefix.size();
            const char* last = name.data() + name.size();
            std::uint64_t n = 0;
            const auto [end, error] = std::from_chars(first, last, n);
            if (error == std::errc() && end == last) found.push_back(n);  // not the -wal/-shm files
        }
        if (ec) main_.fail(Kind::Transient, "cannot list '" + dir.string() + "': " + ec.message());
        std::sort(found.begin(), found.end());
        return found;
    }

    // On open: what a previous process left. Generations already folded are
    // deleted unread; the others are folded in order.
    void fold_leftover_generations() {
        const auto folded = static_cast<std::uint64_t>(
            main_.query_integer("SELECT generation FROM fold_state", "cannot read fold_state"));
        std::uint64_t highest = folded;
        for (const std::uint64_t n : generations_on_disk()) {
            highest = std::max(highest, n);
            if (n <= folded) {
                remove_generation_files(generation_path(n));
            } else {
                sealed_.push_back(n);
            }
        }
        fold_sealed();
        next_generation_ = highest + 1;
    }

    std::unique_ptr<LogGeneration> create_generation(std::uint64_t n) {
        auto g = std::make_unique<LogGeneration>(n, generation_path(n));
        g->db.open(/*create=*/true);
        g->db.checkpoint_on_close(false);
        g->db.enable_wal(options_.sync);
        g->db.exec("PRAGMA wal_autocheckpoint=0", "cannot set wal_autocheckpoint");
        g->db.exec("PRAGMA cache_size=-2048", "cannot set cache_size");
        g->db.exec("BEGIN IMMEDIATE;" + std::string(kCreateLog) + "COMMIT;", "cannot create the log");
        if (options_.sync == SqliteOptions::Sync::Full) {
            sync_directory(std::filesystem::path(options_.path).parent_path());
        }
        g->db.prepare(g->begin, "BEGIN IMMEDIATE");
        g->db.prepare(g->commit, "COMMIT");
        g->db.prepare(g->insert, "INSERT INTO log (changes) VALUES (?1)");
        return g;
    }

    // Moves the active generation to the sealed ones (main_mutex_ held). With
    // `replace`, a fresh one takes its place, unless it is empty (then nothing
    // changes); without, the store has no active generation afterwards (close).
    void seal_active(bool replace) {
        std::unique_ptr<LogGeneration> next;
        if (replace) {
            {
                std::lock_guard lock(log_mutex_);
                if (!active_ || active_->mutations == 0) return;
            }
            next = create_generation(next_generation_++);  // outside the lock: writers keep going
        }
        std::unique_ptr<LogGeneration> sealed;
        {
            std::lock_guard lock(log_mutex_);
            sealed = std::exchange(active_, std::move(next));
        }
        log_cv_.notify_all();
        if (!sealed) return;
        sealed_.push_back(sealed->number);
        sealed.reset();  // closes it; every commit in it has returned
    }

    // Folds the sealed generations, oldest first (main_mutex_ held).
    void fold_sealed() {
        while (!sealed_.empty()) {
            fold_generation(sealed_.front());
            sealed_.pop_front();
            update_fold_threshold();
        }
    }

    void fold_generation(std::uint64_t n) {
        const std::string file = generation_path(n);
        attach_.text(1, file);
        main_.step(attach_, ("attaching log file '" + file + "'").c_str());
        try {
            // A generation whose creation never committed holds nothing.
            const bool has_log = main_.query_text("SELECT count(*) FROM oplog.sqlite_schema WHERE name='log'",
                                                  "reading log file '" + file + "'") != "0";
            if (has_log) {
                const auto format = main_.query_integer("PRAGMA oplog.user_version", "reading the log's format");
                if (format > kLogFormat) {
                    main_.fail(Kind::Fatal, "log file '" + file + "' has format " + std::to_string(format) +
                                                ", newer than this TopGun build supports");
                }
            }
            main_.step(begin_, "BEGIN");
            try {
                if (has_log) apply_log(file);
                set_folded_.integer(1, static_cast<std::int64_t>(n));
                main_.step(set_folded_, "recording the fold");
                main_.step(commit_, "COMMIT");
            } catch (...) {
                main_.rollback();
                throw;
            }
        } catch (...) {
            detach();
            throw;
        }
        detach();
        remove_generation_files(file);
        // Only this thread writes here: a checkpoint is never blocked by a commit.
        sqlite3_wal_checkpoint_v2(main_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    }

    void detach() noexcept {
        main_.checkpoint_on_close(false);
        sqlite3_step(detach_.get());
        sqlite3_reset(detach_.get());
        main_.checkpoint_on_close(true);
    }

    // Applies an attached log in order, a piece of about fold_chunk_bytes at a
    // time: within a piece the newest change per key decides, and a later piece
    // overwrites an earlier one (every change carries its key's whole state).
    void apply_log(const std::string& file) {
        std::vector<Bytes> rows;
        std::vector<Change> changes;
        std::size_t held = 0;
        Statement select;
        main_.prepare(select, "SELECT seq, changes FROM oplog.log ORDER BY seq");
        main_.scan(select, ("log file '" + file + "'").c_str(), [&](sqlite3_stmt* st) {
            const auto blob = column_blob(st, 1);
            rows.emplace_back(blob.begin(), blob.end());
            if (!decode_changes(rows.back(), changes)) {
                main_.fail(Kind::Fatal, "log file '" + file + "': row " + std::to_string(sqlite3_column_int64(st, 0)) +
                                            " does not decode");
            }
            held += blob.size();
            if (held >= options_.fold_chunk_bytes) {
                apply_newest_per_key(changes, file);
                changes.clear();
                rows.clear();
                held = 0;
            }
        });
        apply_newest_per_key(changes, file);
    }

    void apply_newest_per_key(std::vector<Change>& changes, const std::string& file) {
        // Key order makes the upserts walk each B-tree once; newest first
        // makes the first change per key the one to apply.
        std::sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
            if (a.table != b.table) return a.table < b.table;
            if (const int c = a.map.compare(b.map); c != 0) return c < 0;
            if (const int c = a.key.compare(b.key); c != 0) return c < 0;
            return a.order > b.order;
        });
        const Change* previous = nullptr;
        for (const Change& c : changes) {
            if (previous != nullptr && previous->table == c.table && previous->map == c.map &&
                previous->key == c.key) {
                continue;
            }
            previous = &c;
            apply_change(c, file);
        }
    }

    void apply_change(const Change& c, const std::string& file) {
        msgpack::Reader r(c.body, kChangeLimits);
        const auto damaged = [&] {
            main_.fail(Kind::Fatal, "log file '" + file + "': a change of map '" + std::string(c.map) + "', key '" +
                                        std::string(c.key) + "' does not decode");
        };
        switch (c.table) {
            case kLww:
                if (c.remove) {
                    bind_names(lww_erase_, c);
                    main_.step(lww_erase_, "LWW erase");
                } else {
                    bind_names(lww_put_, c);
                    if (!bind_stamp_and_value(lww_put_, 3, r, /*nil_value_allowed=*/true)) damaged();
                    main_.step(lww_put_, "LWW upsert");
                }
                return;
            case kOr: {
                bind_names(or_clear_key_, c);
                main_.step(or_clear_key_, "OR key replace");
                std::uint32_t records = 0;
                if (!r.read_array_header(records)) damaged();
                for (std::uint32_t i = 0; i < records; ++i) {
                    std::uint32_t fields = 0;
                    std::span<const std::uint8_t> tag;
                    if (!r.read_array_header(fields) || fields != 6 || !r.read_binary(tag)) damaged();
                    bind_names(or_put_, c);
                    or_put_.text(3, as_text(tag));
                    if (!bind_stamp_and_value(or_put_, 4, r, /*nil_value_allowed=*/false)) damaged();
                    main_.step(or_put_, "OR record insert");
                }
                return;
            }
            case kTombstone: {
                Statement& s = c.remove ? tombstone_erase_ : tombstone_add_;
                bind_names(s, c);
                main_.step(s, "OR tombstone");
                return;
            }
            case kMeta:
                if (c.remove) {
                    bind_names(meta_erase_, c);
                    main_.step(meta_erase_, "meta erase");
                } else {
                    std::span<const std::uint8_t> value;
                    if (!r.read_binary(value)) damaged();
                    bind_names(meta_put_, c);
                    meta_put_.blob(3, value);
                    main_.step(meta_put_, "meta upsert");
                }
                return;
        }
    }

    static void bind_names(Statement& s, const Change& c) {
        s.text(1, c.map);
        s.text(2, c.key);
    }

    // Binds millis, counter, node, ttl and the value's bytes to the parameters
    // from `first` on; false when they do not decode.
    static bool bind_stamp_and_value(Statement& s, int first, msgpack::Reader& r, bool nil_value_allowed) {
        std::uint64_t millis = 0, counter = 0, ttl = 0;
        std::span<const std::uint8_t> node;
        if (!r.read_uint(millis) || !r.read_uint(counter, std::numeric_limits<std::uint32_t>::max()) ||
            !r.read_binary(node)) {
            return false;
        }
        s.unsigned64(first, millis);
        s.integer(first + 1, static_cast<std::int64_t>(counter));
        s.text(first + 2, as_text(node));
        if (r.skip_nil()) {
            s.null(first + 3);
        } else {
            if (!r.read_uint(ttl)) return false;
            s.unsigned64(first + 3, ttl);
        }
        if (nil_value_allowed && r.skip_nil()) {
            s.null(first + 4);
        } else {
            const std::size_t from = r.offset();
            if (!r.skip()) return false;
            s.blob(first + 4, r.bytes_since(from));
        }
        return r.ok();
    }

    // --- the fold thread --------------------------------------------------------------------------------

    // Twice as many changes as the keyed tables hold rows, within the
    // configured bounds (main_mutex_ held): with uniformly random keys 43% of
    // them are then distinct keys, so the fold's upserts, which are most of its
    // cost, are fewer than half the changes (measured: 158k PERSISTED writes/s
    // against 141k with as many changes as rows).
    void update_fold_threshold() {
        const auto stored = static_cast<std::size_t>(main_.query_integer(
            "SELECT (SELECT count(*) FROM lww) + (SELECT count(*) FROM or_records)", "counting rows"));
        fold_rows_.store(std::clamp(2 * stored, options_.fold_min_rows, options_.fold_max_rows),
                         std::memory_order_relaxed);
    }

    bool fold_due(const LogGeneration& g) const {
        return g.mutations >= fold_rows_.load(std::memory_order_relaxed) || g.bytes >= options_.fold_max_bytes;
    }
    bool far_behind(const LogGeneration& g) const {
        return g.mutations >= 2 * options_.fold_max_rows || g.bytes >= 2 * options_.fold_max_bytes;
    }

    void wait_while_far_behind(std::unique_lock<std::mutex>& lock) {
        if (!far_behind(*active_)) return;
        wake_folder();
        if (!log_cv_.wait_for(lock, kFoldWaitLimit, [&] { return !far_behind(*active_); })) {
            main_.fail(Kind::Transient, "the write-ahead log holds " + std::to_string(active_->mutations) + " changes (" +
                                            std::to_string(active_->bytes >> 20) +
                                            " MiB) and the fold is behind; retry later");
        }
    }

    void wake_folder() {
        {
            std::lock_guard lock(folder_mutex_);
            fold_wanted_ = true;
        }
        folder_cv_.notify_all();
    }

    void run_folder() {
        auto backoff = std::chrono::milliseconds(100);
        std::unique_lock lock(folder_mutex_);
        while (!stop_) {
            folder_cv_.wait_for(lock, options_.fold_idle, [&] { return stop_ || fold_wanted_; });
            if (stop_) break;
            fold_wanted_ = false;
            lock.unlock();
            bool failed = false;
            try {
                fold_if_due();
                backoff = std::chrono::milliseconds(100);
            } catch (const StoreError& e) {
                report(std::string("fold failed (the log keeps the data; retrying): ") + e.what());
                failed = true;
            }
            lock.lock();
            if (failed) {
                folder_cv_.wait_for(lock, backoff, [&] { return stop_; });
                backoff = std::min<std::chrono::milliseconds>(backoff * 2, kFoldRetryMax);
                fold_wanted_ = true;
            }
        }
    }

    void fold_if_due() {
        std::lock_guard main_lock(main_mutex_);
        if (sealed_.empty()) {
            bool due;
            {
                std::lock_guard lock(log_mutex_);
                due = fold_due(*active_) ||
                      (active_->mutations > 0 && Clock::now() - active_->last_write >= options_.fold_idle);
            }
            if (!due) return;
            seal_active(/*replace=*/true);
        }
        fold_sealed();
    }

    // --- loading ------------------------------------------------------------------------------------

    [[noreturn]] void bad_row(const char* table, std::string_view map, std::string_view key,
                              const std::string& why) const {
        main_.fail(Kind::Fatal, std::string("unreadable row in ") + table + " (map '" + std::string(map) +
                                    "', key '" + std::string(key) + "'): " + why);
    }

    std::uint32_t counter_of(sqlite3_stmt* st, int col, const char* table, std::string_view map,
                             std::string_view key) const {
        const std::int64_t c = sqlite3_column_int64(st, col);
        if (c < 0 || c > std::numeric_limits<std::uint32_t>::max()) {
            bad_row(table, map, key, "counter " + std::to_string(c) + " is out of range");
        }
        return static_cast<std::uint32_t>(c);
    }

    Value value_of(sqlite3_stmt* st, int col, const char* table, std::string_view map, std::string_view key) const {
        Value v;
        std::string error;
        if (!decode_value(column_blob(st, col), v, error)) bad_row(table, map, key, "value: " + error);
        return v;
    }

    void load_lww(LoadSink& sink) {
        main_.scan(select_lww_, "lww", [&](sqlite3_stmt* st) {
            const std::string_view map = column_text(st, 0), key = column_text(st, 1);
            LWWRecord record;
            record.timestamp.millis = static_cast<std::uint64_t>(sqlite3_column_int64(st, 2));
            record.timestamp.counter = counter_of(st, 3, "lww", map, key);
            record.timestamp.node_id = column_text(st, 4);
            record.ttl_ms = column_optional_u64(st, 5);
            if (sqlite3_column_type(st, 6) != SQLITE_NULL) record.value = value_of(st, 6, "lww", map, key);
            sink.lww(map, key, std::move(record));
        });
    }

    void load_or(LoadSink& sink) {
        // Rows come ordered by (map, key, tag): a key's records are consecutive.
        OrKeyRows rows(sink);
        main_.scan(select_or_, "or_records", [&](sqlite3_stmt* st) {
            const std::string_view row_map = column_text(st, 0), row_key = column_text(st, 1);
            ORRecord& r = rows.next(row_map, row_key);
            r.tag = column_text(st, 2);
            r.timestamp.millis = static_cast<std::uint64_t>(sqlite3_column_int64(st, 3));
            r.timestamp.counter = counter_of(st, 4, "or_records", row_map, row_key);
            r.timestamp.node_id = column_text(st, 5);
            r.ttl_ms = column_optional_u64(st, 6);
            r.value = value_of(st, 7, "or_records", row_map, row_key);
        });
        rows.flush();
    }

    void load_tombstones(LoadSink& sink) {
        main_.scan(select_tombstones_, "or_tombstones",
                   [&](sqlite3_stmt* st) { sink.or_tombstone(column_text(st, 0), column_text(st, 1)); });
    }

    void load_meta(LoadSink& sink) {
        main_.scan(select_meta_, "meta",
                   [&](sqlite3_stmt* st) { sink.meta(column_text(st, 0), column_text(st, 1), column_blob(st, 2)); });
    }

    SqliteOptions options_;

    // The keyed database, its statements (declared after it: finalized first)
    // and the sealed generations: the fold's, under main_mutex_.
    std::mutex main_mutex_;
    Database main_;
    Statement begin_, begin_read_, commit_;
    Statement lww_put_, lww_erase_, or_clear_key_, or_put_, tombstone_add_, tombstone_erase_, meta_put_, meta_erase_;
    Statement set_folded_, attach_, detach_;
    Statement select_lww_, select_or_, select_tombstones_, select_meta_;
    std::deque<std::uint64_t> sealed_;
    std::uint64_t next_generation_ = 1;
    std::atomic<std::size_t> fold_rows_{0};

    // The active generation: the writer's, and the fold's for the swap.
    std::mutex log_mutex_;
    std::condition_variable log_cv_;  // a generation was sealed
    std::unique_ptr<LogGeneration> active_;

    std::mutex folder_mutex_;
    std::condition_variable folder_cv_;
    bool fold_wanted_ = false;
    bool stop_ = false;
    std::thread folder_;
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options) {
    return std::make_unique<SqliteStore>(options);
}

}  // namespace topgun::storage
