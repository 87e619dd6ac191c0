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

}  // namespace

TEST_CASE("sqlite store: creates an inspectable schema with a version", "[storage][sqlite]") {
    TempDir dir;
    const std::string path = dir.file("s.db");
    {
        auto store = open_sqlite_store({.path = path});
        store->write(std::vector<Mutation>{put("k", Value("hello"), 1700000000000)});
    }
    CHECK(query(path, "SELECT version FROM schema_version") == "1");
    CHECK(query(path, "PRAGMA journal_mode") == "wal");
    CHECK(query(path, "SELECT map || '/' || key || ' ' || millis || ' ' || node || ' ' || hex(value) FROM lww") ==
          "m/k 1700000000000 n A568656C6C6F");
    CHECK(query(path,
                "SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name)") ==
          "lww,meta,or_records,or_tombstones,schema_version");
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
        CHECK_THAT(error, Catch::Contains("schema_version 7 is newer") && Catch::Contains("supports (1)"));
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
    sql(path,
        "CREATE TRIGGER boom BEFORE INSERT ON meta WHEN NEW.key = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
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
    store->write(std::vector<Mutation>{put("d", Value(4))});
    CHECK(load_all(*store).lww_rows.size() == 3);
}

TEST_CASE("sqlite store: the WAL stays bounded under constant writes", "[storage][sqlite]") {
    // 240 MB of commits back to back: checkpoints must let the WAL restart, or
    // it would grow by all of it.
    TempDir dir;
    const std::string path = dir.file("wal.db");
    auto store = open_sqlite_store({.path = path, .sync = SqliteOptions::Sync::Normal});
    const Value big(std::string(8000, 'w'));
    std::uintmax_t largest = 0;
    for (int b = 0; b < 30; ++b) {
        std::vector<Mutation> batch;
        for (int i = 0; i < 1000; ++i) batch.push_back(put(std::to_string(b * 1000 + i), big));
        store->write(batch);
        largest = std::max(largest, std::filesystem::file_size(path + "-wal"));
    }
    INFO("largest WAL: " << largest / 1000000 << " MB");
    CHECK(largest < 120'000'000);  // 16,000 pages of 4 KB, plus one batch, plus slack
    CHECK(load_all(*store).lww_rows.size() == 30'000);
}

TEST_CASE("sqlite store: a locked database is a transient error", "[storage][sqlite][.slow]") {
    // Waits for the 5 s busy timeout; hidden from the default run.
    TempDir dir;
    const std::string path = dir.file("l.db");
    auto store = open_sqlite_store({.path = path});
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &other) == SQLITE_OK);
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
        auto store = open_sqlite_store({.path = path, .sync = SqliteOptions::Sync::Full});
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
