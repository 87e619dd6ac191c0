// MemoryStore: the reference model. Ordered maps give load() the byte order the
// other backends' primary keys give, so a test can compare them call by call.
#include "storage/store.hpp"
#include "storage/value_codec.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace topgun::storage {
namespace {

template <class T>
using ByName = std::map<std::string, T, std::less<>>;

class MemoryStore final : public Store {
public:
    std::string_view backend() const noexcept override { return "memory"; }
    bool durable() const noexcept override { return false; }

    void write(std::span<const Mutation> batch) override {
        // Everything that could refuse the batch is checked before anything
        // changes, so a refused batch leaves no trace (as a rolled-back transaction).
        for (const Mutation& m : batch) check(m);
        for (const Mutation& m : batch) std::visit([this](const auto& op) { apply(op); }, m);
    }

    void load(LoadSink& sink) override {
        for (const auto& [map, keys] : lww_) {
            for (const auto& [key, record] : keys) sink.lww(map, key, LWWRecord(record));
        }
        for (const auto& [map, keys] : or_) {
            for (const auto& [key, records] : keys) {
                std::vector<ORRecord> out;
                out.reserve(records.size());
                for (const auto& [tag, record] : records) out.push_back(record);
                sink.or_key(map, key, std::move(out));
            }
        }
        for (const auto& [map, tags] : tombstones_) {
            for (const std::string& tag : tags) sink.or_tombstone(map, tag);
        }
        for (const auto& [ns, keys] : meta_) {
            for (const auto& [key, value] : keys) sink.meta(ns, key, value);
        }
    }

private:
    static void check(const Mutation& m) {
        auto refuse_unless = [](bool ok) {
            if (!ok) {
                throw StoreError(
                    StoreError::Kind::Rejected,
                    "value nested deeper than " + std::to_string(kMaxValueDepth) + " containers cannot be stored");
            }
        };
        if (const auto* put = std::get_if<LwwPut>(&m)) refuse_unless(storable(put->record.value));
        if (const auto* put = std::get_if<OrKeyPut>(&m)) {
            for (const ORRecord& r : put->records) refuse_unless(storable(r.value));
        }
    }

    void apply(const LwwPut& op) { lww_[op.map][op.key] = op.record; }
    void apply(const LwwErase& op) { erase_in(lww_, op.map, op.key); }
    void apply(const OrKeyPut& op) {
        if (op.records.empty()) return erase_in(or_, op.map, op.key);
        auto& records = or_[op.map][op.key];
        records.clear();
        for (const ORRecord& r : op.records) records.insert_or_assign(r.tag, r);  // a repeated tag: the later wins
    }
    void apply(const OrTombstonesAdd& op) {
        if (op.tags.empty()) return;
        auto& tags = tombstones_[op.map];
        tags.insert(op.tags.begin(), op.tags.end());
    }
    void apply(const OrTombstonesErase& op) {
        for (const std::string& tag : op.tags) erase_in(tombstones_, op.map, tag);
    }
    void apply(const MetaPut& op) { meta_[op.ns][op.key] = op.value; }
    void apply(const MetaErase& op) { erase_in(meta_, op.ns, op.key); }

    // Erases `key` under `outer`, and `outer` once it is empty.
    template <class Outer>
    static void erase_in(Outer& outer, const std::string& name, const std::string& key) {
        const auto it = outer.find(name);
        if (it == outer.end()) return;
        it->second.erase(key);
        if (it->second.empty()) outer.erase(it);
    }

    ByName<ByName<LWWRecord>> lww_;
    ByName<ByName<ByName<ORRecord>>> or_;  // map -> key -> tag -> record
    ByName<std::set<std::string, std::less<>>> tombstones_;
    ByName<ByName<Bytes>> meta_;
};

}  // namespace

std::unique_ptr<Store> make_memory_store() { return std::make_unique<MemoryStore>(); }

}  // namespace topgun::storage
