#include <topgun/search/edit_distance.hpp>
#include <topgun/search/porter_stemmer.hpp>
#include <topgun/search/stop_words.hpp>
#include <topgun/search/tokenizer.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace topgun;
using search::Tokenizer;
using search::TokenizerOptions;
using Words = std::vector<std::string>;

TEST_CASE("tokenizer splits on ASCII punctuation and whitespace and lower-cases", "[search]") {
    const Tokenizer t;
    CHECK(t.tokenize("Hello, World! It's 2024\tNEW-York_city") ==
          Words{"hello", "world", "it", "s", "2024", "new", "york", "city"});
    CHECK(t.tokenize("").empty());
    CHECK(t.tokenize("  ...,;  ").empty());
}

TEST_CASE("tokenizer lower-cases Latin-1 and Latin Extended-A", "[search]") {
    const Tokenizer t;
    CHECK(t.tokenize("Café ÉLAN naïve ÀÖØÞ ß") == Words{"café", "élan", "naïve", "àöøþ", "ß"});
    // Even/odd pairs, the odd/even stretches after ĸ and ŉ, and the irregular İ and Ÿ.
    CHECK(t.tokenize("ĀĒĪ ŁÓDŹ ŻÓŁW ŠŽČ Ĺ ŊŒ Ÿ İ ĸŉſ") ==
          Words{"āēī", "łódź", "żółw", "šžč", "ĺ", "ŋœ", "ÿ", "i", "ĸŉſ"});
}

TEST_CASE("tokenizer handles Greek and Cyrillic", "[search]") {
    const Tokenizer t;
    // Final sigma folds to σ, so upper and lower case spellings meet.
    CHECK(t.tokenize("ΑΘΗΝΑ Ωμέγα ΛΟΓΟΣ λόγος Άρης") == Words{"αθηνα", "ωμέγα", "λογοσ", "λόγοσ", "άρησ"});
    CHECK(t.tokenize("Τι κάνεις; Καλά·") == Words{"τι", "κάνεισ", "καλά"});
    CHECK(t.tokenize("МОСКВА Ёлка ЇЖАК Ўсё") == Words{"москва", "ёлка", "їжак", "ўсё"});
    CHECK(t.tokenize("Привет, мир!") == Words{"привет", "мир"});
}

TEST_CASE("tokenizer treats Unicode punctuation and spaces as separators", "[search]") {
    const Tokenizer t;
    CHECK(t.tokenize("a—b…c«d»e×f÷g\u00A0h\u2003i\u3000j¿k¡l") ==
          Words{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"});
    CHECK(t.tokenize("“quoted” ‘single’ •bullet") == Words{"quoted", "single", "bullet"});
    // Other scripts are token characters: a run of ideographs is one token.
    CHECK(t.tokenize("日本語、テスト。中文 测试") == Words{"日本語", "テスト", "中文", "测试"});
    // Invalid UTF-8 splits rather than joins.
    CHECK(t.tokenize("ab\xFF" "cd") == Words{"ab", "cd"});
}

TEST_CASE("tokenizer code point classes and lower-case mapping", "[search]") {
    CHECK(search::is_token_char(U'é'));
    CHECK(search::is_token_char(U'ж'));
    CHECK(search::is_token_char(U'Ω'));
    CHECK_FALSE(search::is_token_char(U'×'));
    CHECK_FALSE(search::is_token_char(U'·'));
    CHECK_FALSE(search::is_token_char(U'\u2014'));
    CHECK(search::to_lower(U'Ā') == U'ā');
    CHECK(search::to_lower(U'Ň') == U'ň');
    CHECK(search::to_lower(U'ŉ') == U'ŉ');
    CHECK(search::to_lower(U'Ž') == U'ž');
    CHECK(search::to_lower(U'Ѐ') == U'ѐ');
    CHECK(search::to_lower(U'Џ') == U'џ');
    CHECK(search::to_lower(U'Я') == U'я');
    CHECK(search::to_lower(U'Ѣ') == U'ѣ');
    CHECK(search::to_lower(U'Ό') == U'ό');
    CHECK(search::to_lower(U'Ώ') == U'ώ');
}

TEST_CASE("tokenizer length bounds drop words", "[search]") {
    const Tokenizer t(TokenizerOptions{2, 5, false, false});
    CHECK(t.tokenize("a bb ccccc dddddd éé") == Words{"bb", "ccccc", "éé"});
}

TEST_CASE("tokenizer stop words and stemming", "[search]") {
    CHECK(search::is_english_stop_word("the"));
    CHECK_FALSE(search::is_english_stop_word("fox"));
    const Tokenizer stop(TokenizerOptions{1, 40, true, false});
    CHECK(stop.tokenize("The quick brown fox jumps over the lazy dog") ==
          Words{"quick", "brown", "fox", "jumps", "lazy", "dog"});
    const Tokenizer english(TokenizerOptions::english());
    CHECK(english.tokenize("The quick brown fox jumps over the lazy dogs") ==
          Words{"quick", "brown", "fox", "jump", "lazi", "dog"});
    // Positions count dropped words, so phrases line up.
    const auto tokens = english.tokenize_with_positions("king of the hills");
    REQUIRE(tokens.size() == 2);
    CHECK(tokens[0].term == "king");
    CHECK(tokens[0].position == 0);
    CHECK(tokens[1].term == "hill");
    CHECK(tokens[1].position == 3);
    CHECK(Tokenizer::split("The Hills") == Words{"the", "hills"});
    CHECK(english.analyze("the") == std::nullopt);
    CHECK(english.analyze("running") == std::optional<std::string>("run"));
}

TEST_CASE("porter stemmer matches the classic examples", "[search]") {
    const std::vector<std::pair<std::string, std::string>> table = {
        {"caresses", "caress"}, {"ponies", "poni"}, {"ties", "ti"}, {"caress", "caress"}, {"cats", "cat"},
        {"feed", "feed"}, {"agreed", "agre"}, {"plastered", "plaster"}, {"bled", "bled"}, {"motoring", "motor"},
        {"sing", "sing"}, {"conflated", "conflat"}, {"troubled", "troubl"}, {"sized", "size"}, {"hopping", "hop"},
        {"tanned", "tan"}, {"falling", "fall"}, {"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"},
        {"filing", "file"}, {"happy", "happi"}, {"sky", "sky"}, {"relational", "relat"},
        {"conditional", "condit"}, {"rational", "ration"}, {"generalization", "gener"},
        {"generalizations", "gener"}, {"oscillators", "oscil"}, {"connection", "connect"},
        {"connected", "connect"}, {"connecting", "connect"}, {"connections", "connect"},
        {"controlling", "control"}, {"rolling", "roll"}, {"electricity", "electr"}, {"electrical", "electr"},
        {"adjustable", "adjust"}, {"revival", "reviv"}, {"allowance", "allow"}, {"inference", "infer"},
        {"airliner", "airlin"}, {"gyroscopic", "gyroscop"}, {"defensible", "defens"}, {"irritant", "irrit"},
        {"replacement", "replac"}, {"adjustment", "adjust"}, {"dependent", "depend"}, {"adoption", "adopt"},
        {"communism", "commun"}, {"activate", "activ"}, {"homologous", "homolog"}, {"effective", "effect"},
        {"bowdlerize", "bowdler"}, {"probate", "probat"}, {"rate", "rate"}, {"cease", "ceas"},
        {"hopefulness", "hope"}, {"digitizer", "digit"}, {"operator", "oper"}, {"is", "is"}, {"as", "as"},
    };
    for (const auto& [word, stem] : table) {
        INFO(word);
        CHECK(search::porter_stem(word) == stem);
    }
    // y after a vowel is a consonant, after a consonant a vowel; words beyond the
    // length bound come back unchanged (bounded work on hostile input).
    CHECK(search::porter_stem("saying") == "sai");
    CHECK(search::porter_stem("toys") == "toi");
    CHECK(search::porter_stem(std::string(100000, 'y')) == std::string(100000, 'y'));
    CHECK(search::porter_stem(std::string(search::kMaxStemmedLength, 'y')).size() <= search::kMaxStemmedLength);
    // Not plain lower-case ASCII: unchanged.
    CHECK(search::porter_stem("cafés") == "cafés");
    CHECK(search::porter_stem("mp3s") == "mp3s");
}

TEST_CASE("bounded edit distance", "[search]") {
    using search::bounded_edit_distance;
    CHECK(bounded_edit_distance(U"kitten", U"sitting", 3) == 3);
    CHECK(bounded_edit_distance(U"kitten", U"sitting", 2) == 3);
    CHECK(bounded_edit_distance(U"apple", U"aple", 1) == 1);
    CHECK(bounded_edit_distance(U"apple", U"aplpe", 1) == 2);
    CHECK(bounded_edit_distance(U"apple", U"aplpe", 2) == 2);
    CHECK(bounded_edit_distance(U"", U"ab", 2) == 2);
    CHECK(bounded_edit_distance(U"same", U"same", 0) == 0);
    CHECK(bounded_edit_distance(U"café", U"cafe", 1) == 1);
    CHECK(bounded_edit_distance(U"abcdef", U"ab", 2) == 3);
}
