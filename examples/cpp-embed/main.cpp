// Two offline replicas edit the same map, exchange their operations in
// opposite orders, and end up identical: same values, same Merkle root.
#include <topgun/topgun.hpp>

#include <cstdio>
#include <utility>
#include <vector>

int main() {
    topgun::HLC alice_clock("alice");
    topgun::HLC bob_clock("bob");
    topgun::LWWMap alice(alice_clock);
    topgun::LWWMap bob(bob_clock);

    std::vector<std::pair<std::string, topgun::LWWRecord>> from_alice, from_bob;
    from_alice.emplace_back("todo:1", alice.set("todo:1", topgun::Value("buy milk")));
    from_bob.emplace_back("todo:1", bob.set("todo:1", topgun::Value("buy oat milk")));
    from_bob.emplace_back("todo:2", bob.set("todo:2", topgun::Value("call mum")));
    from_alice.emplace_back("todo:2", alice.remove("todo:2"));

    for (const auto& [key, record] : from_bob) alice.merge(key, record);
    for (auto it = from_alice.rbegin(); it != from_alice.rend(); ++it) bob.merge(it->first, it->second);

    for (const char* key : {"todo:1", "todo:2"}) {
        const topgun::Value* a = alice.get(key);
        std::printf("%-7s alice=%-14s bob=%s\n", key, a ? a->as_string().c_str() : "(deleted)",
                    bob.get(key) ? bob.get(key)->as_string().c_str() : "(deleted)");
    }
    const bool converged = alice.merkle().root_hash() == bob.merkle().root_hash();
    std::printf("merkle roots: alice=%u bob=%u -> %s\n", alice.merkle().root_hash(), bob.merkle().root_hash(),
                converged ? "converged" : "DIVERGED");
    std::printf("partition of todo:1 = %u of %u\n", topgun::partition_of("todo:1"), topgun::kPartitionCount);
    return converged ? 0 : 1;
}
