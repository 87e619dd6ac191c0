// Merkle vectors printed by the reference TS client's MerkleTree (reference
// commit 2d5b1dd0, run locally under Node 20): same data, same hashes (D4).
#include <topgun/merkle/merkle_tree.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>

using namespace topgun;
using namespace topgun::merkle;

namespace {
Timestamp stamp_of(int i) { return Timestamp{1700000000000ull + static_cast<unsigned>(i), static_cast<std::uint32_t>(i % 5), "node-" + std::to_string(i % 3)}; }

std::map<char, std::uint32_t> as_map(const std::vector<std::pair<char, std::uint32_t>>& v) { return {v.begin(), v.end()}; }
}  // namespace

TEST_CASE("Merkle path is the 8-digit hex FNV of the key", "[merkle]") {
    CHECK(path_of("key1") == "374a6a67");
    CHECK(path_of("hello") == "4f9f2cab");
    CHECK(path_of("") == "811c9dc5");
}

TEST_CASE("Single-key tree matches PROTOCOL.md §16 and the TS client", "[merkle]") {
    MerkleTree tree;
    tree.update("key1", Timestamp{100, 0, "test"});
    CHECK(lww_item_hash("key1", Timestamp{100, 0, "test"}) == 3988528110u);
    CHECK(tree.root_hash() == 2138087518u);
    CHECK(as_map(tree.buckets("")) == std::map<char, std::uint32_t>{{'3', 901871431u}});
    CHECK(as_map(tree.buckets("3")) == std::map<char, std::uint32_t>{{'7', 1873562393u}});
    CHECK(as_map(tree.buckets("37")) == std::map<char, std::uint32_t>{{'4', 3907692941u}});
    CHECK(tree.buckets("374").empty());  // a leaf
    CHECK(tree.trie().node_hash("374") == 3907692941u);
    CHECK(tree.keys_in_bucket("374") == std::vector<std::string>{"key1"});
    tree.update("key1", Timestamp{200, 1, "test"});  // overwrite
    CHECK(tree.root_hash() == 2621425948u);
}

TEST_CASE("1000-key tree matches the TS client, in any insertion order", "[merkle]") {
    MerkleTree tree;
    for (int i = 0; i < 1000; ++i) tree.update("key" + std::to_string(i), stamp_of(i));
    CHECK(tree.root_hash() == 1383828899u);
    CHECK(as_map(tree.buckets("")) == std::map<char, std::uint32_t>{
                                          {'0', 786458062u},  {'1', 1939506570u}, {'2', 3170984645u}, {'3', 507971338u},
                                          {'4', 190902662u},  {'5', 1698220864u}, {'6', 1895253053u}, {'7', 478340369u},
                                          {'8', 1709979446u}, {'9', 2504499395u}, {'a', 640738270u},  {'b', 575251178u},
                                          {'c', 2162647813u}, {'d', 2322672881u}, {'e', 1295174086u}, {'f', 2282388606u}});
    CHECK(as_map(tree.buckets("a")) == std::map<char, std::uint32_t>{
                                           {'0', 2577918192u}, {'1', 1782111398u}, {'2', 3692246897u}, {'3', 3957165756u},
                                           {'4', 1115181068u}, {'5', 525165246u},  {'6', 2948899178u}, {'8', 1654035235u},
                                           {'9', 969177741u},  {'a', 1719177138u}, {'b', 904945338u},  {'c', 2443890989u},
                                           {'d', 1328919984u}, {'e', 2814005418u}, {'f', 3451346501u}});
    CHECK(as_map(tree.buckets("a3")) == std::map<char, std::uint32_t>{{'0', 277765384u}, {'7', 1246806999u}});
    auto keys = tree.keys_in_bucket("009");
    std::sort(keys.begin(), keys.end());
    CHECK(keys == std::vector<std::string>{"key563", "key573"});
    CHECK(tree.trie().node_hash("009") == 944575612u);

    for (int i = 0; i < 1000; i += 7) tree.remove("key" + std::to_string(i));
    CHECK(tree.root_hash() == 954538236u);
    CHECK(as_map(tree.buckets(""))['6'] == 4257849508u);
    CHECK(as_map(tree.buckets(""))['c'] == 2496057907u);

    MerkleTree reversed;
    for (int i = 999; i >= 0; --i) reversed.update("key" + std::to_string(i), stamp_of(i));
    CHECK(reversed.root_hash() == 1383828899u);

    // Removing everything leaves zero-hash children in place, as in the TS tree.
    for (int i = 0; i < 1000; ++i) reversed.remove("key" + std::to_string(i));
    CHECK(reversed.root_hash() == 0u);
    CHECK(reversed.buckets("").size() == 16);
    for (const auto& [digit, hash] : reversed.buckets("")) CHECK(hash == 0u);
}

TEST_CASE("Unicode keys hash over UTF-16 like the TS client", "[merkle]") {
    const std::vector<std::string> keys = {"\xC3\xA9", "\xF0\x9F\x98\x80", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
                                           "\xD0\xBA\xD0\xBB\xD1\x8E\xD1\x87", "a b", "", "KEY", "key"};
    MerkleTree tree;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        tree.update(keys[i], Timestamp{1700000000000, static_cast<std::uint32_t>(i), "n1"});
    }
    CHECK(lww_item_hash(keys[1], Timestamp{1700000000000, 1, "n1"}) == 249351826u);
    CHECK(tree.root_hash() == 2753900200u);
    CHECK(as_map(tree.buckets("")) == std::map<char, std::uint32_t>{{'1', 583809439u},  {'3', 467966988u},
                                                                    {'5', 2432733082u}, {'6', 36817093u},
                                                                    {'8', 1657094719u}, {'a', 3475192643u},
                                                                    {'c', 2854178885u}});
}

TEST_CASE("Property: incremental root equals a tree rebuilt from the final state", "[merkle][property]") {
    std::mt19937 rng(12345);
    for (int round = 0; round < 20; ++round) {
        MerkleTree incremental;
        std::map<std::string, Timestamp> state;
        for (int op = 0; op < 500; ++op) {
            const std::string key = "k" + std::to_string(rng() % 120);
            if (rng() % 4 == 0) {
                incremental.remove(key);
                state.erase(key);
            } else {
                const Timestamp ts{rng() % 1000, static_cast<std::uint32_t>(rng() % 3), "n" + std::to_string(rng() % 4)};
                incremental.update(key, ts);
                state[key] = ts;
            }
        }
        MerkleTree rebuilt;
        for (const auto& [key, ts] : state) rebuilt.update(key, ts);
        CHECK(incremental.root_hash() == rebuilt.root_hash());
        for (const auto& [digit, hash] : rebuilt.buckets("")) {
            CHECK(incremental.trie().node_hash(std::string(1, digit)) == hash);
        }
    }
}

TEST_CASE("Property: the union of tries over disjoint key sets equals one trie of all keys", "[merkle][property]") {
    std::mt19937 rng(777);
    for (int round = 0; round < 20; ++round) {
        const std::size_t part_count = 1 + rng() % 4;
        std::vector<MerkleTree> parts(part_count);
        MerkleTree whole;
        for (int i = 0; i < 300; ++i) {
            const std::string key = "k" + std::to_string(rng() % 400);
            // A key always lands in the same part, as a key always belongs to one worker.
            MerkleTree& part = parts[fnv1a(key) % part_count];
            if (rng() % 5 == 0) {
                part.remove(key);
                whole.remove(key);
            } else {
                const Timestamp ts = stamp_of(static_cast<int>(rng() % 50));
                part.update(key, ts);
                whole.update(key, ts);
            }
        }
        std::vector<const HashTrie*> tries;
        for (const MerkleTree& p : parts) tries.push_back(&p.trie());
        const HashTrie u = union_of(tries, kDefaultDepth);
        REQUIRE(u.root_hash() == whole.root_hash());
        for (const std::string path : {"", "a", "3", "37", "f0"}) {
            CHECK(as_map(u.buckets(path)) == as_map(whole.trie().buckets(path)));
        }
        for (std::size_t leaf = 0; leaf < u.leaf_count(); ++leaf) {
            const auto h = whole.trie().leaf_hash(leaf);
            // A node the whole trie created exists in the union, with the same hash.
            if (h) CHECK(u.leaf_hash(leaf) == h);
        }
    }
}
