#include <topgun/search/edit_distance.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using namespace topgun;

namespace {

// The textbook full-matrix Levenshtein distance.
std::size_t levenshtein(const std::u32string& a, const std::u32string& b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        }
    }
    return d[a.size()][b.size()];
}

}  // namespace

TEST_CASE("bounded edit distance equals min(Levenshtein, max + 1) with a reused scratch", "[search]") {
    std::mt19937 rng(4242);
    const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    std::vector<std::size_t> scratch;  // reused across calls of different lengths
    for (int i = 0; i < 20000; ++i) {
        std::string a;
        std::string b;
        for (std::size_t n = pick(9); n > 0; --n) a += static_cast<char>('a' + pick(3));
        for (std::size_t n = pick(9); n > 0; --n) b += static_cast<char>('a' + pick(3));
        const std::u32string ua(a.begin(), a.end());
        const std::u32string ub(b.begin(), b.end());
        const std::size_t max = pick(4);
        const std::size_t expected = std::min(levenshtein(ua, ub), max + 1);
        INFO(a << " / " << b << " max " << max);
        REQUIRE(search::bounded_edit_distance(ua, ub, max, scratch) == expected);
        REQUIRE(search::bounded_edit_distance_ascii(a, b, max, scratch) == expected);
        REQUIRE(search::bounded_edit_distance(ua, ub, max) == expected);
    }
}
