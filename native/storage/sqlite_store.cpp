// SqliteStore: one file, WAL mode, one prepared statement per kind of change.
//
// Schema (version 1; every table WITHOUT ROWID, so a row lives in its primary
// key's B-tree and an upsert touches one tree):
//   schema_version(version)
//   lww(map, key, millis, counter, node, ttl, value)  PK(map, key)   value NULL = tombstone
//   or_records(map, key, tag, millis, counter, node, ttl, value)  PK(map, key, tag)
//   or_tombstones(map, tag)  PK(map, tag)
//   meta(ns, key, value)  PK(ns, key)
// Timestamps are columns (millis and ttl are uint64 stored as the int64 with the
// same bits), values are exact MsgPack blobs (value_codec.hpp), so the file can
// be inspected with the sqlite3 shell. Map names are repeated per row rather
// than interned in a maps table: the B-tree prefix is a few bytes, and the
// measured write rate is bounded by page writes, not by key size.
//
// Writes: BEGIN IMMEDIATE (take the write lock up front, so a commit never
// fails on a lock upgrade), one sqlite3_step per row, COMMIT. Any failure rolls
// the transaction back before StoreError leaves write(). WAL checkpoints run on
// a second connection and thread (Checkpointer), off the commit path.
//
// Known limit: an upsert rewrites its whole B-tree page, so random updates over
// a key set much larger than one transaction (1M keys) cost about a page of WAL
// each and run at ~30k/s here, against ~500k/s for keys that arrive in order or
// cluster (new keys per client, a hot set). An LSM-like log table folded into
// the B-tree in key order would lift that; not done yet.
#include "storage/store.hpp"
#include "storage/value_codec.hpp"

#include <topgun/msgpack/writer.hpp>

#include <sqlite3.h>

#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace topgun::storage {
namespace {

using Kind = StoreError::Kind;

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

// Copies WAL pages back into the database file on its own thread and
// connection, so that a commit does not wait for a checkpoint (which writes and
// fsyncs tens of MB: measured as the commits of 100+ ms that made the p99 of
// PERSISTED acks). SQLite runs one checkpoint concurrently with the writer.
//
// Under constant load a background pass never catches up with the commits made
// while it runs, and the WAL is only restarted from its beginning once it has
// been copied back entirely, so it would grow without bound. Hence the writer,
// when the WAL passes kWriterCheckpointPages, waits for one pass with no commit
// running (checkpoint_now); by then most pages are already copied back.
class Checkpointer {
public:
    Checkpointer(const std::string& path, SqliteOptions::Sync sync) {
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
            throw StoreError(
                StoreError::Kind::Transient,
                "SQLite database '" + path + "': cannot open the checkpoint connection: " + sqlite3_errmsg(db_));
        }
        // The checkpoint fsyncs the database file before the WAL may be reused.
        sqlite3_exec(db_, sync == SqliteOptions::Sync::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                     nullptr, nullptr, nullptr);
        thread_ = std::thread([this] { run(); });
    }
    ~Checkpointer() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
        sqlite3_close(db_);
    }
    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;

    // Starts a pass unless one is pending; does not wait.
    void request() {
        std::lock_guard lock(mutex_);
        requested_ = true;
        cv_.notify_all();
    }

    // Blocks until a pass that started after this call has finished.
    void checkpoint_now() {
        std::unique_lock lock(mutex_);
        const std::uint64_t target = started_ + 1;
        requested_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return finished_ >= target || stop_; });
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            cv_.wait(lock, [&] { return requested_ || stop_; });
            if (stop_) return;
            requested_ = false;
            const std::uint64_t pass = ++started_;
            lock.unlock();
            // A failure leaves the pages in the WAL, where they are just as
            // durable; the next request tries again.
            sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            lock.lock();
            finished_ = pass;
            cv_.notify_all();
        }
    }

    sqlite3* db_ = nullptr;
    std::mutex mutex_;
    std::condition_variable cv_;  // requests, stop, and finished passes
    bool requested_ = false;
    bool stop_ = false;
    std::uint64_t started_ = 0;   // passes started
    std::uint64_t finished_ = 0;  // the last pass finished
    std::thread thread_;
};

// WAL size in pages at which a commit asks for a background pass (SQLite's own
// default checkpoint size), and at which the writer waits for a full one (64 MB).
constexpr int kBackgroundCheckpointPages = 1000;
constexpr int kWriterCheckpointPages = 16000;

class SqliteStore final : public Store {
public:
    explicit SqliteStore(const SqliteOptions& options) : path_(options.path) {
        open(options);
        try {
            configure(options);
            ensure_schema();
            prepare_statements();
            checkpointer_ = std::make_unique<Checkpointer>(path_, options.sync);
            sqlite3_wal_hook(db_, &SqliteStore::on_wal_commit, this);
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
        step(begin_, "BEGIN");
        try {
            for (const Mutation& m : batch) std::visit([this](const auto& op) { apply(op); }, m);
            step(commit_, "COMMIT");
        } catch (...) {
            rollback();
            throw;
        }
        if (wal_pages_ >= kWriterCheckpointPages) {
            // Committed already: a failed checkpoint only leaves the WAL longer.
            checkpointer_->checkpoint_now();
            wal_pages_ = 0;
        }
    }

    void load(LoadSink& sink) override {
        // One read transaction: the four tables come from one snapshot.
        step(begin_read_, "BEGIN");
        try {
            load_lww(sink);
            load_or(sink);
            load_tombstones(sink);
            load_meta(sink);
            step(commit_, "COMMIT");
        } catch (...) {
            rollback();
            throw;
        }
    }

private:
    // --- opening -------------------------------------------------------------------------------------

    [[noreturn]] void fail(Kind kind, const std::string& what) const {
        throw StoreError(kind, "SQLite database '" + path_ + "': " + what);
    }
    [[noreturn]] void fail_rc(int rc, const std::string& what) const {
        if ((rc & 0xFF) == SQLITE_NOTADB) fail(Kind::Fatal, "the file is not a SQLite database (" + what + ")");
        fail(kind_of(rc), what + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)));
    }

    void open(const SqliteOptions& options) {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (fs::is_directory(options.path, ec)) fail(Kind::Fatal, "the path is a directory, not a database file");
        const fs::path parent = fs::path(options.path).parent_path();
        if (!parent.empty() && !fs::is_directory(parent, ec)) {
            fail(Kind::Fatal, "directory '" + parent.string() + "' does not exist");
        }
        // NOMUTEX: one thread at a time uses a store (see store.hpp).
        const int rc = sqlite3_open_v2(options.path.c_str(), &db_,
                                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc != SQLITE_OK) {
            const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
            close();
            fail(kind_of(rc), "cannot open: " + message);
        }
        sqlite3_extended_result_codes(db_, 1);
    }

    void configure(const SqliteOptions& options) {
        // Another process holding the write lock (a second server on the same
        // file, the sqlite3 shell) is waited for, then reported as Transient.
        sqlite3_busy_timeout(db_, 5000);
        // The first statement reads the header: a file that is not a database fails here.
        const std::string mode = query_text("PRAGMA journal_mode=WAL", "cannot enable WAL mode");
        if (mode != "wal") fail(Kind::Fatal, "cannot enable WAL mode (journal_mode is '" + mode + "')");
        exec(options.sync == SqliteOptions::Sync::Full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
             "cannot set synchronous");
        exec("PRAGMA cache_size=-" + std::to_string(options.cache_mib * 1024), "cannot set cache_size");
        // Checkpoints are the Checkpointer's (below), not the committing
        // thread's; the WAL file is truncated back to 64 MB at most after one.
        exec("PRAGMA journal_size_limit=67108864", "cannot set journal_size_limit");
        check_integrity();
    }

    void check_integrity() {
        Statement check;
        prepare(check, "PRAGMA quick_check(8)");
        std::string problems;
        int rc;
        while ((rc = sqlite3_step(check.get())) == SQLITE_ROW) {
            const std::string_view line = column_text(check.get(), 0);
            if (line == "ok") continue;
            if (!problems.empty()) problems += "; ";
            problems += line;
        }
        if (rc != SQLITE_DONE) fail_rc(rc, "PRAGMA quick_check failed");
        if (!problems.empty()) fail(Kind::Fatal, "the file is damaged (PRAGMA quick_check: " + problems + ")");
    }

    void ensure_schema() {
        exec("BEGIN IMMEDIATE", "cannot start the schema transaction");
        try {
            const bool fresh = query_text("SELECT count(*) FROM sqlite_schema WHERE name='schema_version'",
                                          "cannot read the schema") == "0";
            if (fresh) {
                exec("CREATE TABLE schema_version (version INTEGER NOT NULL)", "cannot create the schema");
                exec(kCreateSchema, "cannot create the schema");
                exec("INSERT INTO schema_version VALUES (" + std::to_string(kSchemaVersion) + ")",
                     "cannot create the schema");
            } else {
                const std::string text =
                    query_text("SELECT max(version) FROM schema_version", "cannot read schema_version");
                long version = 0;
                std::from_chars(text.data(), text.data() + text.size(), version);  // stays 0 unless a number
                if (version > kSchemaVersion) {
                    fail(Kind::Fatal,
                         "schema_version " + std::to_string(version) + " is newer than this TopGun build supports (" +
                             std::to_string(kSchemaVersion) + "); upgrade TopGun or point it at another file");
                }
                if (version < 1) fail(Kind::Fatal, "schema_version table is empty or invalid ('" + text + "')");
            }
            exec("COMMIT", "cannot commit the schema");
        } catch (...) {
            rollback();
            throw;
        }
    }

    void prepare(Statement& s, const char* sql) {
        const int rc = s.try_prepare(db_, sql);
        if (rc != SQLITE_OK) fail_rc(rc, std::string("cannot prepare \"") + sql + "\"");
    }

    void prepare_statements() {
        prepare(begin_, "BEGIN IMMEDIATE");
        prepare(begin_read_, "BEGIN");
        prepare(commit_, "COMMIT");
        prepare(lww_put_,
                "INSERT OR REPLACE INTO lww (map, key, millis, counter, node, ttl, value) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        prepare(lww_erase_, "DELETE FROM lww WHERE map = ?1 AND key = ?2");
        prepare(or_clear_key_, "DELETE FROM or_records WHERE map = ?1 AND key = ?2");
        prepare(or_put_,
                "INSERT OR REPLACE INTO or_records (map, key, tag, millis, counter, node, ttl, value) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        prepare(tombstone_add_, "INSERT OR IGNORE INTO or_tombstones (map, tag) VALUES (?1, ?2)");
        prepare(tombstone_erase_, "DELETE FROM or_tombstones WHERE map = ?1 AND tag = ?2");
        prepare(meta_put_, "INSERT OR REPLACE INTO meta (ns, key, value) VALUES (?1, ?2, ?3)");
        prepare(meta_erase_, "DELETE FROM meta WHERE ns = ?1 AND key = ?2");
        prepare(select_lww_, "SELECT map, key, millis, counter, node, ttl, value FROM lww ORDER BY map, key");
        prepare(select_or_,
                "SELECT map, key, tag, millis, counter, node, ttl, value FROM or_records "
                "ORDER BY map, key, tag");
        prepare(select_tombstones_, "SELECT map, tag FROM or_tombstones ORDER BY map, tag");
        prepare(select_meta_, "SELECT ns, key, value FROM meta ORDER BY ns, key");
    }

    // Called by SQLite after every commit with the WAL's size in pages.
    static int on_wal_commit(void* self, sqlite3*, const char*, int pages) {
        auto* store = static_cast<SqliteStore*>(self);
        store->wal_pages_ = pages;
        if (pages >= kBackgroundCheckpointPages) store->checkpointer_->request();
        return SQLITE_OK;
    }

    void close() noexcept {
        checkpointer_.reset();  // its connection first: the last one to close checkpoints the WAL away
        // Statements first: sqlite3_close refuses while any is alive.
        for (Statement* s : {&begin_, &begin_read_, &commit_, &lww_put_, &lww_erase_, &or_clear_key_, &or_put_,
                             &tombstone_add_, &tombstone_erase_, &meta_put_, &meta_erase_, &select_lww_, &select_or_,
                             &select_tombstones_, &select_meta_}) {
            s->finalize();
        }
        sqlite3_close(db_);
        db_ = nullptr;
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
    std::string query_text(const char* sql, const std::string& what) {
        Statement s;
        int rc = s.try_prepare(db_, sql);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(s.get());
            if (rc == SQLITE_ROW) return std::string(column_text(s.get(), 0));
            if (rc == SQLITE_DONE) return {};
        }
        fail_rc(rc, what);
    }

    // --- writing ------------------------------------------------------------------------------------

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

    void rollback() noexcept {
        // After some errors (disk full, I/O) SQLite has already rolled back.
        if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }

    std::span<const std::uint8_t> encoded(const Value& v) {
        value_buf_.clear();
        encode_value(value_buf_, v);
        return value_buf_.bytes();
    }

    void apply(const LwwPut& op) {
        Statement& s = lww_put_;
        s.text(1, op.map);
        s.text(2, op.key);
        s.unsigned64(3, op.record.timestamp.millis);
        s.integer(4, op.record.timestamp.counter);
        s.text(5, op.record.timestamp.node_id);
        s.optional_u64(6, op.record.ttl_ms);
        if (op.record.is_tombstone()) {
            s.null(7);
        } else {
            s.blob(7, encoded(op.record.value));
        }
        step(s, "LWW upsert");
    }
    void apply(const LwwErase& op) {
        lww_erase_.text(1, op.map);
        lww_erase_.text(2, op.key);
        step(lww_erase_, "LWW erase");
    }
    void apply(const OrKeyPut& op) {
        or_clear_key_.text(1, op.map);
        or_clear_key_.text(2, op.key);
        step(or_clear_key_, "OR key replace");
        Statement& s = or_put_;
        for (const ORRecord& r : op.records) {
            s.text(1, op.map);
            s.text(2, op.key);
            s.text(3, r.tag);
            s.unsigned64(4, r.timestamp.millis);
            s.integer(5, r.timestamp.counter);
            s.text(6, r.timestamp.node_id);
            s.optional_u64(7, r.ttl_ms);
            s.blob(8, encoded(r.value));
            step(s, "OR record insert");
        }
    }
    void apply(const OrTombstonesAdd& op) {
        for (const std::string& tag : op.tags) {
            tombstone_add_.text(1, op.map);
            tombstone_add_.text(2, tag);
            step(tombstone_add_, "OR tombstone insert");
        }
    }
    void apply(const OrTombstonesErase& op) {
        for (const std::string& tag : op.tags) {
            tombstone_erase_.text(1, op.map);
            tombstone_erase_.text(2, tag);
            step(tombstone_erase_, "OR tombstone erase");
        }
    }
    void apply(const MetaPut& op) {
        meta_put_.text(1, op.ns);
        meta_put_.text(2, op.key);
        meta_put_.blob(3, op.value);
        step(meta_put_, "meta upsert");
    }
    void apply(const MetaErase& op) {
        meta_erase_.text(1, op.ns);
        meta_erase_.text(2, op.key);
        step(meta_erase_, "meta erase");
    }

    // --- loading ------------------------------------------------------------------------------------

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

    [[noreturn]] void bad_row(const char* table, std::string_view map, std::string_view key,
                              const std::string& why) const {
        fail(Kind::Fatal, std::string("unreadable row in ") + table + " (map '" + std::string(map) + "', key '" +
                              std::string(key) + "'): " + why);
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
        scan(select_lww_, "lww", [&](sqlite3_stmt* st) {
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
        scan(select_or_, "or_records", [&](sqlite3_stmt* st) {
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
        scan(select_tombstones_, "or_tombstones",
             [&](sqlite3_stmt* st) { sink.or_tombstone(column_text(st, 0), column_text(st, 1)); });
    }

    void load_meta(LoadSink& sink) {
        scan(select_meta_, "meta",
             [&](sqlite3_stmt* st) { sink.meta(column_text(st, 0), column_text(st, 1), column_blob(st, 2)); });
    }

    std::string path_;
    sqlite3* db_ = nullptr;
    std::unique_ptr<Checkpointer> checkpointer_;
    int wal_pages_ = 0;  // after the last commit
    msgpack::Writer value_buf_;
    Statement begin_, begin_read_, commit_;
    Statement lww_put_, lww_erase_, or_clear_key_, or_put_, tombstone_add_, tombstone_erase_, meta_put_, meta_erase_;
    Statement select_lww_, select_or_, select_tombstones_, select_meta_;
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options) {
    return std::make_unique<SqliteStore>(options);
}

}  // namespace topgun::storage
