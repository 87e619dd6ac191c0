#include <topgun/crdt/or_map.hpp>
#include <topgun/merkle/merkle_tree.hpp>
#include <topgun/merkle/or_entry_hash.hpp>

#include <catch2/catch.hpp>

#include "fake_clock.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace topgun;
using topgun::testing::FakeClock;

namespace {

std::map<char, std::uint32_t> as_map(const std::vector<std::pair<char, std::uint32_t>>& v) {
    return {v.begin(), v.end()};
}

// Live values of a key as sorted text, for order-free comparisons.
std::vector<std::string> live(const ORMap& map, std::string_view key) {
    std::vector<std::string> out;
    for (const Value* v : map.get(key)) out.push_back(merkle::or_value_text(*v));
    std::sort(out.begin(), out.end());
    return out;
}

ORRecord remote(std::string tag, Value value, std::optional<std::uint64_t> ttl = std::nullopt) {
    return ORRecord{std::move(value), *Timestamp::parse(tag), std::move(tag), ttl};
}

// The root of a tree built from scratch over the map's stored records.
std::uint32_t rebuilt_root(const ORMap& map) {
    std::map<std::string, std::vector<ORRecord>> by_key;
    map.for_each_record([&](std::string_view key, const ORRecord& r) { by_key[std::string(key)].push_back(r); });
    merkle::MerkleTree tree;
    for (const auto& [key, recs] : by_key) tree.update(key, merkle::or_entry_hash(key, recs));
    return tree.root_hash();
}
}  // namespace

TEST_CASE("ORMap add, get, remove", "[or]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    ORMap map(hlc);
    const ORRecord r1 = map.add("k", Value("x"));
    CHECK(r1.tag == r1.timestamp.to_string());
    CHECK(r1.timestamp.node_id == "a");
    map.add("k", Value("y"));
    const ORRecord r3 = map.add("k", Value(42));
    CHECK(live(map, "k") == std::vector<std::string>{"42", "x", "y"});
    CHECK(map.size() == 1);
    CHECK(map.total_records() == 3);

    // Structural equality: 42.0 removes the 42 added as an integer.
    CHECK(map.remove("k", Value(42.0)) == std::vector<std::string>{r3.tag});
    CHECK(map.is_tombstoned(r3.tag));
    CHECK(live(map, "k") == std::vector<std::string>{"x", "y"});
    CHECK(map.remove("k", Value("absent")).empty());
    CHECK(map.remove("missing", Value("x")).empty());

    // Removing every value takes the key out of the map and the Merkle tree.
    map.remove("k", Value("x"));
    map.remove("k", Value("y"));
    CHECK(map.size() == 0);
    CHECK(map.get("k").empty());
    CHECK(map.records("k").empty());
    CHECK_FALSE(map.entry_hash("k"));
    CHECK(map.merkle().root_hash() == 0u);
    CHECK(map.tombstone_count() == 3);
}

TEST_CASE("ORMap: concurrent adds both survive, removes only kill observed tags", "[or]") {
    FakeClock clock;
    HLC ha("a", {.clock = clock.source()}), hb("b", {.clock = clock.source()});
    ORMap a(ha), b(hb);
    const ORRecord from_a = a.add("k", Value("v"));
    const ORRecord from_b = b.add("k", Value("v"));  // same value, concurrent
    CHECK(from_a.tag != from_b.tag);

    // a removes "v" having observed only its own add.
    const auto removed = a.remove("k", Value("v"));
    CHECK(removed == std::vector<std::string>{from_a.tag});
    b.apply_tombstone(removed[0]);
    a.apply("k", from_b);
    CHECK(b.apply("k", from_a) == false);  // its tag is tombstoned: it can never come back
    CHECK(live(a, "k") == std::vector<std::string>{"v"});
    CHECK(live(b, "k") == std::vector<std::string>{"v"});
    CHECK(a.merkle().root_hash() == b.merkle().root_hash());
    CHECK(a.records("k")[0] == from_b);
}

TEST_CASE("ORMap apply: tombstones, idempotence, clock", "[or]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    ORMap map(hlc);
    const ORRecord rec = remote("5000000:7:z", Value("v"));
    int changes = 0;
    map.subscribe([&](const ORChange&) { ++changes; });
    CHECK(map.apply("k", rec));
    CHECK(map.apply("k", rec));  // a duplicate changes nothing and notifies nothing
    CHECK(changes == 1);
    CHECK(map.records("k").size() == 1);
    // The clock moved past the remote timestamp.
    CHECK(rec.timestamp < map.add("other", Value(1)).timestamp);
    // Same tag with a different value overwrites (apply is unconditional, as in TS).
    CHECK(map.apply("k", remote("5000000:7:z", Value("w"))));
    CHECK(live(map, "k") == std::vector<std::string>{"w"});

    map.apply_tombstone("9:9:q");
    CHECK_FALSE(map.apply("k", remote("9:9:q", Value("dead"))));
    CHECK(live(map, "k") == std::vector<std::string>{"w"});
}

TEST_CASE("ORMap with a strict clock refuses records from too far ahead", "[or]") {
    FakeClock clock;
    HLC hlc("a", {.max_drift_ms = 1000, .strict = true, .clock = clock.source()});
    ORMap map(hlc);
    ORRecord future = remote(std::to_string(clock.now + 5000) + ":0:x", Value("f"));
    CHECK_FALSE(map.apply("k", future));
    CHECK(map.merge_key("k", std::span(&future, 1)) == ORMergeKeyResult{0, 0});
    CHECK(map.size() == 0);
}

TEST_CASE("ORMap apply_tombstone finds the tag through the index", "[or]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    ORMap map(hlc);
    for (int i = 0; i < 20; ++i) {
        map.apply("k" + std::to_string(i % 4), remote(std::to_string(100 + i) + ":0:n", Value(i)));
    }
    const std::uint32_t k1_before = *map.entry_hash("k1");
    CHECK(map.apply_tombstone("102:0:n"));  // i = 2, under k2
    CHECK_FALSE(map.apply_tombstone("102:0:n"));
    CHECK_FALSE(map.apply_tombstone("999:0:n"));  // unknown tags are still remembered
    CHECK(map.is_tombstoned("999:0:n"));
    CHECK(live(map, "k2") == std::vector<std::string>{"10", "14", "18", "6"});
    CHECK(*map.entry_hash("k1") == k1_before);
    CHECK(map.total_records() == 19);
    CHECK(map.merkle().root_hash() == rebuilt_root(map));

    // Emptying a key removes it; the index forgot the dropped tags, so a later add
    // under the same key starts clean.
    for (int i = 3; i < 20; i += 4) CHECK(map.apply_tombstone(std::to_string(100 + i) + ":0:n"));
    CHECK(map.size() == 3);
    CHECK_FALSE(map.entry_hash("k3"));
    map.apply("k3", remote("200:0:n", Value("again")));
    CHECK(map.apply_tombstone("200:0:n"));
    CHECK(map.size() == 3);
    CHECK(map.merkle().root_hash() == rebuilt_root(map));

    // A tag reused under two keys (a faulty peer) dies under both.
    map.apply("x", remote("300:0:dup", Value(1)));
    map.apply("y", remote("300:0:dup", Value(2)));
    CHECK(map.apply_tombstone("300:0:dup"));
    CHECK(map.records("x").empty());
    CHECK(map.records("y").empty());
    CHECK(map.merkle().root_hash() == rebuilt_root(map));

    // The tag passed in may point into the record being dropped.
    const ORRecord& stored = map.records("k0")[0];
    CHECK(map.apply_tombstone(stored.tag));
    CHECK(map.merkle().root_hash() == rebuilt_root(map));
}

TEST_CASE("ORMap TTL: expired records read as absent but stay in the hash", "[or]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    ORMap map(hlc);
    const ORRecord t = map.add("k", Value("temp"), 100);
    map.add("k", Value("perm"));
    const ORRecord z = map.add("k", Value("zero"), 0);
    CHECK(t.ttl_ms == 100u);
    CHECK_FALSE(z.ttl_ms);  // a TTL of 0 is no TTL
    CHECK(live(map, "k") == std::vector<std::string>{"perm", "temp", "zero"});
    const std::uint32_t hash_before = *map.entry_hash("k");
    clock.now += 101;
    CHECK(live(map, "k") == std::vector<std::string>{"perm", "zero"});
    CHECK(map.records("k").size() == 3);
    CHECK(*map.entry_hash("k") == hash_before);
    int visited = 0;
    map.for_each([&](std::string_view, const Value&) { ++visited; });
    CHECK(visited == 2);

    // A remote record carrying ttl 0 never expires either, but hashes its ":ttl=0".
    map.apply("r", remote("1:0:r", Value("remote"), 0));
    CHECK(live(map, "r") == std::vector<std::string>{"remote"});
    const std::vector<ORRecord> expect{remote("1:0:r", Value("remote"), 0)};
    CHECK(merkle::or_entry_text("r", expect) == "key:r|1:0:r:remote:1:0:r:ttl=0");
    CHECK(*map.entry_hash("r") == merkle::or_entry_hash("r", expect));
}

TEST_CASE("ORMap prune drops old tombstones by the timestamp in the tag", "[or]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    ORMap map(hlc);
    map.apply_tombstone("100:0:a");
    map.apply_tombstone("200:5:a");
    map.apply_tombstone("300:0:a");
    map.apply_tombstone("not-a-timestamp");
    map.apply_tombstone("50:0:a:extra");
    CHECK(map.prune(Timestamp{200, 6, "a"}) == std::vector<std::string>{"100:0:a", "200:5:a"});
    CHECK(map.tombstones() == std::vector<std::string>{"300:0:a", "50:0:a:extra", "not-a-timestamp"});
    CHECK(map.prune(Timestamp{1000, 0, "a"}) == std::vector<std::string>{"300:0:a"});
    CHECK(map.tombstone_count() == 2);
}

TEST_CASE("ORMap merge_key follows the TS sync rules", "[or]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    ORMap map(hlc);
    map.apply("k", remote("10:0:a", Value("old")));
    map.apply("k", remote("11:0:a", Value("doomed")));
    map.apply("other", remote("12:0:a", Value("doomed too")));
    map.apply("k", remote("13:0:a", Value("stays")));

    // Same tag with a strictly newer timestamp replaces; an older one does not.
    ORRecord newer = remote("10:0:a", Value("new"));
    newer.timestamp = Timestamp{10, 1, "a"};
    ORRecord older = remote("13:0:a", Value("older"));
    older.timestamp = Timestamp{12, 0, "a"};
    const std::vector<ORRecord> incoming{newer, older, remote("14:0:b", Value("added")), remote("11:0:a", Value("x"))};
    const std::vector<std::string> tombs{"11:0:a", "12:0:a"};
    std::vector<std::string> changed;
    map.subscribe([&](const ORChange& c) {
        CHECK(c.kind == ORChange::Kind::Merge);
        changed.emplace_back(c.key);
    });
    CHECK(map.merge_key("k", incoming, tombs) == ORMergeKeyResult{1, 1});
    CHECK(live(map, "k") == std::vector<std::string>{"added", "new", "stays"});
    // Tombstones act on every key (the TS client only cleans the merged key).
    CHECK(map.records("other").empty());
    CHECK(map.size() == 1);
    std::sort(changed.begin(), changed.end());
    CHECK(changed == std::vector<std::string>{"k", "other"});
    CHECK(map.merkle().root_hash() == rebuilt_root(map));

    changed.clear();
    CHECK(map.merge_key("k", incoming, tombs) == ORMergeKeyResult{0, 0});
    CHECK(changed.empty());
    // A key whose remote records are all tombstoned is not created.
    const std::vector<ORRecord> dead{remote("11:0:a", Value("x"))};
    CHECK(map.merge_key("fresh", dead) == ORMergeKeyResult{0, 0});
    CHECK(map.size() == 1);
}

TEST_CASE("ORMap merge of whole replicas", "[or]") {
    FakeClock clock;
    HLC ha("a", {.clock = clock.source()}), hb("b", {.clock = clock.source()});
    ORMap a(ha), b(hb);
    a.add("k", Value(1));
    const ORRecord shared = a.add("k", Value(2));
    b.apply("k", shared);
    b.add("k", Value(3));
    b.add("j", Value(4));
    b.remove("k", Value(2));
    a.merge(b);
    b.merge(a);
    a.merge(a);
    CHECK(live(a, "k") == std::vector<std::string>{"1", "3"});
    CHECK(live(a, "j") == std::vector<std::string>{"4"});
    CHECK(a.merkle().root_hash() == b.merkle().root_hash());
    CHECK(a.tombstones() == b.tombstones());
    CHECK(a.merkle().root_hash() == rebuilt_root(a));
}

TEST_CASE("ORMap notifies each changed key once", "[or]") {
    FakeClock clock;
    HLC hlc("a", {.clock = clock.source()});
    ORMap map(hlc);
    std::vector<std::string> log;
    const auto id = map.subscribe([&](const ORChange& c) {
        static const char* names[] = {"add", "remove", "apply", "tombstone", "merge"};
        // The tree is already up to date when listeners run.
        CHECK(map.merkle().root_hash() == rebuilt_root(map));
        log.push_back(std::string(names[static_cast<int>(c.kind)]) + ":" + std::string(c.key));
    });
    map.add("k", Value("a"));
    map.add("k", Value("a"));
    map.remove("k", Value("a"));       // two tags, one notification
    map.remove("k", Value("absent"));  // nothing changed
    map.apply("r", remote("1:0:z", Value("v")));
    map.apply_tombstone("1:0:z");
    map.apply_tombstone("2:0:z");  // no record: no notification
    map.unsubscribe(id);
    map.add("k", Value("ignored"));
    CHECK(log == std::vector<std::string>{"add:k", "add:k", "remove:k", "apply:r", "tombstone:r"});
}

TEST_CASE("ORMap Merkle tree matches the TS ORMapMerkleTree", "[or][merkle]") {
    FakeClock clock;
    clock.now = 1700000000000ull;
    HLC hlc("local", {.clock = clock.source()});
    ORMap map(hlc);
    auto tag_of = [](int i) {
        return std::to_string(1700000000000ull + static_cast<unsigned>(i)) + ":0:n" + std::to_string(i % 4);
    };
    for (int i = 0; i < 300; ++i) {
        Value value = Value::map();
        value.set("n", i);
        value.set("s", "v" + std::to_string(i));
        REQUIRE(map.apply("k" + std::to_string(i % 50), remote(tag_of(i), std::move(value))));
    }
    CHECK(map.size() == 50);
    CHECK(map.merkle().root_hash() == 775023071u);
    CHECK(as_map(map.merkle().buckets("")) == std::map<char, std::uint32_t>{{'1', 3748683222u},
                                                                            {'2', 948256949u},
                                                                            {'3', 1889069872u},
                                                                            {'8', 2467768398u},
                                                                            {'9', 160073191u},
                                                                            {'a', 1175822527u},
                                                                            {'b', 2399724024u}});
    CHECK(merkle::or_entry_hash("k0", map.records("k0")) == 2774830183u);
    CHECK(*map.entry_hash("k0") == 2774830183u);
    CHECK(map.merkle().root_hash() == rebuilt_root(map));

    for (int i = 0; i < 300; i += 3) map.apply_tombstone(tag_of(i));
    CHECK(map.merkle().root_hash() == 1680826298u);
    CHECK(as_map(map.merkle().buckets("")) == std::map<char, std::uint32_t>{{'1', 1615267187u},
                                                                            {'2', 4276560424u},
                                                                            {'3', 2703428207u},
                                                                            {'8', 2373454631u},
                                                                            {'9', 2901832776u},
                                                                            {'a', 2227228616u},
                                                                            {'b', 3889206154u}});
    CHECK(*map.entry_hash("k0") == 2631415677u);

    // The sync view of a leaf: every key routed there, with its entry hash.
    const std::string path = merkle::path_of("k0").substr(0, 3);
    bool found = false;
    for (const auto& [key, hash] : map.entry_hashes_in_bucket(path)) {
        if (key == "k0") found = hash == 2631415677u;
    }
    CHECK(found);
}

namespace {

struct OrOp {
    bool is_add;
    std::string key;
    ORRecord record;  // for adds
    std::string tag;  // for removes
};

void deliver(ORMap& map, const OrOp& op) {
    if (op.is_add) {
        map.apply(op.key, op.record);
    } else {
        map.apply_tombstone(op.tag);
    }
}

Value random_value(std::mt19937& rng) {
    const auto n = static_cast<std::int64_t>(rng() % 4);
    switch (rng() % 3) {
        case 0:
            return Value(n);
        case 1:
            return Value("s" + std::to_string(n));
        default: {
            Value v = Value::map();
            v.set("n", n);
            return v;
        }
    }
}

// Random local adds and removes on every replica, with some ops delivered early
// so removes observe other replicas' adds. Returns every op, in creation order.
std::vector<OrOp> generate(std::mt19937& rng, std::vector<std::unique_ptr<ORMap>>& maps, FakeClock& clock) {
    std::vector<OrOp> ops;
    const auto replicas = maps.size();
    for (int i = 0; i < 250; ++i) {
        ORMap& map = *maps[rng() % replicas];
        const std::string key = "k" + std::to_string(rng() % 8);
        if (rng() % 20 == 0) clock.now += rng() % 4;
        const auto choice = rng() % 10;
        if (choice < 5) {
            const std::optional<std::uint64_t> ttl =
                rng() % 8 == 0 ? std::optional<std::uint64_t>(1 + rng() % 5) : std::nullopt;
            ops.push_back(OrOp{true, key, map.add(key, random_value(rng), ttl), {}});
        } else if (choice < 8) {
            for (std::string& tag : map.remove(key, random_value(rng)))
                ops.push_back(OrOp{false, key, {}, std::move(tag)});
        } else if (!ops.empty()) {
            // (Draws in separate statements: argument evaluation order varies by compiler.)
            ORMap& target = *maps[rng() % replicas];
            deliver(target, ops[rng() % ops.size()]);
        }
    }
    return ops;
}

// What every replica must end with: each added record whose tag no op removed.
std::map<std::string, std::pair<std::string, ORRecord>> expected_records(const std::vector<OrOp>& ops) {
    std::set<std::string> dead;
    for (const OrOp& op : ops) {
        if (!op.is_add) dead.insert(op.tag);
    }
    std::map<std::string, std::pair<std::string, ORRecord>> out;
    for (const OrOp& op : ops) {
        if (op.is_add && !dead.contains(op.record.tag)) out.emplace(op.record.tag, std::make_pair(op.key, op.record));
    }
    return out;
}

std::map<std::string, std::pair<std::string, ORRecord>> stored_records(const ORMap& map) {
    std::map<std::string, std::pair<std::string, ORRecord>> out;
    map.for_each_record(
        [&](std::string_view key, const ORRecord& r) { out.emplace(r.tag, std::make_pair(std::string(key), r)); });
    return out;
}

std::vector<std::string> live_contents(const ORMap& map) {
    std::vector<std::string> out;
    map.for_each([&](std::string_view key, const Value& v) {
        out.push_back(std::string(key) + "=" + merkle::or_value_text(v));
    });
    std::sort(out.begin(), out.end());
    return out;
}

enum class Delivery { Ops, MergeKey, Merge };

void run_convergence(Delivery mode, unsigned seed) {
    std::mt19937 rng(seed);
    for (int round = 0; round < 25; ++round) {
        const auto replicas = 2 + rng() % 7;  // 2..8
        FakeClock clock;
        std::vector<std::unique_ptr<HLC>> clocks;
        std::vector<std::unique_ptr<ORMap>> maps;
        for (unsigned r = 0; r < replicas; ++r) {
            clocks.push_back(std::make_unique<HLC>("r" + std::to_string(r), HLC::Options{.clock = clock.source()}));
            maps.push_back(std::make_unique<ORMap>(*clocks.back()));
        }
        const std::vector<OrOp> ops = generate(rng, maps, clock);

        if (mode == Delivery::Ops) {
            for (auto& map : maps) {
                auto delivery = ops;
                for (int d = 0; d < 40; ++d) delivery.push_back(ops[rng() % ops.size()]);  // duplicates
                std::shuffle(delivery.begin(), delivery.end(), rng);
                for (const OrOp& op : delivery) deliver(*map, op);
            }
        } else {
            // Random pairwise syncs (repeats included), then one sweep in random
            // order in which every replica syncs from every other.
            auto sync = [&](ORMap& to, const ORMap& from) {
                if (mode == Delivery::Merge) {
                    to.merge(from);
                    return;
                }
                const std::vector<std::string> tombs = from.tombstones();
                for (int k = 0; k < 8; ++k) {
                    const std::string key = "k" + std::to_string(k);
                    const auto recs = from.records(key);
                    const std::vector<ORRecord> copy(recs.begin(), recs.end());  // `from` may be `to`
                    to.merge_key(key, copy, tombs);
                }
            };
            for (unsigned s = 0; s < replicas * replicas; ++s) {
                ORMap& to = *maps[rng() % replicas];
                sync(to, *maps[rng() % replicas]);
            }
            std::vector<std::pair<unsigned, unsigned>> pairs;
            for (unsigned to = 0; to < replicas; ++to) {
                for (unsigned from = 0; from < replicas; ++from) pairs.emplace_back(to, from);
            }
            // Any order works: a replica never loses information about its own
            // ops (records stay until tombstoned, tombstones stay), so each pair
            // carries at least the source's ops.
            std::shuffle(pairs.begin(), pairs.end(), rng);
            for (const auto& [to, from] : pairs) sync(*maps[to], *maps[from]);
        }

        const auto expected = expected_records(ops);
        merkle::MerkleTree expected_tree;
        {
            std::map<std::string, std::vector<ORRecord>> by_key;
            for (const auto& [tag, entry] : expected) by_key[entry.first].push_back(entry.second);
            for (const auto& [key, recs] : by_key) expected_tree.update(key, merkle::or_entry_hash(key, recs));
        }
        for (unsigned r = 0; r < replicas; ++r) {
            INFO("round " << round << " replica " << r);
            CHECK(stored_records(*maps[r]) == expected);
            CHECK(maps[r]->merkle().root_hash() == expected_tree.root_hash());
            CHECK(maps[r]->merkle().root_hash() == rebuilt_root(*maps[r]));
            CHECK(live_contents(*maps[r]) == live_contents(*maps[0]));
            CHECK(maps[r]->tombstones() == maps[0]->tombstones());
        }
    }
}

}  // namespace

TEST_CASE("Property: OR replicas converge when ops arrive shuffled and duplicated", "[or][property]") {
    run_convergence(Delivery::Ops, 7);
}

TEST_CASE("Property: OR replicas converge through merge_key syncs", "[or][property]") {
    run_convergence(Delivery::MergeKey, 11);
}

TEST_CASE("Property: OR replicas converge through whole-map merges", "[or][property]") {
    run_convergence(Delivery::Merge, 13);
}
