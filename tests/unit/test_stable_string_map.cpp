#include <topgun/detail/stable_string_map.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <random>

using topgun::detail::StableStringMap;

TEST_CASE("StableStringMap agrees with std::map under random inserts and erases", "[detail]") {
    StableStringMap<int> map;
    std::map<std::string, int> model;
    std::map<std::string, const std::string*> addresses;  // nodes must never move
    std::mt19937 rng(99);
    for (int step = 0; step < 60000; ++step) {
        const std::string key = "k" + std::to_string(rng() % 9000);
        if (rng() % 3 == 0) {
            if (auto* n = map.find(key)) {
                map.erase(n);
                model.erase(key);
                addresses.erase(key);
            } else {
                CHECK(model.count(key) == 0);
            }
        } else {
            auto [n, inserted] = map.try_emplace(key);
            CHECK(inserted == (model.count(key) == 0));
            n->value = step;
            model[key] = step;
            if (inserted) {
                addresses[key] = &n->key;
            } else {
                CHECK(addresses[key] == &n->key);
            }
        }
    }
    CHECK(map.size() == model.size());
    std::size_t visited = 0;
    map.for_each([&](const auto& n) {
        ++visited;
        CHECK(model.at(n.key) == n.value);
        CHECK(addresses.at(n.key) == &n.key);
    });
    CHECK(visited == model.size());
    for (const auto& [key, value] : model) {
        REQUIRE(map.find(key));
        CHECK(map.find(key)->value == value);
    }
}

TEST_CASE("StableStringMap grows past the geometric chunks and erases in bulk", "[detail]") {
    StableStringMap<std::size_t> map;
    map.reserve(5000);  // then grows past it
    for (std::size_t i = 0; i < 20000; ++i) map.try_emplace("key" + std::to_string(i)).first->value = i;
    CHECK(map.size() == 20000);
    CHECK(map.find("key19999")->value == 19999u);
    std::size_t erased = 0;
    map.erase_if([](const auto& n) { return n.value % 2 == 0; }, [&](const auto&) { ++erased; });
    CHECK(erased == 10000);
    CHECK(map.size() == 10000);
    CHECK(map.find("key4") == nullptr);
    CHECK(map.find("key5")->value == 5u);
    // Freed nodes are reused.
    for (std::size_t i = 0; i < 10000; ++i) map.try_emplace("new" + std::to_string(i));
    CHECK(map.size() == 20000);
    map.clear();
    CHECK(map.empty());
    CHECK(map.find("key5") == nullptr);
}
