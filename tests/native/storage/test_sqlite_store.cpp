// SQLite-specific behaviour: bad files, injected failures, crash safety.
#include "storage/storage_testing.hpp"
#include "storage/store.hpp"
#include "storage/write_behind.hpp"

#include <sqlite3.h>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

using namespace topgun;
using namespace topgun::storage;
using namespace topgun::storage::testing;

namespace {

// Runs SQL on the file through a separate connection (what an operator or
// another process would do).
void sql(const std::string& path, const std::string& statement) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
    INFO((error != nullptr ? error : ""));
    sqlite3_free(error);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

std::string query(const std::string& path, const std::string& statement) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, statement.c_str(), -1, &st, nullptr) == SQLITE_OK);
    std::string out;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (!out.empty()) out += "\n";
        const auto* text = sqlite3_column_text(st, 0);
        out += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

// The StoreError message of opening `path`, or "" when it opened.
std::string open_error(const std::string& path, StoreError::Kind* kind = nullptr) {
    try {
        open_sqlite_store({.path = path});
    } catch (const StoreError& e) {
        if (kind != nullptr) *kind = e.kind();
        return e.what();
    }
    return "";
}

LwwPut put(std::string key, Value v, std::uint64_t millis = 1) {
    return LwwPut{"m", std::move(key), LWWRecord{std::move(v), Timestamp{millis, 0, "n"}, std::nullopt}};
}

// The write-ahead log generations next to `path`, by number.
std::map<std::uint64_t, std::string> log_files(const std::string& path) {
    const std::filesystem::path db(path);
    const std::string prefix = db.filename().string() + "-log.";
    std::map<std::uint64_t, std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(db.parent_path())) {
        const std::string name = e.path().filename().string();
        if (name.rfind(prefix, 0) != 0) continue;
        const std::string rest = name.substr(prefix.size());
        if (rest.find_first_not_of("0123456789") == std::string::npos) out[std::stoull(rest)] = e.path().string();
    }
    return out;
}

// The generation that takes writes now (the highest).
std::string active_log(const std::string& path) {
    const auto files = log_files(path);
    REQUIRE(!files.empty());
    return files.rbegin()->second;
}

// Copies a log generation (file and WAL) as it is on disk now.
void copy_log(const std::string& from, const std::string& to) {
    namespace fs = std::filesystem;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
    if (fs::exists(from + "-wal")) fs::copy_file(from + "-wal", to + "-wal", fs::copy_options::overwrite_existing);
}

// A file's size; 0 for one that does not exist (any more).
std::uintmax_t size_or_zero(const std::string& file) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    return ec ? 0 : size;
}

// Never folds on its own: only load() and close() do.
SqliteOptions manual_fold(const std::string& path) {
    return {.path = path, .fold_min_rows = 1'000'000, .fold_idle = std::chrono::hours(1)};
}

}  // namespace

TEST_CASE("sqlite store: creates an inspectable schema with a version", "[storage][sqlite]") {
    TempDir dir;
    const std::string path = dir.file("s.db");
    {
        auto store = open_sqlite_store({.path = path});
        store->write(std::vector<Mutation>{put("k", Value("hello"), 1700000000000)});
    }
    // Closing folded the log into the keyed tables and deleted it.
    CHECK(log_files(path).empty());
    CHECK(query(path, "SELECT version FROM schema_version") == "2");
    CHECK(query(path, "PRAGMA journal_mode") == "wal");
    CHECK(query(path, "SELECT map || '/' || key || ' ' || millis || ' ' || node || ' ' || hex(value) FROM lww") ==
          "m/k 1700000000000 n A568656C6C6F");
    CHECK(query(path,
                "SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name)") ==
          "fold_state,lww,meta,or_records,or_tombstones,schema_version");
    CHECK(query(path, "SELECT generation FROM fold_state") == "1");
}

TEST_CASE("sqlite store: a version 1 file is upgraded in place", "[storage][sqlite]") {
    TempDir dir;
    const std::string path = dir.file("v1.db");
    sql(path,
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE lww (map TEXT NOT NULL, key TEXT NOT NULL, millis INTEGER NOT NULL, counter INTEGER NOT NULL,"
        " node TEXT NOT NULL, ttl INTEGER, value BLOB, PRIMARY KEY (map, key)) WITHOUT ROWID;"
        "CREATE TABLE or_records (map TEXT NOT NULL, key TEXT NOT NULL, tag TEXT NOT NULL, millis INTEGER NOT NULL,"
        " counter INTEGER NOT NULL, node TEXT NOT NULL, ttl INTEGER, value BLOB NOT NULL,"
        " PRIMARY KEY (map, key, tag)) WITHOUT ROWID;"
        "CREATE TABLE or_tombstones (map TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (map, tag)) WITHOUT ROWID;"
        "CREATE TABLE meta (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
        " PRIMARY KEY (ns, key)) WITHOUT ROWID;"
        "INSERT INTO lww VALUES ('m', 'old', 5, 0, 'n', NULL, x'01');");
    {
        auto store = open_sqlite_store({.path = path});
        store->write(std::vector<Mutation>{put("new", Value(2))});
        const Snapshot s = load_all(*store);
        REQUIRE(s.lww_rows.size() == 2);
        CHECK(s.lww_rows[1].key == "old");
        CHECK(s.lww_rows[1].record.value == Value(1));
    }
    CHECK(query(path, "SELECT version FROM schema_version") == "2");
}

TEST_CASE("sqlite store: log generations left by a crash", "[storage][sqlite]") {
    TempDir dir;
    const std::string path = dir.file("g.db");
    const std::string saved = dir.file("saved");
    {
        auto store = open_sqlite_store(manual_fold(path));
        store->write(std::vector<Mutation>{put("k", Value("old"), 1), MetaPut{"ns", "x", Bytes{1}}});
        copy_log(active_log(path), saved);  // what a crash right now would leave
        store->write(std::vector<Mutation>{put("k", Value("new"), 2), MetaErase{"ns", "x"}});
    }
    REQUIRE(log_files(path).empty());
    const auto folded = std::stoull(query(path, "SELECT generation FROM fold_state"));

    SECTION("one already folded is deleted unread") {
        copy_log(saved, path + "-log." + std::to_string(folded));
        auto store = open_sqlite_store({.path = path});
        CHECK(log_files(path).size() == 1);  // only the new active one
        const Snapshot s = load_all(*store);
        REQUIRE(s.lww_rows.size() == 1);
        CHECK(s.lww_rows[0].record.value == Value("new"));
        CHECK(s.meta_rows.empty());
    }
    SECTION("one not yet folded is folded on open") {
        copy_log(saved, path + "-log." + std::to_string(folded + 5));
        auto store = open_sqlite_store({.path = path});
        const Snapshot s = load_all(*store);
        REQUIRE(s.lww_rows.size() == 1);
        CHECK(s.lww_rows[0].record.value == Value("old"));  // the log is newer than the tables
        CHECK(s.meta_rows.size() == 1);
        // The next generation is numbered after it.
        CHECK(log_files(path).rbegin()->first > folded + 5);
    }
    SECTION("one whose creation never committed holds nothing") {
        std::ofstream(path + "-log." + std::to_string(folded + 1)).flush();  // an empty file
        auto store = open_sqlite_store({.path = path});
        CHECK(load_all(*store).lww_rows.size() == 1);
    }
    SECTION("one with a row that does not decode stops the open") {
        const std::string bad = path + "-log." + std::to_string(folded + 1);
        copy_log(saved, bad);
        sql(bad, "UPDATE log SET changes = x'91c1'");
        StoreError::Kind kind{};
        CHECK_THAT(open_error(path, &kind), Catch::Contains("log file '" + bad + "': row 1 does not decode"));
        CHECK(kind == StoreError::Kind::Fatal);
    }
    SECTION("a damaged one stops the open with its name") {
        const std::string bad = path + "-log." + std::to_string(folded + 1);
        std::ofstream(bad) << std::string(8192, 'g');
        StoreError::Kind kind{};
        const std::string error = open_error(path, &kind);
        CHECK_THAT(error, Catch::Contains("log file '" + bad + "'") && Catch::Contains("not a database"));
        CHECK(kind == StoreError::Kind::Fatal);
        CHECK(std::filesystem::exists(bad));  // kept for the operator
    }
}

TEST_CASE("sqlite store: a failing fold keeps the log, is reported and retried; writes wait when it is far behind",
          "[storage][sqlite]") {
    TempDir dir;
    const std::string path = dir.file("f.db");
    std::mutex mutex;
    std::vector<std::string> errors;
    SqliteOptions options{.path = path,
                          .fold_min_rows = 10,
                          .fold_max_rows = 20,
                          .fold_idle = std::chrono::milliseconds(5),
                          .on_background_error = [&](const std::string& e) {
                              std::lock_guard lock(mutex);
                              errors.push_back(e);
                          }};
    auto store = open_sqlite_store(options);
    auto model = make_memory_store();
    sql(path, "CREATE TRIGGER nofold BEFORE INSERT ON lww BEGIN SELECT RAISE(ABORT, 'fold blocked'); END");
    int written = 0;
    std::string refusal;
    for (; written < 100 && refusal.empty(); ++written) {
        const std::vector<Mutation> batch = {put("k" + std::to_string(written), Value(written))};
        try {
            store->write(batch);
            model->write(batch);
        } catch (const StoreError& e) {
            CHECK(e.kind() == StoreError::Kind::Transient);
            refusal = e.what();
        }
    }
    CHECK_THAT(refusal, Catch::Contains("fold is behind"));
    CHECK(written >= 40);  // the log took twice the maximum first
    {
        std::lock_guard lock(mutex);
        REQUIRE(!errors.empty());
        CHECK_THAT(errors.front(), Catch::Contains("fold blocked") && Catch::Contains("retrying"));
    }
    sql(path, "DROP TRIGGER nofold");
    // The retried fold catches up; the refused write goes through on a retry.
    const std::vector<Mutation> last = {put("last", Value(-1))};
    bool accepted = false;
    for (int attempt = 0; attempt < 50 && !accepted; ++attempt) {
        try {
            store->write(last);
            accepted = true;
        } catch (const StoreError&) {
        }
    }
    REQUIRE(accepted);
    model->write(last);
    CHECK(difference(load_all(*store), load_all(*model)).empty());
}

TEST_CASE("sqlite store: bad paths and files give clear errors", "[storage][sqlite]") {
    TempDir dir;
    StoreError::Kind kind{};

    SECTION("a directory") {
        CHECK_THAT(open_error(dir.path().string(), &kind), Catch::Contains("is a directory"));
        CHECK(kind == StoreError::Kind::Fatal);
    }
    SECTION("a missing parent directory") {
        CHECK_THAT(open_error(dir.file("missing/x.db")), Catch::Contains("does not exist"));
    }
    SECTION("a location nobody can create files in, not even root") {
        CHECK_THAT(open_error("/proc/self/topgun-test.db", &kind), Catch::Contains("cannot open"));
        CHECK(kind == StoreError::Kind::Transient);
    }
    SECTION("a file that is not a database") {
        const std::string path = dir.file("garbage.db");
        std::ofstream(path) << std::string(8192, 'g');
        const std::string error = open_error(path, &kind);
        CHECK_THAT(error, Catch::Contains("not a SQLite database"));
        CHECK_THAT(error, Catch::Contains(path));
        CHECK(kind == StoreError::Kind::Fatal);
    }
    SECTION("a damaged database") {
        const std::string path = dir.file("damaged.db");
        {
            auto store = open_sqlite_store({.path = path});
            Generator gen(5);
            for (int i = 0; i < 20; ++i) {
                std::vector<Mutation> batch;
                for (int j = 0; j < 100; ++j) batch.push_back(put("key" + std::to_string(i * 100 + j), gen.value()));
                store->write(batch);
            }
        }
        // Overwrite pages in the middle of the file (the WAL was checkpointed at close).
        const auto size = std::filesystem::file_size(path);
        REQUIRE(size > 16 * 4096);
        {
            std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
            const std::string junk(3 * 4096, '\x5A');
            f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
        }
        const std::string error = open_error(path, &kind);
        CHECK_THAT(error, Catch::Contains("damaged") && Catch::Contains("quick_check"));
        CHECK(kind == StoreError::Kind::Fatal);
    }
    SECTION("a newer schema version") {
        const std::string path = dir.file("newer.db");
        open_sqlite_store({.path = path});
        sql(path, "UPDATE schema_version SET version = 7");
        const std::string error = open_error(path, &kind);
        CHECK_THAT(error, Catch::Contains("schema_version 7 is newer") && Catch::Contains("supports (2)"));
        CHECK(kind == StoreError::Kind::Fatal);
        // Nothing was changed by the refused open.
        CHECK(query(path, "SELECT version FROM schema_version") == "7");
    }
    SECTION("an emptied schema_version table") {
        const std::string path = dir.file("empty.db");
        open_sqlite_store({.path = path});
        sql(path, "DELETE FROM schema_version");
        CHECK_THAT(open_error(path, &kind), Catch::Contains("schema_version table is empty or invalid"));
        CHECK(kind == StoreError::Kind::Fatal);
    }
    SECTION("a row that does not decode") {
        const std::string path = dir.file("row.db");
        open_sqlite_store({.path = path})->write(std::vector<Mutation>{put("fine", Value(1)), put("bad", Value(2))});
        sql(path, "UPDATE lww SET value = x'c1' WHERE key = 'bad'");
        auto store = open_sqlite_store({.path = path});
        Snapshot s;
        try {
            store->load(s);
            FAIL("a damaged row loaded");
        } catch (const StoreError& e) {
            CHECK_THAT(e.what(), Catch::Contains("unreadable row in lww (map 'm', key 'bad')"));
            CHECK(e.kind() == StoreError::Kind::Fatal);
        }
    }
}

TEST_CASE("sqlite store: a failure injected by a trigger rolls the whole batch back", "[storage][sqlite]") {
    TempDir dir;
    const std::string path = dir.file("t.db");
    auto store = open_sqlite_store({.path = path});
    store->write(std::vector<Mutation>{put("a", Value(1)), put("b", Value(2)),
                                       OrKeyPut{"o", "k", {ORRecord{Value(1), Timestamp{1, 0, "n"}, "1:0:n", {}}}}});
    const Snapshot before = load_all(*store);
    // Writes go to the log, a batch as one row.
    sql(active_log(path), "CREATE TRIGGER boom BEFORE INSERT ON log BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    const std::vector<Mutation> batch = {
        put("a", Value(10), 2),
        LwwErase{"m", "b"},
        put("c", Value(3)),
        OrKeyPut{"o", "k", {}},
        OrTombstonesAdd{"o", {"1:0:n"}},
        MetaPut{"ns", "fine", Bytes{1}},
        MetaPut{"ns", "boom", Bytes{2}},
    };
    try {
        store->write(batch);
        FAIL("the trigger did not fire");
    } catch (const StoreError& e) {
        CHECK_THAT(e.what(), Catch::Contains("injected failure"));
        CHECK(e.kind() == StoreError::Kind::Rejected);
    }
    CHECK(difference(load_all(*store), before).empty());
    // Same store object, next batch: works.
    sql(active_log(path), "DROP TRIGGER boom");
    store->write(std::vector<Mutation>{put("d", Value(4))});
    CHECK(load_all(*store).lww_rows.size() == 3);
}

TEST_CASE("sqlite store: the WAL and the log stay bounded under constant writes", "[storage][sqlite]") {
    // 240 MB of commits back to back: folds and checkpoints must keep up, or
    // the files would grow by all of it.
    TempDir dir;
    const std::string path = dir.file("wal.db");
    auto store = open_sqlite_store({.path = path, .sync = SqliteOptions::Sync::Normal, .fold_max_bytes = 16u << 20});
    const Value big(std::string(8000, 'w'));
    std::uintmax_t largest_wal = 0, largest_log = 0;
    for (int b = 0; b < 30; ++b) {
        std::vector<Mutation> batch;
        for (int i = 0; i < 1000; ++i) batch.push_back(put(std::to_string(b * 1000 + i), big));
        // A write that waits too long for a fold far behind fails as transient,
        // and WriteBehind retries it; so does this test (on a loaded machine the
        // fold is slow). The bounds below must hold either way.
        for (int attempt = 1;; ++attempt) {
            try {
                store->write(batch);
                break;
            } catch (const StoreError& e) {
                if (e.kind() != StoreError::Kind::Transient || attempt == 60) throw;
            }
        }
        largest_wal = std::max(largest_wal, size_or_zero(path + "-wal"));
        std::uintmax_t log = 0;
        for (const auto& [n, file] : log_files(path)) log += size_or_zero(file) + size_or_zero(file + "-wal");
        largest_log = std::max(largest_log, log);
    }
    INFO("largest WAL: " << largest_wal / 1000000 << " MB, largest log: " << largest_log / 1000000 << " MB");
    // A generation holds at most 2 x 16 MiB of changes plus one 8 MB batch
    // (then writes wait); there are two at most, the one being folded and the
    // active one. A fold writes at most one generation's worth before its checkpoint.
    CHECK(largest_wal < 50'000'000);
    CHECK(largest_log < 100'000'000);
    CHECK(load_all(*store).lww_rows.size() == 30'000);
}

TEST_CASE("sqlite store: a locked database is a transient error", "[storage][sqlite][.slow]") {
    // Waits for the 5 s busy timeout; hidden from the default run.
    TempDir dir;
    const std::string path = dir.file("l.db");
    auto store = open_sqlite_store({.path = path});
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(active_log(path).c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    try {
        store->write(std::vector<Mutation>{put("a", Value(1))});
        FAIL("wrote through an exclusive lock");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::Transient);
        CHECK_THAT(e.what(), Catch::Contains("locked"));
    }
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
    store->write(std::vector<Mutation>{put("a", Value(1))});
    CHECK(load_all(*store).lww_rows.size() == 1);
}

namespace {

// The child: writes batch after batch through WriteBehind and, once a batch is
// durable, reports its id on the pipe. It never returns; the parent kills it.
[[noreturn]] void crash_child(const std::string& path, int fd, std::uint32_t first_id) {
    try {
        // Small folds, so that kills land before, during and after them.
        auto store = open_sqlite_store({.path = path,
                                        .sync = SqliteOptions::Sync::Full,
                                        .fold_min_rows = 300,
                                        .fold_max_rows = 1000,
                                        .fold_idle = std::chrono::milliseconds(20)});
        WriteBehind wb(*store, {}, [](const std::string&) {});
        for (std::uint32_t id = first_id;; ++id) {
            std::vector<Mutation> batch;
            for (int j = 0; j < 5; ++j) {
                batch.push_back(LwwPut{"crash", std::to_string(id) + "/" + std::to_string(j),
                                       LWWRecord{Value(static_cast<std::int64_t>(id)), Timestamp{id, 0, "c"}, {}}});
            }
            batch.push_back(OrKeyPut{"crash-or",
                                     std::to_string(id),
                                     {ORRecord{Value(std::string(200, 'o')), Timestamp{id, 0, "c"}, "t", {}}}});
            batch.push_back(MetaPut{"crash", "last",
                                    Bytes{static_cast<std::uint8_t>(id), static_cast<std::uint8_t>(id >> 8),
                                          static_cast<std::uint8_t>(id >> 16), static_cast<std::uint8_t>(id >> 24)}});
            wb.submit(std::move(batch), [fd, id](bool ok) {
                if (ok && write(fd, &id, sizeof id) != sizeof id) _exit(3);
            });
            while (wb.pending() > 2000) usleep(200);
        }
    } catch (...) {
        _exit(2);
    }
}

}  // namespace

TEST_CASE("sqlite store: every acknowledged write survives SIGKILL", "[storage][sqlite][crash]") {
    TempDir dir;
    const std::string path = dir.file("crash.db");
    std::mt19937 rng(7);
    std::set<std::uint32_t> acked;
    for (int round = 0; round < 6; ++round) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        const std::uint32_t first_id = static_cast<std::uint32_t>(round) * 1'000'000 + 1;
        const pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            close(fds[0]);
            crash_child(path, fds[1], first_id);
        }
        close(fds[1]);
        // Let it get a random number of batches acknowledged, then kill it mid-load.
        const std::size_t wanted = 100 + rng() % 700;
        std::size_t seen = 0;
        std::uint32_t id = 0;
        while (seen < wanted && read(fds[0], &id, sizeof id) == sizeof id) {
            acked.insert(id);
            ++seen;
        }
        REQUIRE(seen == wanted);
        REQUIRE(kill(child, SIGKILL) == 0);
        int status = 0;
        REQUIRE(waitpid(child, &status, 0) == child);
        CHECK(WIFSIGNALED(status));
        // Acknowledgements still in the pipe were sent before the kill: they count too.
        while (read(fds[0], &id, sizeof id) == sizeof id) acked.insert(id);
        close(fds[0]);

        CHECK(query(path, "PRAGMA integrity_check") == "ok");
        auto store = open_sqlite_store({.path = path});
        const Snapshot s = load_all(*store);
        std::set<std::string> keys;
        for (const auto& row : s.lww_rows) {
            REQUIRE(row.map == "crash");
            const auto slash = row.key.find('/');
            REQUIRE(row.record.value == Value(static_cast<std::int64_t>(std::stoul(row.key.substr(0, slash)))));
            keys.insert(row.key);
        }
        std::set<std::string> or_keys;
        for (const auto& row : s.or_rows) or_keys.insert(row.key);
        std::size_t missing = 0;
        for (const std::uint32_t a : acked) {
            for (int j = 0; j < 5; ++j) missing += keys.count(std::to_string(a) + "/" + std::to_string(j)) == 0;
            missing += or_keys.count(std::to_string(a)) == 0;
        }
        INFO("round " << round << ": " << acked.size() << " acknowledged batches");
        CHECK(missing == 0);
        // Batches are atomic: every stored batch is whole.
        for (const std::string& k : or_keys) {
            for (int j = 0; j < 5; ++j) CHECK(keys.count(k + "/" + std::to_string(j)) == 1);
        }
        // The last committed batch wrote the meta entry: it is at least the last acknowledged one.
        REQUIRE(s.meta_rows.size() == 1);
        const Bytes& last = s.meta_rows[0].value;
        REQUIRE(last.size() == 4);
        const std::uint32_t last_id =
            last[0] | last[1] << 8 | last[2] << 16 | static_cast<std::uint32_t>(last[3]) << 24;
        CHECK(last_id >= *acked.rbegin());
    }
}
