#include "service/policy_expression.hpp"

#include <cctype>
#include <charconv>
#include <optional>

namespace topgun::server {
namespace {

using protocol::PredicateNode;

struct Fail {
    std::string message;
};

// A reference to a field: its root ("auth", "data" or "" for a bare record path) and path.
struct Ref {
    std::string root;
    std::string path;
};
struct Operand {
    std::optional<Ref> ref;
    Value literal;
};

class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    PredicateNode parse() {
        PredicateNode node = parse_or();
        skip_space();
        if (pos_ != text_.size()) fail("unexpected \"" + std::string(text_.substr(pos_, 20)) + "\"");
        return node;
    }

private:
    static constexpr int kMaxDepth = 64;

    [[noreturn]] void fail(const std::string& why) const { throw Fail{why + " at offset " + std::to_string(pos_)}; }

    void skip_space() {
        while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }
    bool take(std::string_view token) {
        skip_space();
        if (text_.substr(pos_, token.size()) != token) return false;
        // A word operator must not run into an identifier ("in" vs "index").
        const std::size_t end = pos_ + token.size();
        if (std::isalpha(static_cast<unsigned char>(token.back())) && end < text_.size() && ident_char(text_[end])) return false;
        pos_ = end;
        return true;
    }
    static bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

    PredicateNode combine(const char* op, PredicateNode first, PredicateNode (Parser::*next)(), std::string_view token) {
        if (!take(token)) return first;
        PredicateNode node;
        node.op = op;
        node.children.emplace();
        node.children->push_back(std::move(first));
        do {
            node.children->push_back((this->*next)());
        } while (take(token));
        return node;
    }
    PredicateNode parse_or() { return combine("or", parse_and(), &Parser::parse_and, "||"); }
    PredicateNode parse_and() { return combine("and", parse_unary(), &Parser::parse_unary, "&&"); }

    PredicateNode parse_unary() {
        if (++depth_ > kMaxDepth) fail("nested too deeply");
        PredicateNode node;
        if (take("!")) {
            node.op = "not";
            node.children.emplace();
            node.children->push_back(parse_unary());
        } else if (take("(")) {
            node = parse_or();
            if (!take(")")) fail("expected \")\"");
        } else {
            node = parse_comparison();
        }
        --depth_;
        return node;
    }

    Ref parse_ref() {
        skip_space();
        const std::size_t start = pos_;
        while (pos_ < text_.size() && (ident_char(text_[pos_]) || text_[pos_] == '.')) ++pos_;
        const std::string_view word = text_.substr(start, pos_ - start);
        if (word.empty() || std::isdigit(static_cast<unsigned char>(word[0])) || word.front() == '.' || word.back() == '.') {
            pos_ = start;
            fail("expected a field such as data.ownerId or auth.id");
        }
        for (std::string_view root : {"auth", "data"}) {
            if (word.size() > root.size() && word.substr(0, root.size()) == root && word[root.size()] == '.') {
                return Ref{std::string(root), std::string(word.substr(root.size() + 1))};
            }
        }
        if (word == "auth" || word == "data") fail("\"" + std::string(word) + "\" needs a field after it");
        return Ref{"", std::string(word)};
    }

    Operand parse_operand() {
        skip_space();
        if (pos_ >= text_.size()) fail("expected a value");
        const char c = text_[pos_];
        if (c == '\'' || c == '"') {
            const std::size_t close = text_.find(c, pos_ + 1);
            if (close == std::string_view::npos) fail("unterminated string");
            Operand o{std::nullopt, Value(std::string(text_.substr(pos_ + 1, close - pos_ - 1)))};
            pos_ = close + 1;
            return o;
        }
        if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') {
            std::size_t end = pos_ + 1;
            while (end < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[end])) || text_[end] == '.')) ++end;
            const std::string_view digits = text_.substr(pos_, end - pos_);
            double d = 0;
            const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
            if (ec != std::errc() || ptr != digits.data() + digits.size()) fail("bad number");
            pos_ = end;
            std::int64_t i = 0;
            const auto [iptr, iec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
            if (iec == std::errc() && iptr == digits.data() + digits.size()) return Operand{std::nullopt, Value(i)};
            return Operand{std::nullopt, Value(d)};
        }
        if (take("true")) return Operand{std::nullopt, Value(true)};
        if (take("false")) return Operand{std::nullopt, Value(false)};
        if (take("null")) return Operand{std::nullopt, Value()};
        return Operand{parse_ref(), Value()};
    }

    static std::string ref_text(const Ref& r) { return r.root.empty() ? "data." + r.path : r.root + "." + r.path; }

    PredicateNode parse_comparison() {
        const Ref left = parse_ref();
        struct OpName {
            std::string_view token, op, mirrored;  // mirrored: the op with its sides swapped
        };
        static constexpr OpName kOps[] = {
            {"==", "eq", "eq"}, {"!=", "neq", "neq"}, {">=", "gte", "lte"}, {"<=", "lte", "gte"}, {">", "gt", "lt"},
            {"<", "lt", "gt"}, {"containsAll", "containsAll", ""}, {"containsAny", "containsAny", ""},
            {"contains", "contains", ""}, {"startsWith", "startsWith", ""}, {"endsWith", "endsWith", ""},
            {"in", "in", "contains"},
        };
        const OpName* op = nullptr;
        for (const OpName& candidate : kOps) {
            if (take(candidate.token)) {
                op = &candidate;
                break;
            }
        }
        if (op == nullptr) fail("expected a comparison (==, !=, <, <=, >, >=, in, contains, ...)");
        const Operand right = parse_operand();

        PredicateNode node;
        if (left.root != "auth") {
            node.op = std::string(op->op);
            node.attribute = left.path;
            if (right.ref) {
                node.value_ref = ref_text(*right.ref);
            } else {
                node.value = right.literal;
            }
            return node;
        }
        // auth.<x> OP data.<y>: test the record's field, with the sides swapped.
        if (!right.ref || right.ref->root == "auth" || op->mirrored.empty()) {
            fail("a condition must test a record field (data.<path>) against a value or an auth field");
        }
        node.op = std::string(op->mirrored);
        node.attribute = right.ref->path;
        node.value_ref = ref_text(left);
        return node;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace

std::variant<protocol::PredicateNode, std::string> parse_policy_condition(std::string_view text) {
    try {
        return Parser(text).parse();
    } catch (const Fail& f) {
        return "conditionExpr: " + f.message;
    }
}

}  // namespace topgun::server
