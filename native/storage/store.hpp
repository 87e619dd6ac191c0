// The server's storage layer: what changes (a Mutation), what a backend does
// with a batch of them (Store::write, one transaction), and how everything comes
// back after a restart (Store::load into a LoadSink).
//
// The server keeps every map in memory and only ever needs two things from a
// store: make a batch of changes durable atomically, and stream the whole state
// back at startup. So the interface is exactly that; no reads by key. Mutations
// carry final states, not operations (an upsert of the record that won the
// merge, a key's whole OR record set), which makes every batch idempotent:
// re-applying one whose commit was in doubt (a lost connection during COMMIT)
// leaves the same state.
//
// Backends (one file each): SQLite (embedded default: WAL mode, prepared
// statements, one file), PostgreSQL (libpqxx, one statement per table and batch
// through unnest() arrays), and memory (the reference model for tests and
// STORAGE_BACKEND=memory). Values and records are stored with the exact MsgPack
// encoding of value_codec.hpp, so ints stay ints and doubles stay doubles.
//
// Thread-safety: a Store is used by one thread at a time (the WriteBehind writer,
// or the loader before it starts); it does no locking of its own.
#pragma once

#include <topgun/crdt/lww_map.hpp>
#include <topgun/crdt/or_map.hpp>
#include <topgun/value.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace topgun::storage {

// --- mutations --------------------------------------------------------------------------------------

// Upserts an LWW record; a tombstone is a record with a nil value.
struct LwwPut {
    std::string map;
    std::string key;
    LWWRecord record;
};
// Forgets an LWW key (GC of a pruned tombstone, or an expired record).
struct LwwErase {
    std::string map;
    std::string key;
};
// The key's whole OR record set, replacing what was stored; empty erases the key.
// Should two records share a tag, the later one is kept.
struct OrKeyPut {
    std::string map;
    std::string key;
    std::vector<ORRecord> records;
};
struct OrTombstonesAdd {
    std::string map;
    std::vector<std::string> tags;
};
// GC of tombstones past the retention horizon.
struct OrTombstonesErase {
    std::string map;
    std::vector<std::string> tags;
};
// Counters, policies, device credentials: opaque blobs under a namespace.
struct MetaPut {
    std::string ns;
    std::string key;
    Bytes value;
};
struct MetaErase {
    std::string ns;
    std::string key;
};

using Mutation = std::variant<LwwPut, LwwErase, OrKeyPut, OrTombstonesAdd, OrTombstonesErase, MetaPut, MetaErase>;

// --- loading ------------------------------------------------------------------------------------------

// Receives the stored state, one call per stored item: every LWW key once, every
// OR key once with all its records (sorted by tag, byte order), every tombstone
// once, every meta entry once. Order across calls: LWW, OR keys, tombstones,
// meta; within each, by map (or namespace) then key in byte order. Views are
// valid during the call only.
class LoadSink {
public:
    virtual ~LoadSink() = default;
    virtual void lww(std::string_view map, std::string_view key, LWWRecord&& record) = 0;
    virtual void or_key(std::string_view map, std::string_view key, std::vector<ORRecord>&& records) = 0;
    virtual void or_tombstone(std::string_view map, std::string_view tag) = 0;
    virtual void meta(std::string_view ns, std::string_view key, std::span<const std::uint8_t> value) = 0;
};

// Backends read OR records as rows ordered by (map, key, tag); this turns the
// consecutive rows of one key into one LoadSink::or_key call.
class OrKeyRows {
public:
    explicit OrKeyRows(LoadSink& sink) : sink_(sink) {}
    // The record to fill for the next row.
    ORRecord& next(std::string_view map, std::string_view key) {
        if (!records_.empty() && (map != map_ || key != key_)) flush();
        if (records_.empty()) {
            map_ = map;
            key_ = key;
        }
        return records_.emplace_back();
    }
    // After the last row.
    void flush() {
        if (!records_.empty()) sink_.or_key(map_, key_, std::move(records_));
        records_.clear();
    }

private:
    LoadSink& sink_;
    std::string map_;
    std::string key_;
    std::vector<ORRecord> records_;
};

// --- errors -------------------------------------------------------------------------------------------

// What failed, with the backend's own message. The kind tells a caller whether
// trying the same batch again can help.
class StoreError : public std::runtime_error {
public:
    enum class Kind {
        Transient,  // I/O error, disk full, database locked or unreachable: retrying may succeed
        Rejected,   // this batch can never be stored as it is (a value nested too deep, a key the backend cannot hold)
        Fatal,      // the store itself is unusable: corrupt file, newer schema, not a database
    };
    StoreError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
    Kind kind() const noexcept { return kind_; }

private:
    Kind kind_;
};

// --- the interface ----------------------------------------------------------------------------------

class Store {
public:
    virtual ~Store() = default;
    virtual std::string_view backend() const noexcept = 0;  // "sqlite" | "postgres" | "memory"
    virtual bool durable() const noexcept = 0;              // memory: false
    // Applies the batch in order as ONE transaction: all of it or none of it.
    // Durable when it returns (to the backend's sync setting). An empty batch
    // does nothing. Throws StoreError; the store stays usable afterwards.
    virtual void write(std::span<const Mutation> batch) = 0;
    // Streams everything back (see LoadSink) from one consistent snapshot.
    // Throws StoreError, also for a stored row that does not decode.
    virtual void load(LoadSink& sink) = 0;
};

// Keeps everything in memory; load returns exactly what was written.
std::unique_ptr<Store> make_memory_store();

struct SqliteOptions {
    std::string path = "./topgun.db";
    // Full: every commit is on disk when write() returns (fsync of the WAL).
    // Normal: a commit survives a process crash, but the last ones may be lost
    // in a power failure (SQLite's WAL + synchronous=NORMAL).
    enum class Sync { Normal, Full } sync = Sync::Full;
    // Page cache of the keyed tables (used by the fold). The whole working set
    // in cache keeps the fold's upserts from re-reading pages.
    std::size_t cache_mib = 64;
    // The write-ahead log (see sqlite_store.cpp) is folded into the keyed tables
    // once it holds twice as many changes as they hold rows, but at least
    // fold_min_rows and at most fold_max_rows changes or fold_max_bytes bytes;
    // and when it has been idle for fold_idle. Writes wait (then fail as
    // Transient) while the log is twice the maximum: the fold is behind.
    std::size_t fold_min_rows = 20'000;
    std::size_t fold_max_rows = 500'000;
    std::size_t fold_max_bytes = 32u << 20;
    // The fold reads, sorts and applies a generation in pieces of about this
    // many bytes (all in one transaction), so its memory stays bounded however
    // large the generation; bigger pieces merge more repeated keys.
    std::size_t fold_chunk_bytes = 8u << 20;
    std::chrono::milliseconds fold_idle{1000};
    // Called on the fold thread with a description of every failed fold (the
    // log keeps the data; the fold is retried with backoff).
    std::function<void(const std::string&)> on_background_error;
};
// Opens (creating the file and schema if needed) in WAL mode, runs
// PRAGMA quick_check and folds any write-ahead log a previous process left.
// Throws StoreError with a clear message for a directory, an unwritable
// location, a file that is not a database or fails the check, or a
// schema_version newer than this code knows.
std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options);

// Connects (a libpq URL or "key=value" string) and creates the schema if absent.
// Throws StoreError when the server is unreachable or the schema is newer.
// Keys, map names and tags are `text` there, so they must be valid UTF-8 without
// NUL bytes (others are refused with Kind::Rejected); SQLite has no such limit.
std::unique_ptr<Store> open_postgres_store(const std::string& database_url);

// The schema versions this code writes; a store holding a newer one is refused.
inline constexpr int kPostgresSchemaVersion = 1;
inline constexpr int kSqliteSchemaVersion = 2;  // 2: the write-ahead log files and fold_state

}  // namespace topgun::storage
