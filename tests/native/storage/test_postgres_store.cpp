// PostgreSQL backend tests. Hidden ([.postgres]): CTest runs them as
// `storage.postgres` under pg_virtualenv, which starts a throw-away cluster and
// exports PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE. Without those the tests
// fail: a missing database must not pass for a working one.
#include "postgres_url.hpp"
#include "storage/storage_testing.hpp"
#include "storage/store.hpp"
#include "storage/write_behind.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <cstdlib>

using namespace topgun;
using namespace topgun::storage;
using namespace topgun::storage::testing;

// libpqxx 6.4 leaks one PGresult (~2 KB) when BEGIN meets a connection the
// server has terminated (the lost-connection test does that on purpose); the
// leak is inside the library, so LeakSanitizer is told to ignore its frames.
extern "C" const char* __lsan_default_suppressions() { return "leak:libpqxx-6.4.so\n"; }

namespace {

// The pg_virtualenv cluster's connection string.
std::string database_url() {
    const std::string url = topgun::testing::postgres_url_from_env();
    if (url.empty()) FAIL("PGHOST/PGPORT/PGUSER/PGDATABASE are not set: run the PostgreSQL tests under pg_virtualenv");
    return url;
}

// Drops TopGun's tables (and the test trigger) so each test starts empty.
void reset_database(const std::string& url) {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec0(
        "DROP TABLE IF EXISTS topgun_schema_version, topgun_lww, topgun_or_records, topgun_or_tombstones, "
        "topgun_meta CASCADE");
    tx.exec0("DROP FUNCTION IF EXISTS topgun_test_boom() CASCADE");
    tx.commit();
}

void run_sql(const std::string& url, const std::string& sql) {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
}

LwwPut put(std::string key, Value v, std::uint64_t millis = 1) {
    return LwwPut{"m", std::move(key), LWWRecord{std::move(v), Timestamp{millis, 0, "n"}, std::nullopt}};
}

}  // namespace

TEST_CASE("postgres store: property: reopened store loads exactly the model's content", "[storage][.postgres]") {
    const std::string url = database_url();
    for (std::uint64_t seed : {21, 22, 23}) {
        reset_database(url);
        Generator gen(seed, /*any_bytes_in_names=*/false);
        auto model = make_memory_store();
        auto store = open_postgres_store(url);
        CHECK(store->backend() == "postgres");
        CHECK(store->durable());
        for (int i = 0; i < 60; ++i) {
            const std::vector<Mutation> batch = gen.batch();
            store->write(batch);
            model->write(batch);
            if (i % 10 == 9) {
                store = open_postgres_store(url);
                INFO("seed " << seed << ", after batch " << i);
                REQUIRE(difference(load_all(*store), load_all(*model)).empty());
            }
        }
        CHECK(load_all(*model).items() > 20);
    }
}

TEST_CASE("postgres store: large batches and large tables go through", "[storage][.postgres]") {
    const std::string url = database_url();
    reset_database(url);
    auto store = open_postgres_store(url);
    auto model = make_memory_store();
    Generator gen(99, false);
    // 25,000 rows: more than one cursor chunk per table on load.
    for (int b = 0; b < 5; ++b) {
        std::vector<Mutation> batch;
        for (int i = 0; i < 5000; ++i) batch.push_back(put("k" + std::to_string(b * 5000 + i), gen.value()));
        store->write(batch);
        model->write(batch);
    }
    CHECK(difference(load_all(*open_postgres_store(url)), load_all(*model)).empty());
}

TEST_CASE("postgres store: a batch failing in a trigger leaves nothing behind", "[storage][.postgres]") {
    const std::string url = database_url();
    reset_database(url);
    auto store = open_postgres_store(url);
    store->write(std::vector<Mutation>{put("a", Value(1)), put("b", Value(2)),
                                       OrKeyPut{"o", "k", {ORRecord{Value(1), Timestamp{1, 0, "n"}, "1:0:n", {}}}}});
    const Snapshot before = load_all(*store);
    run_sql(url,
            "CREATE FUNCTION topgun_test_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.key = 'boom' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$");
    run_sql(url,
            "CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON topgun_meta FOR EACH ROW EXECUTE FUNCTION "
            "topgun_test_boom()");
    const std::vector<Mutation> batch = {
        put("a", Value(10), 2),
        LwwErase{"m", "b"},
        put("c", Value(3)),
        OrKeyPut{"o", "k", {}},
        OrTombstonesAdd{"o", {"1:0:n"}},
        MetaPut{"ns", "boom", Bytes{2}},
    };
    try {
        store->write(batch);
        FAIL("the trigger did not fire");
    } catch (const StoreError& e) {
        CHECK_THAT(e.what(), Catch::Contains("injected failure") && Catch::Contains("SQLSTATE P0001"));
    }
    CHECK(difference(load_all(*store), before).empty());
    store->write(std::vector<Mutation>{put("d", Value(4))});
    CHECK(load_all(*store).lww_rows.size() == 3);
}

TEST_CASE("postgres store: names PostgreSQL cannot hold are refused, with nothing written", "[storage][.postgres]") {
    const std::string url = database_url();
    reset_database(url);
    auto store = open_postgres_store(url);
    for (const std::string& bad :
         {std::string("nul\0byte", 8), std::string("surrogate\xED\xA0\x80"), std::string("invalid\xFF")}) {
        try {
            store->write(std::vector<Mutation>{put("fine", Value(1)), put(bad, Value(2))});
            FAIL("stored an impossible key");
        } catch (const StoreError& e) {
            CHECK(e.kind() == StoreError::Kind::Rejected);
        }
    }
    CHECK(load_all(*store).items() == 0);
}

TEST_CASE("postgres store: a newer schema is refused, a lost connection is transient and recovered",
          "[storage][.postgres]") {
    const std::string url = database_url();
    reset_database(url);
    auto store = open_postgres_store(url);
    store->write(std::vector<Mutation>{put("a", Value(1))});

    // Kill the store's backend process, as a server restart or network cut would.
    run_sql(url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
            "pg_backend_pid()");
    try {
        store->write(std::vector<Mutation>{put("b", Value(2))});
        FAIL("wrote over a terminated connection");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::Transient);
    }
    store->write(std::vector<Mutation>{put("b", Value(2))});  // reconnects
    CHECK(load_all(*store).lww_rows.size() == 2);

    run_sql(url, "UPDATE topgun_schema_version SET version = 9");
    try {
        open_postgres_store(url);
        FAIL("opened a newer schema");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::Fatal);
        CHECK_THAT(e.what(), Catch::Contains("topgun_schema_version 9 is newer"));
    }
}

TEST_CASE("postgres store: an unreachable server is a clear error", "[storage][.postgres]") {
    try {
        open_postgres_store("host=127.0.0.1 port=1 connect_timeout=2");
        FAIL("connected to nothing");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::Transient);
        CHECK_THAT(e.what(), Catch::Contains("PostgreSQL: cannot open the database"));
    }
}

TEST_CASE("postgres store: write-behind commits concurrent submitters in order", "[storage][.postgres]") {
    const std::string url = database_url();
    reset_database(url);
    {
        auto store = open_postgres_store(url);
        WriteBehind wb(*store, {}, {});
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&wb, t] {
                for (std::int64_t v = 1; v <= 200; ++v) wb.submit({put("t" + std::to_string(t), Value(v), 1)});
            });
        }
        for (auto& th : threads) th.join();
        wb.flush();
        CHECK(wb.stats().mutations == 800);
    }
    const Snapshot s = load_all(*open_postgres_store(url));
    REQUIRE(s.lww_rows.size() == 4);
    for (const auto& row : s.lww_rows) CHECK(row.record.value == Value(200));
}
