// PostgresStore: libpqxx 6.4, a handful of round trips per batch whatever its size.
//
// A batch is first reduced to its net effect (the last change per row wins: a
// transaction only makes its final state visible), then written with one
// statement per table and kind of change, each taking whole columns as array
// parameters: INSERT ... SELECT * FROM unnest($1::text[], ...) ON CONFLICT DO
// UPDATE, and DELETE ... USING unnest(...). So a batch of 8,192 upserts is one
// statement, not 8,192 round trips. Reducing first also keeps ON CONFLICT from
// meeting the same key twice in one statement, which PostgreSQL refuses.
//
// Schema (version 1), names prefixed because the database may be shared:
//   topgun_schema_version(version)
//   topgun_lww(map, key, millis, counter, node, ttl, value)  PK(map, key)   value NULL = tombstone
//   topgun_or_records(map, key, tag, millis, counter, node, ttl, value)  PK(map, key, tag)
//   topgun_or_tombstones(map, tag)  PK(map, tag)
//   topgun_meta(ns, key, value)  PK(ns, key)
// Text columns use COLLATE "C": byte order (the order load() promises, the same
// as SQLite's) and cheaper comparisons than a linguistic collation.
//
// A lost connection is reported as Transient and re-established on the next
// call; a commit whose outcome is unknown is safe to retry because batches
// are idempotent (store.hpp).
#include "storage/store.hpp"
#include "storage/value_codec.hpp"

#include <topgun/msgpack/writer.hpp>

#include <pqxx/pqxx>

#include <limits>
#include <map>
#include <utility>

namespace topgun::storage {
namespace {

using Kind = StoreError::Kind;

// Builds the text form of a one-dimensional array parameter ({"a","b",NULL}).
class ArrayLiteral {
public:
    void text(std::string_view s) {
        next();
        out_ += '"';
        for (const char c : s) {
            if (c == '"' || c == '\\') out_ += '\\';
            out_ += c;
        }
        out_ += '"';
    }
    void integer(std::int64_t v) {
        next();
        out_ += std::to_string(v);
    }
    void optional_u64(const std::optional<std::uint64_t>& v) {
        if (v) {
            integer(static_cast<std::int64_t>(*v));
        } else {
            null();
        }
    }
    // bytea in hex form; the backslash of "\x" is escaped inside the quotes.
    void bytea(std::span<const std::uint8_t> b) {
        static constexpr char kHex[] = "0123456789abcdef";
        next();
        out_ += "\"\\\\x";
        for (const std::uint8_t byte : b) {
            out_ += kHex[byte >> 4];
            out_ += kHex[byte & 0xF];
        }
        out_ += '"';
    }
    void null() {
        next();
        out_ += "NULL";
    }
    std::size_t size() const noexcept { return count_; }
    std::string finish() {
        out_ += '}';
        return std::move(out_);
    }

private:
    void next() {
        if (count_++ != 0) out_ += ',';
    }
    std::string out_ = "{";
    std::size_t count_ = 0;
};

using RowKey = std::pair<std::string_view, std::string_view>;  // (map or ns, key or tag), views into the batch

// The net effect of a batch: the final state of every row it touched.
struct NetEffect {
    std::map<RowKey, const LWWRecord*> lww;                  // nullptr: erase
    std::map<RowKey, const std::vector<ORRecord>*> or_keys;  // empty: erase the key
    std::map<RowKey, bool> tombstones;                       // true: present
    std::map<RowKey, const Bytes*> meta;                     // nullptr: erase

    void add(const LwwPut& m) { lww[{m.map, m.key}] = &m.record; }
    void add(const LwwErase& m) { lww[{m.map, m.key}] = nullptr; }
    void add(const OrKeyPut& m) { or_keys[{m.map, m.key}] = &m.records; }
    void add(const OrTombstonesAdd& m) {
        for (const std::string& tag : m.tags) tombstones[{m.map, tag}] = true;
    }
    void add(const OrTombstonesErase& m) {
        for (const std::string& tag : m.tags) tombstones[{m.map, tag}] = false;
    }
    void add(const MetaPut& m) { meta[{m.ns, m.key}] = &m.value; }
    void add(const MetaErase& m) { meta[{m.ns, m.key}] = nullptr; }
};

// PostgreSQL text cannot hold NUL, and libpq would silently cut a parameter there.
void check_text(std::string_view s, const char* what) {
    if (s.find('\0') != std::string_view::npos) {
        throw StoreError(Kind::Rejected, std::string("PostgreSQL cannot store a ") + what + " containing a NUL byte");
    }
}
void check_value(const Value& v) {
    if (!storable(v)) {
        throw StoreError(Kind::Rejected,
                         "value nested deeper than " + std::to_string(kMaxValueDepth) + " containers cannot be stored");
    }
}

// SQLSTATE classes: 22 data exception (invalid UTF-8, out of range), 23
// integrity constraint, 54 program limit exceeded: the data itself is refused.
// 08 connection, 40 rollback, 53 insufficient resources, 57 operator
// intervention, and anything unknown: trying again may help.
Kind kind_of_sqlstate(const std::string& state) {
    const std::string cls = state.substr(0, 2);
    if (cls == "22" || cls == "23" || cls == "54") return Kind::Rejected;
    return Kind::Transient;
}

constexpr const char* kCreateSchema = R"sql(
CREATE TABLE topgun_schema_version (version integer NOT NULL);
CREATE TABLE topgun_lww (
    map text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
    millis bigint NOT NULL, counter bigint NOT NULL, node text COLLATE "C" NOT NULL, ttl bigint,
    value bytea,
    PRIMARY KEY (map, key));
CREATE TABLE topgun_or_records (
    map text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, tag text COLLATE "C" NOT NULL,
    millis bigint NOT NULL, counter bigint NOT NULL, node text COLLATE "C" NOT NULL, ttl bigint,
    value bytea NOT NULL,
    PRIMARY KEY (map, key, tag));
CREATE TABLE topgun_or_tombstones (
    map text COLLATE "C" NOT NULL, tag text COLLATE "C" NOT NULL,
    PRIMARY KEY (map, tag));
CREATE TABLE topgun_meta (
    ns text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value bytea NOT NULL,
    PRIMARY KEY (ns, key));
)sql";

// name -> SQL of every prepared statement.
const std::pair<const char*, const char*> kStatements[] = {
    {"topgun_lww_put",
     "INSERT INTO topgun_lww (map, key, millis, counter, node, ttl, value) "
     "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], "
     "$7::bytea[]) "
     "ON CONFLICT (map, key) DO UPDATE SET millis = EXCLUDED.millis, counter = EXCLUDED.counter, "
     "node = EXCLUDED.node, ttl = EXCLUDED.ttl, value = EXCLUDED.value"},
    {"topgun_lww_erase",
     "DELETE FROM topgun_lww t USING unnest($1::text[], $2::text[]) AS d(map, key) "
     "WHERE t.map = d.map COLLATE \"C\" AND t.key = d.key COLLATE \"C\""},
    {"topgun_or_clear",
     "DELETE FROM topgun_or_records t USING unnest($1::text[], $2::text[]) AS d(map, key) "
     "WHERE t.map = d.map COLLATE \"C\" AND t.key = d.key COLLATE \"C\""},
    {"topgun_or_put",
     "INSERT INTO topgun_or_records (map, key, tag, millis, counter, node, ttl, value) "
     "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], "
     "$7::bigint[], $8::bytea[])"},
    {"topgun_tombstone_add",
     "INSERT INTO topgun_or_tombstones (map, tag) SELECT * FROM unnest($1::text[], $2::text[]) "
     "ON CONFLICT DO NOTHING"},
    {"topgun_tombstone_erase",
     "DELETE FROM topgun_or_tombstones t USING unnest($1::text[], $2::text[]) AS d(map, tag) "
     "WHERE t.map = d.map COLLATE \"C\" AND t.tag = d.tag COLLATE \"C\""},
    {"topgun_meta_put",
     "INSERT INTO topgun_meta (ns, key, value) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) "
     "ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value"},
    {"topgun_meta_erase",
     "DELETE FROM topgun_meta t USING unnest($1::text[], $2::text[]) AS d(ns, key) "
     "WHERE t.ns = d.ns COLLATE \"C\" AND t.key = d.key COLLATE \"C\""},
};

class PostgresStore final : public Store {
public:
    explicit PostgresStore(std::string url) : url_(std::move(url)) {
        guarded("cannot open the database", [&] {
            connect();
            ensure_schema();
        });
    }

    std::string_view backend() const noexcept override { return "postgres"; }
    bool durable() const noexcept override { return true; }

    void write(std::span<const Mutation> batch) override {
        if (batch.empty()) return;
        NetEffect net;
        for (const Mutation& m : batch) std::visit([&](const auto& op) { net.add(op); }, m);
        // Columns are built (and checked) before the transaction starts.
        std::vector<std::pair<const char*, std::vector<std::string>>> statements = build(net);
        guarded("write failed", [&] {
            pqxx::work tx(connection());
            for (auto& [name, params] : statements) exec_prepared(tx, name, params);
            tx.commit();
        });
    }

    void load(LoadSink& sink) override {
        guarded("load failed", [&] {
            // One snapshot for all four tables.
            pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(connection());
            load_lww(tx, sink);
            load_or(tx, sink);
            scan(tx, "SELECT map, tag FROM topgun_or_tombstones ORDER BY map, tag",
                 [&](const pqxx::row& r) { sink.or_tombstone(text(r[0]), text(r[1])); });
            scan(tx, "SELECT ns, key, value FROM topgun_meta ORDER BY ns, key", [&](const pqxx::row& r) {
                const pqxx::binarystring value(r[2]);
                sink.meta(text(r[0]), text(r[1]), {value.data(), value.size()});
            });
            tx.commit();
        });
    }

private:
    // Runs f, turning libpqxx's exceptions into StoreError. A broken connection
    // is dropped so that the next call reconnects.
    template <class F>
    void guarded(const char* what, F&& f) {
        try {
            f();
        } catch (const StoreError&) {
            throw;
        } catch (const pqxx::broken_connection& e) {
            conn_.reset();
            throw StoreError(Kind::Transient, std::string("PostgreSQL: ") + what + ": connection lost: " + e.what());
        } catch (const pqxx::in_doubt_error& e) {
            conn_.reset();
            throw StoreError(Kind::Transient,
                             std::string("PostgreSQL: ") + what + ": commit outcome unknown: " + e.what());
        } catch (const pqxx::sql_error& e) {
            throw StoreError(kind_of_sqlstate(e.sqlstate()),
                             std::string("PostgreSQL: ") + what + " (SQLSTATE " + e.sqlstate() + "): " + e.what());
        } catch (const std::exception& e) {
            // pqxx::failure and conversion errors; a connection in an unknown state is not reused.
            if (conn_ != nullptr && !conn_->is_open()) conn_.reset();
            throw StoreError(Kind::Transient, std::string("PostgreSQL: ") + what + ": " + e.what());
        }
    }

    pqxx::connection& connection() {
        if (conn_ == nullptr || !conn_->is_open()) connect();
        return *conn_;
    }

    void connect() {
        conn_.reset();
        auto conn = std::make_unique<pqxx::connection>(url_);
        for (const auto& [name, sql] : kStatements) conn->prepare(name, sql);
        conn_ = std::move(conn);
    }

    void ensure_schema() {
        pqxx::work tx(*conn_);
        // Two servers starting at once must not both create the tables.
        tx.exec("SELECT pg_advisory_xact_lock(7464717)");  // an arbitrary id: "tg" + 1
        const pqxx::row exists = tx.exec1("SELECT to_regclass('topgun_schema_version') IS NOT NULL");
        if (!exists[0].as<bool>()) {
            tx.exec0(kCreateSchema);
            tx.exec0("INSERT INTO topgun_schema_version VALUES (" + std::to_string(kPostgresSchemaVersion) + ")");
        } else {
            const pqxx::row r = tx.exec1("SELECT max(version) FROM topgun_schema_version");
            const int version = r[0].is_null() ? 0 : r[0].as<int>();
            if (version > kPostgresSchemaVersion) {
                throw StoreError(Kind::Fatal, "PostgreSQL: topgun_schema_version " + std::to_string(version) +
                                                  " is newer than this TopGun build supports (" +
                                                  std::to_string(kPostgresSchemaVersion) +
                                                  "); upgrade TopGun or use another database");
            }
            if (version < 1) throw StoreError(Kind::Fatal, "PostgreSQL: topgun_schema_version is empty or invalid");
        }
        tx.commit();
    }

    // --- writing ------------------------------------------------------------------------------------

    using Statements = std::vector<std::pair<const char*, std::vector<std::string>>>;

    Statements build(const NetEffect& net) {
        Statements out;
        {
            ArrayLiteral maps, keys, millis, counters, nodes, ttls, values, erase_maps, erase_keys;
            for (const auto& [row, record] : net.lww) {
                check_text(row.first, "map name");
                check_text(row.second, "key");
                if (record == nullptr) {
                    erase_maps.text(row.first);
                    erase_keys.text(row.second);
                    continue;
                }
                check_text(record->timestamp.node_id, "node id");
                maps.text(row.first);
                keys.text(row.second);
                millis.integer(static_cast<std::int64_t>(record->timestamp.millis));
                counters.integer(record->timestamp.counter);
                nodes.text(record->timestamp.node_id);
                ttls.optional_u64(record->ttl_ms);
                if (record->is_tombstone()) {
                    values.null();
                } else {
                    values.bytea(encoded(record->value));
                }
            }
            if (erase_maps.size() != 0) out.push_back({"topgun_lww_erase", {erase_maps.finish(), erase_keys.finish()}});
            if (maps.size() != 0) {
                out.push_back({"topgun_lww_put",
                               {maps.finish(), keys.finish(), millis.finish(), counters.finish(), nodes.finish(),
                                ttls.finish(), values.finish()}});
            }
        }
        {
            ArrayLiteral clear_maps, clear_keys, maps, keys, tags, millis, counters, nodes, ttls, values;
            for (const auto& [row, records] : net.or_keys) {
                check_text(row.first, "map name");
                check_text(row.second, "key");
                clear_maps.text(row.first);
                clear_keys.text(row.second);
                // A repeated tag: the later record is kept.
                std::map<std::string_view, const ORRecord*> by_tag;
                for (const ORRecord& r : *records) by_tag[r.tag] = &r;
                for (const auto& [tag, r] : by_tag) {
                    check_text(tag, "tag");
                    check_text(r->timestamp.node_id, "node id");
                    maps.text(row.first);
                    keys.text(row.second);
                    tags.text(tag);
                    millis.integer(static_cast<std::int64_t>(r->timestamp.millis));
                    counters.integer(r->timestamp.counter);
                    nodes.text(r->timestamp.node_id);
                    ttls.optional_u64(r->ttl_ms);
                    values.bytea(encoded(r->value));
                }
            }
            if (clear_maps.size() != 0) out.push_back({"topgun_or_clear", {clear_maps.finish(), clear_keys.finish()}});
            if (maps.size() != 0) {
                out.push_back({"topgun_or_put",
                               {maps.finish(), keys.finish(), tags.finish(), millis.finish(), counters.finish(),
                                nodes.finish(), ttls.finish(), values.finish()}});
            }
        }
        {
            ArrayLiteral add_maps, add_tags, erase_maps, erase_tags;
            for (const auto& [row, present] : net.tombstones) {
                check_text(row.first, "map name");
                check_text(row.second, "tag");
                (present ? add_maps : erase_maps).text(row.first);
                (present ? add_tags : erase_tags).text(row.second);
            }
            if (erase_maps.size() != 0) {
                out.push_back({"topgun_tombstone_erase", {erase_maps.finish(), erase_tags.finish()}});
            }
            if (add_maps.size() != 0) out.push_back({"topgun_tombstone_add", {add_maps.finish(), add_tags.finish()}});
        }
        {
            ArrayLiteral put_ns, put_keys, put_values, erase_ns, erase_keys;
            for (const auto& [row, value] : net.meta) {
                check_text(row.first, "meta namespace");
                check_text(row.second, "meta key");
                if (value == nullptr) {
                    erase_ns.text(row.first);
                    erase_keys.text(row.second);
                } else {
                    put_ns.text(row.first);
                    put_keys.text(row.second);
                    put_values.bytea(*value);
                }
            }
            if (erase_ns.size() != 0) out.push_back({"topgun_meta_erase", {erase_ns.finish(), erase_keys.finish()}});
            if (put_ns.size() != 0) {
                out.push_back({"topgun_meta_put", {put_ns.finish(), put_keys.finish(), put_values.finish()}});
            }
        }
        return out;
    }

    std::span<const std::uint8_t> encoded(const Value& v) {
        check_value(v);
        value_buf_.clear();
        encode_value(value_buf_, v);
        return value_buf_.bytes();
    }

    static void exec_prepared(pqxx::work& tx, const char* name, const std::vector<std::string>& p) {
        switch (p.size()) {
            case 2: tx.exec_prepared(name, p[0], p[1]); return;
            case 3: tx.exec_prepared(name, p[0], p[1], p[2]); return;
            case 7: tx.exec_prepared(name, p[0], p[1], p[2], p[3], p[4], p[5], p[6]); return;
            case 8: tx.exec_prepared(name, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]); return;
            default: throw std::logic_error("no statement takes " + std::to_string(p.size()) + " parameters");
        }
    }

    // --- loading ------------------------------------------------------------------------------------

    static std::string_view text(const pqxx::field& f) { return {f.c_str(), f.size()}; }

    // Reads a query through a server-side cursor, 10,000 rows per round trip,
    // so a large table never sits in client memory as one result.
    template <class Tx, class Row>
    static void scan(Tx& tx, const std::string& query, Row&& row) {
        tx.exec0("DECLARE topgun_load_cursor NO SCROLL CURSOR FOR " + query);
        for (;;) {
            const pqxx::result chunk = tx.exec("FETCH 10000 FROM topgun_load_cursor");
            for (const pqxx::row& r : chunk) row(r);
            if (chunk.size() < 10000) break;
        }
        tx.exec0("CLOSE topgun_load_cursor");
    }

    [[noreturn]] static void bad_row(const char* table, std::string_view map, std::string_view key,
                                     const std::string& why) {
        throw StoreError(Kind::Fatal, std::string("PostgreSQL: unreadable row in ") + table + " (map '" +
                                          std::string(map) + "', key '" + std::string(key) + "'): " + why);
    }

    static std::uint32_t counter_of(const pqxx::field& f, const char* table, std::string_view map,
                                    std::string_view key) {
        const auto c = f.as<std::int64_t>();
        if (c < 0 || c > std::numeric_limits<std::uint32_t>::max()) {
            bad_row(table, map, key, "counter " + std::to_string(c) + " is out of range");
        }
        return static_cast<std::uint32_t>(c);
    }
    static std::optional<std::uint64_t> optional_u64(const pqxx::field& f) {
        if (f.is_null()) return std::nullopt;
        return static_cast<std::uint64_t>(f.as<std::int64_t>());
    }
    static Value value_of(const pqxx::field& f, const char* table, std::string_view map, std::string_view key) {
        const pqxx::binarystring bytes(f);
        Value v;
        std::string error;
        if (!decode_value({bytes.data(), bytes.size()}, v, error)) bad_row(table, map, key, "value: " + error);
        return v;
    }

    template <class Tx>
    static void load_lww(Tx& tx, LoadSink& sink) {
        scan(tx, "SELECT map, key, millis, counter, node, ttl, value FROM topgun_lww ORDER BY map, key",
             [&](const pqxx::row& r) {
                 const std::string_view map = text(r[0]), key = text(r[1]);
                 LWWRecord record;
                 record.timestamp.millis = static_cast<std::uint64_t>(r[2].as<std::int64_t>());
                 record.timestamp.counter = counter_of(r[3], "topgun_lww", map, key);
                 record.timestamp.node_id = text(r[4]);
                 record.ttl_ms = optional_u64(r[5]);
                 if (!r[6].is_null()) record.value = value_of(r[6], "topgun_lww", map, key);
                 sink.lww(map, key, std::move(record));
             });
    }

    template <class Tx>
    static void load_or(Tx& tx, LoadSink& sink) {
        OrKeyRows rows(sink);
        scan(tx,
             "SELECT map, key, tag, millis, counter, node, ttl, value FROM topgun_or_records ORDER BY map, key, tag",
             [&](const pqxx::row& r) {
                 const std::string_view row_map = text(r[0]), row_key = text(r[1]);
                 ORRecord& rec = rows.next(row_map, row_key);
                 rec.tag = text(r[2]);
                 rec.timestamp.millis = static_cast<std::uint64_t>(r[3].as<std::int64_t>());
                 rec.timestamp.counter = counter_of(r[4], "topgun_or_records", row_map, row_key);
                 rec.timestamp.node_id = text(r[5]);
                 rec.ttl_ms = optional_u64(r[6]);
                 rec.value = value_of(r[7], "topgun_or_records", row_map, row_key);
             });
        rows.flush();
    }

    std::string url_;
    std::unique_ptr<pqxx::connection> conn_;
    msgpack::Writer value_buf_;
};

}  // namespace

std::unique_ptr<Store> open_postgres_store(const std::string& database_url) {
    return std::make_unique<PostgresStore>(database_url);
}

}  // namespace topgun::storage
