#include <topgun/query/regex.hpp>

#include <catch2/catch.hpp>

#include <string>

using topgun::query::Regex;

namespace {

bool search(std::string_view pattern, std::string_view text) {
    std::string error;
    const auto re = Regex::compile(pattern, &error);
    INFO("pattern " << pattern << ": " << error);
    REQUIRE(re.has_value());
    return re->matches(text);
}

}  // namespace

TEST_CASE("Regex matches the supported syntax", "[query]") {
    struct Case {
        const char* pattern;
        const char* text;
        bool expected;
    };
    const Case cases[] = {
        {"abc", "xxabcxx", true},
        {"abc", "abx", false},
        {"", "", true},
        {"", "anything", true},
        {"a.c", "abc", true},
        {"a.c", "a\nc", false},
        {"(?s)a.c", "a\nc", true},
        {"^abc", "abcd", true},
        {"^abc", "xabc", false},
        {"abc$", "xabc", true},
        {"abc$", "abcx", false},
        {"^$", "", true},
        {"^$", "x", false},
        {"(?m)^b$", "a\nb\nc", true},
        {"^b$", "a\nb\nc", false},
        {"[a-c]+x", "zzbcax", true},
        {"[a-c]+x", "zzdx", false},
        {"[^a-c]", "abc", false},
        {"[^a-c]", "abcd", true},
        {"[]a]", "]", true},
        {"[a-]", "-", true},
        {"[\\d_]", "_", true},
        {"[[:alpha:]]+", "123", false},
        {"[[:alpha:]]+", "12a", true},
        {"\\d{3}-\\d{4}", "call 555-1234", true},
        {"\\d{3}-\\d{4}", "call 55-1234", false},
        {"\\D", "123", false},
        {"\\w+@\\w+\\.com", "mail bob@example.com now", true},
        {"\\W", "abc_1", false},
        {"\\s", "a b", true},
        {"\\S", "   ", false},
        {"a\\.b", "a.b", true},
        {"a\\.b", "axb", false},
        {"\\\\", "a\\b", true},
        {"\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$", "*+?()[]{}|^$", true},
        {"\\x41\\x{42}", "AB", true},
        {"cat|dog", "hotdog", true},
        {"cat|dog", "bird", false},
        {"^(cat|dog)s?$", "dogs", true},
        {"^(?:cat|dog)s?$", "dogss", false},
        {"(?P<name>ab)+c", "ababc", true},
        {"colou?r", "color", true},
        {"colou?r", "colour", true},
        {"^a*$", "aaaa", true},
        {"^a+$", "", false},
        {"^a{2}$", "aa", true},
        {"^a{2}$", "aaa", false},
        {"^a{2,}$", "aaaaa", true},
        {"^a{2,}$", "a", false},
        {"^a{2,3}$", "aaa", true},
        {"^a{2,3}$", "aaaa", false},
        {"^a{0}$", "", true},
        {"^a*?b+?$", "aabb", true},
        {"(?i)hello", "Say HeLLo", true},
        {"hello", "Say HeLLo", false},
        {"(?i)[a-c]+", "ABC", true},
        {"a(?i)b", "aB", true},
        {"a(?i)b", "AB", false},
        {"(?i:a)b", "Ab", true},
        {"(?i:a)b", "AB", false},
        {"\\bfoo\\b", "a foo b", true},
        {"\\bfoo\\b", "afoob", false},
        {"\\Bfoo", "afoo", true},
        {"\\Afoo\\z", "foo", true},
        {"^.$", "é", true},            // one code point, two bytes
        {"^..$", "é", false},
        {"^[é-ë]$", "ê", true},
        {"日本", "こんにちは日本語", true},
        {"^a.b$", "a\xFF" "b", true},  // an invalid byte counts as one character
        {"(a|ab)(c|bcd)(d*)", "abcd", true},
        {"x*", "yyy", true},
        {"(a*)*b", "aaab", true},
        {"(a*)+$", "aaa", true},
        {"(|a)+b", "aab", true},
    };
    for (const Case& c : cases) {
        INFO(c.pattern << " vs " << c.text);
        CHECK(search(c.pattern, c.text) == c.expected);
    }
}

TEST_CASE("Regex rejects invalid patterns with a message", "[query]") {
    const char* invalid[] = {
        "(",      "(abc",  ")",      "a)",       "[",        "[a",      "[z-a]",  "*a",    "+",
        "?",      "a{",    "a{2",    "a{,2}",    "a{3,2}",   "a{1001}", "a{2}{3}", "a**",  "\\",
        "\\q",    "\\p{L}", "(?z)",  "(?)",      "[[a]]",    "[a&&b]",  "[[:foo:]]", "(?P<>a)", "\\x{110000}",
        "\\xZZ",  "{2}",   "a|*",
    };
    for (const char* pattern : invalid) {
        std::string error;
        INFO(pattern);
        CHECK_FALSE(Regex::compile(pattern, &error).has_value());
        CHECK(error.rfind("regex: ", 0) == 0);
    }
    // Limits: length, nesting depth and program size.
    std::string error;
    CHECK_FALSE(Regex::compile(std::string(Regex::max_pattern_length + 1, 'a'), &error));
    CHECK(error.find("longer than") != std::string::npos);
    CHECK_FALSE(Regex::compile(std::string(101, '(') + std::string(101, ')'), &error));
    CHECK(error.find("nested deeper") != std::string::npos);
    CHECK(Regex::compile(std::string(100, '(') + "a" + std::string(100, ')')));
    CHECK_FALSE(Regex::compile("((a{1000}){1000}){1000}", &error));
    CHECK(error.find("instructions") != std::string::npos);
    CHECK_FALSE(Regex::compile("\xC3", &error));  // truncated UTF-8
    CHECK(Regex::compile("a", nullptr));           // error output is optional
}

TEST_CASE("Regex stays linear on pathological patterns and large inputs", "[query]") {
    // Backtracking engines take exponential or quadratic-per-start time here;
    // the test passing at all is the assertion.
    const std::string as(30000, 'a');
    CHECK_FALSE(search("(a*)*b", as));
    CHECK_FALSE(search("(a|a)*b", as));
    CHECK_FALSE(search("(a+)+b", as));
    CHECK_FALSE(search("(a|aa)*c", as));
    CHECK_FALSE(search("(x+x+)+y", std::string(30000, 'x')));
    CHECK(search("(a*)*$", as));
    CHECK(search("^(a|a)*$", as));

    // A megabyte of input must not recurse per character.
    std::string big(1 << 20, 'a');
    CHECK(search("^a*$", big));
    CHECK_FALSE(search("^(a|b)*c$", big));
    big.back() = 'z';
    CHECK(search("a{5}z$", big));
    CHECK(search("(?i)Z$", big));
}
