// A regular-expression engine for the `regex` predicate op (PROTOCOL.md §8.2):
// Rust `regex`-crate syntax, unanchored search over UTF-8 code points.
// Patterns come from clients, so matching must stay linear on any input: a
// Pike VM (Thompson NFA simulation) runs all threads in lock step, with no
// backtracking and no recursion on the input. Only the parser and compiler
// recurse, on group nesting, which is capped.
//
// Supported: literals, `.`, classes `[a-z]` / `[^...]` (with `[:alpha:]`-style
// ASCII classes inside), escapes `\d \D \w \W \s \S \b \B \A \z \n \t \r \f \v
// \xHH \x{H...}` and escaped punctuation, anchors `^ $`, groups `( )`, `(?: )`,
// `(?P<name> )`, `(?<name> )`, alternation, quantifiers `* + ? {m} {m,} {m,n}`
// (lazy forms accepted; only match/no-match matters), flags `i m s U` as
// `(?flags)` or `(?flags:...)`. Differences from Rust: `\d \w \s \b` and case
// folding are ASCII-only, class set operations (`&&`, `--`, `~~`), nested
// classes and Unicode classes (`\p{..}`) are rejected with an error.
#pragma once

#include <topgun/config.hpp>
#include <topgun/detail/utf8.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

namespace detail {

inline constexpr char32_t no_char = topgun::detail::kNoChar;  // before the start or past the end of the text
inline constexpr char32_t max_code_point = 0x10FFFF;
using topgun::detail::decode_utf8;

inline bool is_word_char(char32_t c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

using Ranges = std::vector<std::pair<char32_t, char32_t>>;

// Sorts and merges ranges so complement and lookup can rely on the order.
inline void normalize(Ranges& r) {
    std::sort(r.begin(), r.end());
    Ranges out;
    for (const auto& range : r) {
        if (!out.empty() && range.first <= out.back().second + 1) {
            out.back().second = std::max(out.back().second, range.second);
        } else {
            out.push_back(range);
        }
    }
    r = std::move(out);
}

inline Ranges complement(Ranges r) {
    normalize(r);
    Ranges out;
    char32_t next = 0;
    for (const auto& [lo, hi] : r) {
        if (lo > next) out.emplace_back(next, lo - 1);
        next = hi + 1;
    }
    if (next <= max_code_point) out.emplace_back(next, max_code_point);
    return out;
}

// Adds the other ASCII case of every letter in the ranges.
inline void fold_ascii_case(Ranges& r) {
    const std::size_t n = r.size();
    for (std::size_t i = 0; i < n; ++i) {
        const auto [lo, hi] = r[i];
        const char32_t llo = std::max<char32_t>(lo, 'a'), lhi = std::min<char32_t>(hi, 'z');
        if (llo <= lhi) r.emplace_back(llo - 32, lhi - 32);
        const char32_t ulo = std::max<char32_t>(lo, 'A'), uhi = std::min<char32_t>(hi, 'Z');
        if (ulo <= uhi) r.emplace_back(ulo + 32, uhi + 32);
    }
    normalize(r);
}

struct CharClass {
    Ranges ranges;  // normalized
    bool negated = false;

    bool contains(char32_t c) const noexcept {
        // Binary search: classes such as \W complemented span many ranges.
        auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                                   [](char32_t x, const std::pair<char32_t, char32_t>& r) { return x < r.first; });
        const bool in = it != ranges.begin() && c <= std::prev(it)->second;
        return in != negated;
    }
};

enum class Assertion : std::uint32_t { TextStart, TextEnd, LineStart, LineEnd, WordBoundary, NotWordBoundary };

struct RegexNode {
    enum class Kind : std::uint8_t { Empty, Class, Any, Assert, Concat, Alt, Repeat };
    static constexpr std::uint32_t unbounded = 0xFFFFFFFF;

    Kind kind = Kind::Empty;
    std::uint32_t arg = 0;  // class index, assertion, or 1 for a dot that matches '\n'
    std::uint32_t min = 0;
    std::uint32_t max = 0;
    std::vector<RegexNode> children;
};

struct RegexFlags {
    bool icase = false;
    bool multiline = false;
    bool dotall = false;
};

enum class RegexOp : std::uint8_t { Class, Any, AnyNoNewline, Assert, Split, Jmp, Match };

struct RegexInst {
    RegexOp op;
    std::uint32_t x;
    std::uint32_t y;
};

}  // namespace detail

class Regex {
public:
    // Limits keep compile time, program size and parser recursion bounded for
    // patterns from untrusted clients.
    static constexpr std::size_t max_pattern_length = 4096;
    static constexpr int max_nesting_depth = 100;
    static constexpr std::uint32_t max_repeat = 1000;
    static constexpr std::size_t max_program_size = 100000;

    // nullopt with a message in *error (when given) for invalid or too large patterns.
    static std::optional<Regex> compile(std::string_view pattern, std::string* error = nullptr);

    // Unanchored search, like Rust's Regex::is_match. O(text × program) time,
    // O(program) memory.
    bool matches(std::string_view text) const;

    std::size_t program_size() const noexcept { return prog_.size(); }

private:
    class Parser;
    class Compiler;

    Regex() = default;

    std::vector<detail::RegexInst> prog_;
    std::vector<detail::CharClass> classes_;
};

class Regex::Parser {
public:
    explicit Parser(std::vector<char32_t> pattern) : p_(std::move(pattern)) {}

    bool parse(detail::RegexNode& out) {
        if (!parse_alternation(out, detail::RegexFlags{}, 0)) return false;
        if (pos_ < p_.size()) return fail("unopened group: ')' without '('");
        return true;
    }

    std::vector<detail::CharClass> classes;
    std::string error;

private:
    using Node = detail::RegexNode;

    bool fail(std::string_view message) {
        error = std::string(message) + " at offset " + std::to_string(pos_);
        return false;
    }
    bool at_end() const noexcept { return pos_ >= p_.size(); }
    char32_t peek(std::size_t ahead = 0) const noexcept {
        return pos_ + ahead < p_.size() ? p_[pos_ + ahead] : detail::no_char;
    }

    Node class_node(detail::Ranges ranges, bool negated, const detail::RegexFlags& flags) {
        if (flags.icase) detail::fold_ascii_case(ranges);
        detail::normalize(ranges);
        classes.push_back(detail::CharClass{std::move(ranges), negated});
        Node n;
        n.kind = Node::Kind::Class;
        n.arg = static_cast<std::uint32_t>(classes.size() - 1);
        return n;
    }
    static Node assert_node(detail::Assertion a) {
        Node n;
        n.kind = Node::Kind::Assert;
        n.arg = static_cast<std::uint32_t>(a);
        return n;
    }

    // Parses alternatives up to an unconsumed ')' or the end. `flags` is a copy:
    // an inline `(?i)` changes it for the rest of this group only.
    bool parse_alternation(Node& out, detail::RegexFlags flags, int depth) {
        Node alt;
        alt.kind = Node::Kind::Alt;
        Node concat;
        concat.kind = Node::Kind::Concat;
        while (!at_end() && peek() != ')') {
            if (peek() == '|') {
                ++pos_;
                alt.children.push_back(std::move(concat));
                concat = Node{};
                concat.kind = Node::Kind::Concat;
                continue;
            }
            if (!parse_repeat(concat, flags, depth)) return false;
        }
        alt.children.push_back(std::move(concat));
        out = alt.children.size() == 1 ? std::move(alt.children.front()) : std::move(alt);
        return true;
    }

    bool parse_repeat(Node& concat, detail::RegexFlags& flags, int depth) {
        const std::size_t before = concat.children.size();
        if (!parse_atom(concat, flags, depth)) return false;
        if (concat.children.size() == before) return true;  // a flag group adds no node
        bool repeated = false;
        while (!at_end()) {
            std::uint32_t min = 0, max = 0;
            const char32_t c = peek();
            if (c == '*') {
                min = 0, max = Node::unbounded, ++pos_;
            } else if (c == '+') {
                min = 1, max = Node::unbounded, ++pos_;
            } else if (c == '?') {
                min = 0, max = 1, ++pos_;
            } else if (c == '{') {
                if (!parse_counted(min, max)) return false;
            } else {
                break;
            }
            // Stacked quantifiers would nest repetitions without nesting groups,
            // escaping the depth cap; a group expresses the same thing.
            if (repeated) return fail("repetition of a repetition; wrap the inner one in a group");
            repeated = true;
            if (peek() == '?') ++pos_;  // lazy: same match/no-match answer
            Node rep;
            rep.kind = Node::Kind::Repeat;
            rep.min = min;
            rep.max = max;
            rep.children.push_back(std::move(concat.children.back()));
            concat.children.back() = std::move(rep);
        }
        return true;
    }

    bool parse_number(std::uint32_t& out) {
        if (at_end() || peek() < '0' || peek() > '9') return fail("invalid counted repetition");
        std::uint64_t v = 0;
        while (!at_end() && peek() >= '0' && peek() <= '9') {
            v = v * 10 + (peek() - '0');
            if (v > max_repeat) return fail("repetition count exceeds " + std::to_string(max_repeat));
            ++pos_;
        }
        out = static_cast<std::uint32_t>(v);
        return true;
    }

    bool parse_counted(std::uint32_t& min, std::uint32_t& max) {
        ++pos_;  // '{'
        if (!parse_number(min)) return false;
        max = min;
        if (peek() == ',') {
            ++pos_;
            max = Node::unbounded;
            if (peek() != '}' && !parse_number(max)) return false;
        }
        if (peek() != '}') return fail("unclosed counted repetition");
        ++pos_;
        if (max != Node::unbounded && min > max) return fail("invalid counted repetition: min is greater than max");
        return true;
    }

    bool parse_atom(Node& concat, detail::RegexFlags& flags, int depth) {
        const char32_t c = peek();
        switch (c) {
            case '(': return parse_group(concat, flags, depth);
            case '[': {
                Node n;
                if (!parse_class(n, flags)) return false;
                concat.children.push_back(std::move(n));
                return true;
            }
            case '.': {
                ++pos_;
                Node n;
                n.kind = Node::Kind::Any;
                n.arg = flags.dotall ? 1 : 0;
                concat.children.push_back(std::move(n));
                return true;
            }
            case '^':
                ++pos_;
                concat.children.push_back(
                    assert_node(flags.multiline ? detail::Assertion::LineStart : detail::Assertion::TextStart));
                return true;
            case '$':
                ++pos_;
                concat.children.push_back(
                    assert_node(flags.multiline ? detail::Assertion::LineEnd : detail::Assertion::TextEnd));
                return true;
            case '*':
            case '+':
            case '?':
            case '{': return fail("repetition operator missing expression");
            case '\\': {
                ++pos_;
                detail::Ranges ranges;
                bool negated = false;
                char32_t literal = 0;
                std::optional<detail::Assertion> assertion;
                if (!parse_escape(ranges, negated, literal, &assertion)) return false;
                if (assertion) {
                    concat.children.push_back(assert_node(*assertion));
                } else if (!ranges.empty()) {
                    if (negated) ranges = detail::complement(std::move(ranges));
                    concat.children.push_back(class_node(std::move(ranges), false, flags));
                } else {
                    concat.children.push_back(class_node({{literal, literal}}, false, flags));
                }
                return true;
            }
            default:
                ++pos_;
                concat.children.push_back(class_node({{c, c}}, false, flags));
                return true;
        }
    }

    bool parse_group(Node& concat, detail::RegexFlags& flags, int depth) {
        const std::size_t open = pos_;
        ++pos_;  // '('
        if (depth + 1 > max_nesting_depth) {
            return fail("groups nested deeper than " + std::to_string(max_nesting_depth));
        }
        detail::RegexFlags inner = flags;
        if (peek() == '?') {
            ++pos_;
            if (peek() == 'P' && peek(1) == '<') {
                pos_ += 2;
                if (!skip_group_name()) return false;
            } else if (peek() == '<') {
                ++pos_;
                if (!skip_group_name()) return false;
            } else {
                bool negate = false;
                bool any = false;
                for (;;) {
                    const char32_t f = peek();
                    if (f == ')') {
                        if (!any) return fail("empty flag group");
                        ++pos_;
                        flags = inner;  // applies to the rest of the enclosing group
                        return true;
                    }
                    if (f == ':') {
                        ++pos_;
                        break;
                    }
                    if (f == '-') {
                        if (negate) return fail("repeated negation in flags");
                        negate = true;
                    } else if (f == 'i') {
                        inner.icase = !negate;
                    } else if (f == 'm') {
                        inner.multiline = !negate;
                    } else if (f == 's') {
                        inner.dotall = !negate;
                    } else if (f == 'U' || f == 'u') {
                        // Greediness and Unicode mode do not change match/no-match here.
                    } else {
                        return fail("unsupported flag");
                    }
                    any = true;
                    ++pos_;
                }
            }
        }
        Node inside;
        if (!parse_alternation(inside, inner, depth + 1)) return false;
        if (peek() != ')') {
            pos_ = open;
            return fail("unclosed group");
        }
        ++pos_;
        concat.children.push_back(std::move(inside));
        return true;
    }

    bool skip_group_name() {
        const std::size_t start = pos_;
        while (!at_end() && peek() != '>') {
            const char32_t c = peek();
            if (!detail::is_word_char(c) && c != '.' && c != '[' && c != ']') return fail("invalid group name");
            ++pos_;
        }
        if (at_end()) return fail("unclosed group name");
        if (pos_ == start) return fail("empty group name");
        ++pos_;  // '>'
        return true;
    }

    static void perl_class(char32_t c, detail::Ranges& out) {
        switch (c) {
            case 'd': out = {{'0', '9'}}; break;
            case 'w': out = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; break;
            default: out = {{'\t', '\r'}, {' ', ' '}}; break;  // 's'
        }
    }

    bool parse_hex(char32_t& out) {
        std::uint32_t v = 0;
        if (peek() == '{') {
            ++pos_;
            std::size_t digits = 0;
            while (!at_end() && peek() != '}') {
                const int d = hex_digit(peek());
                if (d < 0 || ++digits > 8) return fail("invalid hexadecimal escape");
                v = v * 16 + static_cast<std::uint32_t>(d);
                ++pos_;
            }
            if (at_end() || digits == 0) return fail("invalid hexadecimal escape");
            ++pos_;
        } else {
            for (int i = 0; i < 2; ++i) {
                const int d = hex_digit(peek());
                if (d < 0) return fail("invalid hexadecimal escape");
                v = v * 16 + static_cast<std::uint32_t>(d);
                ++pos_;
            }
        }
        if (v > detail::max_code_point || (v >= 0xD800 && v <= 0xDFFF)) return fail("invalid code point in escape");
        out = v;
        return true;
    }

    static int hex_digit(char32_t c) noexcept {
        if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
        if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
        return -1;
    }

    // After a backslash: a Perl class (ranges set), an assertion (only when
    // `assertion` is given, i.e. outside classes) or a literal.
    bool parse_escape(detail::Ranges& ranges, bool& negated, char32_t& literal,
                      std::optional<detail::Assertion>* assertion) {
        if (at_end()) return fail("incomplete escape sequence");
        const char32_t c = peek();
        ++pos_;
        switch (c) {
            case 'd':
            case 'w':
            case 's': perl_class(c, ranges); return true;
            case 'D':
            case 'W':
            case 'S':
                perl_class(c + 32, ranges);
                negated = true;
                return true;
            case 'n': literal = '\n'; return true;
            case 't': literal = '\t'; return true;
            case 'r': literal = '\r'; return true;
            case 'f': literal = '\f'; return true;
            case 'v': literal = '\v'; return true;
            case 'a': literal = '\a'; return true;
            case 'x': return parse_hex(literal);
            case 'b':
            case 'B':
            case 'A':
            case 'z':
                if (assertion == nullptr) return fail("assertion escape inside a character class");
                *assertion = c == 'b'   ? detail::Assertion::WordBoundary
                             : c == 'B' ? detail::Assertion::NotWordBoundary
                             : c == 'A' ? detail::Assertion::TextStart
                                        : detail::Assertion::TextEnd;
                return true;
            default: break;
        }
        // Any other ASCII punctuation or space escapes to itself (Rust allows the
        // same); letters and digits are reserved for escapes we do not support.
        if (c < 0x80 && !detail::is_word_char(c) && c >= 0x20 && c != 0x7F) {
            literal = c;
            return true;
        }
        --pos_;
        return fail("unrecognized or unsupported escape sequence");
    }

    static bool posix_class(std::u32string_view name, detail::Ranges& out) {
        if (name == U"alnum") out = {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}};
        else if (name == U"alpha") out = {{'A', 'Z'}, {'a', 'z'}};
        else if (name == U"ascii") out = {{0, 0x7F}};
        else if (name == U"blank") out = {{'\t', '\t'}, {' ', ' '}};
        else if (name == U"cntrl") out = {{0, 0x1F}, {0x7F, 0x7F}};
        else if (name == U"digit") out = {{'0', '9'}};
        else if (name == U"graph") out = {{'!', '~'}};
        else if (name == U"lower") out = {{'a', 'z'}};
        else if (name == U"print") out = {{' ', '~'}};
        else if (name == U"punct") out = {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}};
        else if (name == U"space") out = {{'\t', '\r'}, {' ', ' '}};
        else if (name == U"upper") out = {{'A', 'Z'}};
        else if (name == U"word") out = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
        else if (name == U"xdigit") out = {{'0', '9'}, {'A', 'F'}, {'a', 'f'}};
        else return false;
        return true;
    }

    // One class member that can be a range end: a literal or an escaped literal.
    bool parse_class_char(char32_t& out) {
        if (peek() == '\\') {
            ++pos_;
            detail::Ranges ranges;
            bool negated = false;
            if (!parse_escape(ranges, negated, out, nullptr)) return false;
            if (!ranges.empty()) return fail("invalid range end in character class");
            return true;
        }
        out = peek();
        ++pos_;
        return true;
    }

    bool parse_class(Node& out, const detail::RegexFlags& flags) {
        const std::size_t open = pos_;
        ++pos_;  // '['
        bool negated = false;
        if (peek() == '^') {
            negated = true;
            ++pos_;
        }
        detail::Ranges ranges;
        bool first = true;
        for (;;) {
            if (at_end()) {
                pos_ = open;
                return fail("unclosed character class");
            }
            const char32_t c = peek();
            if (c == ']' && !first) {
                ++pos_;
                break;
            }
            first = false;
            if (c == '[') {
                if (peek(1) != ':') return fail("nested character classes are not supported");
                const std::size_t start = pos_ + 2;
                std::size_t end = start;
                while (end + 1 < p_.size() && !(p_[end] == ':' && p_[end + 1] == ']')) ++end;
                if (end + 1 >= p_.size()) return fail("unclosed ASCII class");
                std::u32string_view name(p_.data() + start, end - start);
                bool neg_posix = false;
                if (!name.empty() && name.front() == '^') {
                    neg_posix = true;
                    name.remove_prefix(1);
                }
                detail::Ranges posix;
                if (!posix_class(name, posix)) return fail("unknown ASCII class");
                if (neg_posix) posix = detail::complement(std::move(posix));
                ranges.insert(ranges.end(), posix.begin(), posix.end());
                pos_ = end + 2;
                continue;
            }
            if ((c == '&' || c == '-' || c == '~') && peek(1) == c) {
                return fail("character class set operations are not supported");
            }
            if (c == '\\') {
                ++pos_;
                detail::Ranges perl;
                bool neg = false;
                char32_t lit = 0;
                if (!parse_escape(perl, neg, lit, nullptr)) return false;
                if (!perl.empty()) {
                    if (neg) perl = detail::complement(std::move(perl));
                    ranges.insert(ranges.end(), perl.begin(), perl.end());
                    continue;
                }
                if (!add_class_item(ranges, lit)) return false;
                continue;
            }
            ++pos_;
            if (!add_class_item(ranges, c)) return false;
        }
        out = class_node(std::move(ranges), negated, flags);
        return true;
    }

    // `lo` was just read; reads `-hi` when it forms a range.
    bool add_class_item(detail::Ranges& ranges, char32_t lo) {
        if (peek() == '-' && peek(1) != ']' && peek(1) != detail::no_char) {
            ++pos_;
            char32_t hi = 0;
            if (!parse_class_char(hi)) return false;
            if (hi < lo) return fail("invalid character class range");
            ranges.emplace_back(lo, hi);
        } else {
            ranges.emplace_back(lo, lo);
        }
        return true;
    }

    std::vector<char32_t> p_;
    std::size_t pos_ = 0;
};

class Regex::Compiler {
public:
    explicit Compiler(std::vector<detail::RegexInst>& prog) : prog_(prog) {}

    bool emit(const detail::RegexNode& n) {
        using K = detail::RegexNode::Kind;
        using Op = detail::RegexOp;
        switch (n.kind) {
            case K::Empty: return true;
            case K::Class: return push({Op::Class, n.arg, 0});
            case K::Any: return push({n.arg != 0 ? Op::Any : Op::AnyNoNewline, 0, 0});
            case K::Assert: return push({Op::Assert, n.arg, 0});
            case K::Concat:
                for (const auto& child : n.children) {
                    if (!emit(child)) return false;
                }
                return true;
            case K::Alt: {
                std::vector<std::size_t> jumps;
                for (std::size_t i = 0; i < n.children.size(); ++i) {
                    const bool last = i + 1 == n.children.size();
                    std::size_t split = 0;
                    if (!last) {
                        split = prog_.size();
                        if (!push({Op::Split, here() + 1, 0})) return false;
                    }
                    if (!emit(n.children[i])) return false;
                    if (!last) {
                        jumps.push_back(prog_.size());
                        if (!push({Op::Jmp, 0, 0})) return false;
                        prog_[split].y = here();
                    }
                }
                for (const std::size_t j : jumps) prog_[j].x = here();
                return true;
            }
            case K::Repeat: {
                const auto& child = n.children.front();
                for (std::uint32_t i = 0; i < n.min; ++i) {
                    if (!emit(child)) return false;
                }
                if (n.max == detail::RegexNode::unbounded) {
                    const std::uint32_t loop = here();
                    if (!push({Op::Split, loop + 1, 0})) return false;
                    if (!emit(child)) return false;
                    if (!push({Op::Jmp, loop, 0})) return false;
                    prog_[loop].y = here();
                    return true;
                }
                std::vector<std::size_t> splits;
                for (std::uint32_t i = n.min; i < n.max; ++i) {
                    splits.push_back(prog_.size());
                    if (!push({Op::Split, here() + 1, 0})) return false;
                    if (!emit(child)) return false;
                }
                for (const std::size_t s : splits) prog_[s].y = here();
                return true;
            }
        }
        return false;
    }

    bool too_large = false;

private:
    std::uint32_t here() const noexcept { return static_cast<std::uint32_t>(prog_.size()); }
    bool push(detail::RegexInst inst) {
        if (prog_.size() >= max_program_size) {
            too_large = true;
            return false;
        }
        prog_.push_back(inst);
        return true;
    }

    std::vector<detail::RegexInst>& prog_;
};

inline std::optional<Regex> Regex::compile(std::string_view pattern, std::string* error) {
    auto fail = [&](std::string message) -> std::optional<Regex> {
        if (error) *error = std::move(message);
        return std::nullopt;
    };
    if (pattern.size() > max_pattern_length) {
        return fail("regex: pattern longer than " + std::to_string(max_pattern_length) + " bytes");
    }
    std::vector<char32_t> cps;
    cps.reserve(pattern.size());
    for (std::size_t pos = 0; pos < pattern.size();) {
        const auto [cp, len] = detail::decode_utf8(pattern, pos);
        if (cp == 0xFFFD && pattern.substr(pos, len) != "\xEF\xBF\xBD") return fail("regex: pattern is not UTF-8");
        cps.push_back(cp);
        pos += len;
    }
    Parser parser(std::move(cps));
    detail::RegexNode root;
    if (!parser.parse(root)) return fail("regex: " + parser.error);
    Regex re;
    re.classes_ = std::move(parser.classes);
    Compiler compiler(re.prog_);
    if (!compiler.emit(root) || re.prog_.size() >= max_program_size) {
        return fail("regex: pattern compiles to more than " + std::to_string(max_program_size) + " instructions");
    }
    re.prog_.push_back({detail::RegexOp::Match, 0, 0});
    return re;
}

namespace detail {

// The threads alive at one text position, as a sparse set over program
// counters: O(1) insert, membership and clear.
class ThreadList {
public:
    explicit ThreadList(std::size_t n) : sparse_(n, 0) { dense_.reserve(n); }
    bool contains(std::uint32_t pc) const noexcept {
        const std::uint32_t i = sparse_[pc];
        return i < dense_.size() && dense_[i] == pc;
    }
    void insert(std::uint32_t pc) {
        sparse_[pc] = static_cast<std::uint32_t>(dense_.size());
        dense_.push_back(pc);
    }
    void clear() noexcept { dense_.clear(); }
    bool empty() const noexcept { return dense_.empty(); }
    const std::vector<std::uint32_t>& pcs() const noexcept { return dense_; }

private:
    std::vector<std::uint32_t> sparse_;
    std::vector<std::uint32_t> dense_;
};

inline bool assertion_holds(Assertion a, char32_t prev, char32_t cur) noexcept {
    switch (a) {
        case Assertion::TextStart: return prev == no_char;
        case Assertion::TextEnd: return cur == no_char;
        case Assertion::LineStart: return prev == no_char || prev == '\n';
        case Assertion::LineEnd: return cur == no_char || cur == '\n';
        case Assertion::WordBoundary: return is_word_char(prev) != is_word_char(cur);
        case Assertion::NotWordBoundary: return is_word_char(prev) == is_word_char(cur);
    }
    return false;
}

// Adds `start` and everything reachable from it without consuming input; an
// explicit stack instead of recursion, so empty loops like (a*)* stay bounded
// (each pc enters a list once per position). True when Match is reachable.
inline bool add_thread(const std::vector<RegexInst>& prog, ThreadList& list, std::vector<std::uint32_t>& stack,
                       std::uint32_t start, char32_t prev, char32_t cur) {
    stack.clear();
    stack.push_back(start);
    while (!stack.empty()) {
        const std::uint32_t pc = stack.back();
        stack.pop_back();
        if (list.contains(pc)) continue;
        list.insert(pc);
        const RegexInst& inst = prog[pc];
        switch (inst.op) {
            case RegexOp::Match: return true;
            case RegexOp::Jmp: stack.push_back(inst.x); break;
            case RegexOp::Split:
                stack.push_back(inst.y);
                stack.push_back(inst.x);
                break;
            case RegexOp::Assert:
                if (assertion_holds(static_cast<Assertion>(inst.x), prev, cur)) stack.push_back(pc + 1);
                break;
            default: break;  // consuming instructions wait for the next step
        }
    }
    return false;
}

}  // namespace detail

inline bool Regex::matches(std::string_view text) const {
    using detail::RegexOp;
    detail::ThreadList clist(prog_.size()), nlist(prog_.size());
    std::vector<std::uint32_t> stack;
    stack.reserve(prog_.size());
    const char32_t prev = detail::no_char;
    auto [cur, len] = detail::decode_utf8(text, 0);
    if (detail::add_thread(prog_, clist, stack, 0, prev, cur)) return true;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t next_pos = pos + len;
        const auto [next, next_len] = detail::decode_utf8(text, next_pos);
        nlist.clear();
        for (const std::uint32_t pc : clist.pcs()) {
            const detail::RegexInst& inst = prog_[pc];
            bool step = false;
            switch (inst.op) {
                case RegexOp::Class: step = classes_[inst.x].contains(cur); break;
                case RegexOp::Any: step = true; break;
                case RegexOp::AnyNoNewline: step = cur != '\n'; break;
                default: break;
            }
            if (step && detail::add_thread(prog_, nlist, stack, pc + 1, cur, next)) return true;
        }
        // Unanchored search: a new thread starts at every position.
        if (detail::add_thread(prog_, nlist, stack, 0, cur, next)) return true;
        std::swap(clist, nlist);
        pos = next_pos;
        cur = next;
        len = next_len;
    }
    return false;
}

}  // namespace query
TOPGUN_END_NAMESPACE
