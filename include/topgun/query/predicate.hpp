// Compiled predicate trees (PROTOCOL.md §8.1, §8.2): a protocol PredicateNode
// is validated once into an evaluable tree, so malformed client trees fail
// with a message naming the node instead of silently matching nothing, and
// regexes compile once rather than per record.
//
// Semantics follow the Rust server: a missing or nil attribute makes every leaf
// comparison false (neq included); only isNull/isNotNull see it. Numbers
// compare as f64 across int/double, strings bytewise, booleans by eq only.
// Deliberate differences, all at compile time: an invalid regex, an unknown op,
// a leaf without attribute or value, and wrongly shaped values are errors
// where the reference evaluates to false.
//
// The full-text ops (match, matchPhrase, matchPrefix) compile to nodes that
// need a search index (needs_search_index()), numbered in tree order
// (Node::text_slot). A FullTextMatcher answers them per record key: the
// evaluate() overload taking the key and a matcher (query/text_match.hpp
// builds one from BM25 indexes); without one they are false. Their options
// (matchOptions {minScore, boost, operator, fuzziness}, slop, maxExpansions)
// are checked at compile time like every other value.
#pragma once

#include <topgun/config.hpp>
#include <topgun/protocol/query_types.hpp>
#include <topgun/query/field_path.hpp>
#include <topgun/query/regex.hpp>
#include <topgun/value.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TOPGUN_BEGIN_NAMESPACE
namespace query {

// Answers the full-text nodes of one predicate per record key, after their
// searches ran once for the whole query (text_match.hpp).
class FullTextMatcher {
public:
    virtual bool matches(std::size_t text_slot, std::string_view key) const = 0;

protected:
    ~FullTextMatcher() = default;
};

class Predicate {
public:
    enum class Op : std::uint8_t {
        And, Or, Not,
        Eq, Neq, Gt, Gte, Lt, Lte, Like, Regex, In, Between, IsNull, IsNotNull,
        Contains, ContainsAll, ContainsAny, StartsWith, EndsWith,
        Match, MatchPhrase, MatchPrefix,
    };
    static constexpr std::array<std::string_view, 23> op_names = {
        "and", "or", "not",
        "eq", "neq", "gt", "gte", "lt", "lte", "like", "regex", "in", "between", "isNull", "isNotNull",
        "contains", "containsAll", "containsAny", "startsWith", "endsWith",
        "match", "matchPhrase", "matchPrefix",
    };

    // Deeper trees are rejected; evaluation recurses on depth.
    static constexpr int max_depth = 256;

    enum class RefSource : std::uint8_t { None, Auth, Data };

    // A full-text node's options, as the reference's MatchOptions.
    struct TextOptions {
        double min_score = 0;               // matchOptions.minScore, against the boosted score
        double boost = 1;                   // matchOptions.boost: multiplies the node's scores
        bool all_terms = false;             // matchOptions.operator "and": every query word must match
        std::uint32_t fuzziness = 0;        // matchOptions.fuzziness: 0, 1 or 2 edits
        std::uint32_t slop = 0;             // matchPhrase: extra words allowed between the phrase's
        std::uint32_t max_expansions = 50;  // matchPrefix: terms the prefix may expand to
    };

    // A validated node; public so that planners (indexes, search) can inspect it.
    struct Node {
        Op op = Op::And;
        FieldPath attribute;
        bool has_value = false;  // false when the value is an explicit nil (leaf → false)
        Value value;
        RefSource ref = RefSource::None;  // valueRef "auth.<path>" / "data.<path>", preferred over value
        FieldPath ref_path;
        std::optional<query::Regex> regex;  // op regex with a literal value
        std::u32string like;                // op like with a literal value: lower-cased code points
        std::string text;                   // full-text ops: the query (or prefix) to hand to the search index
        TextOptions text_options;           // full-text ops
        std::size_t text_slot = 0;          // full-text ops: the node's number in tree order
        std::vector<Node> children;
    };

    // A predicate that matches every record (no predicate, no where).
    Predicate() { root_.op = Op::And; }

    // nullopt with a message in *error (when given), e.g.
    // `predicate.children[1]: op "gtx" is not supported`.
    static std::optional<Predicate> compile(const protocol::PredicateNode& node, std::string* error = nullptr) {
        Predicate p;
        std::string message;
        if (!p.compile_node(node, p.root_, "predicate", 1, message)) {
            if (error) *error = std::move(message);
            return std::nullopt;
        }
        return p;
    }

    // The filter of a query: `predicate` wins over `where`; `where` is an AND of
    // equality leaves (each key a dot path); neither matches everything.
    static std::optional<Predicate> from_query(const protocol::Query& q, std::string* error = nullptr) {
        if (q.predicate) return compile(*q.predicate, error);
        Predicate p;
        if (!q.where) return p;
        for (const auto& [key, value] : *q.where) {
            Node leaf;
            leaf.op = Op::Eq;
            leaf.attribute = FieldPath(key);
            leaf.has_value = !value.is_nil();
            leaf.value = value;
            p.root_.children.push_back(std::move(leaf));
        }
        return p;
    }

    // `auth` is the principal (for example {id, roles}) that "auth.<path>"
    // valueRefs resolve against; without it such leaves are false.
    bool evaluate(const Value& record, const Value* auth = nullptr) const {
        return eval(root_, record, Context{auth, nullptr, nullptr});
    }

    // A field whose value the caller already holds (an ordered index's entry),
    // so leaves on `path` read it instead of resolving it in the record: a
    // cold record's member array is then never touched for them. `value` is
    // nullptr or nil when the field is missing.
    struct KnownField {
        std::string_view path;
        const Value* value = nullptr;
    };

    // The same for the record stored under `key`, with full-text nodes answered
    // by `text` (false when it is null).
    bool evaluate(const Value& record, std::string_view key, const FullTextMatcher* text,
                  const Value* auth = nullptr, const KnownField* known = nullptr) const {
        const TextLookup lookup{key, text};
        return eval(root_, record, Context{auth, text ? &lookup : nullptr, known});
    }

    bool needs_search_index() const noexcept { return text_nodes_ > 0; }
    // Full-text nodes are numbered 0 .. text_node_count() − 1.
    std::size_t text_node_count() const noexcept { return text_nodes_; }
    const Node& root() const noexcept { return root_; }

    static std::optional<Op> op_from(std::string_view name) noexcept {
        for (std::size_t i = 0; i < op_names.size(); ++i) {
            if (op_names[i] == name) return static_cast<Op>(i);
        }
        return std::nullopt;
    }

    // Helpers shared with sorting and indexes.

    // Numbers as f64 across int/double, else strings, booleans, then structure.
    static bool loose_equal(const Value& a, const Value& b) noexcept {
        if (a.is_number() && b.is_number()) return a.to_double() == b.to_double();
        // The common case of eq, neq and in: string lengths mostly differ, so
        // equality rejects without the byte compare a three-way order needs.
        if (a.is_string() && b.is_string()) return a.as_string() == b.as_string();
        return a == b;
    }

    // Ordering of numbers or of strings; nullopt for incompatible types (and NaN).
    static std::optional<int> order(const Value& a, const Value& b) noexcept {
        if (a.is_number() && b.is_number()) {
            const double x = a.to_double(), y = b.to_double();
            if (x < y) return -1;
            if (x > y) return 1;
            if (x == y) return 0;
            return std::nullopt;
        }
        if (a.is_string() && b.is_string()) {
            const int c = a.as_string().compare(b.as_string());
            return c < 0 ? -1 : (c > 0 ? 1 : 0);
        }
        return std::nullopt;
    }

    static std::u32string like_pattern(std::string_view pattern) {
        std::u32string out;
        for (std::size_t pos = 0; pos < pattern.size();) {
            const auto [cp, len] = detail::decode_utf8(pattern, pos);
            out.push_back(ascii_lower(cp));
            pos += len;
        }
        return out;
    }

    // SQL LIKE: '%' any run, '_' one code point, ASCII case-insensitive, full
    // match. Greedy with one backtrack point, so O(text × pattern) worst case.
    static bool like_match(const std::u32string& pat, std::string_view text) {
        std::u32string txt;
        txt.reserve(text.size());
        for (std::size_t pos = 0; pos < text.size();) {
            const auto [cp, len] = detail::decode_utf8(text, pos);
            txt.push_back(ascii_lower(cp));
            pos += len;
        }
        constexpr std::size_t none = static_cast<std::size_t>(-1);
        std::size_t p = 0, t = 0, star = none, mark = 0;
        while (t < txt.size()) {
            if (p < pat.size() && pat[p] != U'%' && (pat[p] == U'_' || pat[p] == txt[t])) {
                ++p, ++t;
            } else if (p < pat.size() && pat[p] == U'%') {
                star = p++;
                mark = t;
            } else if (star != none) {
                p = star + 1;
                t = ++mark;
            } else {
                return false;
            }
        }
        while (p < pat.size() && pat[p] == U'%') ++p;
        return p == pat.size();
    }

private:
    static char32_t ascii_lower(char32_t c) noexcept { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

    static std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

    bool compile_node(const protocol::PredicateNode& in, Node& out, const std::string& path, int depth,
                      std::string& error) {
        auto fail = [&](const std::string& message) {
            error = path + ": " + message;
            return false;
        };
        if (depth > max_depth) return fail("predicate nested deeper than " + std::to_string(max_depth));
        const auto op = op_from(in.op);
        if (!op) return fail("op " + quoted(in.op) + " is not supported");
        out.op = *op;
        const std::string op_text = quoted(in.op);

        if (*op == Op::And || *op == Op::Or || *op == Op::Not) {
            // Missing children mean an empty list: and → true, or → false, not → true.
            if (!in.children) return true;
            out.children.resize(in.children->size());
            for (std::size_t i = 0; i < in.children->size(); ++i) {
                if (!compile_node((*in.children)[i], out.children[i], path + ".children[" + std::to_string(i) + "]",
                                  depth + 1, error)) {
                    return false;
                }
            }
            return true;
        }

        if (!in.attribute) return fail("op " + op_text + " needs an attribute");
        if (in.attribute->empty()) return fail("op " + op_text + " has an empty attribute");
        out.attribute = FieldPath(*in.attribute);

        if (*op == Op::IsNull || *op == Op::IsNotNull) return true;

        if (*op == Op::Match || *op == Op::MatchPhrase || *op == Op::MatchPrefix) {
            const std::optional<std::string>& text = *op == Op::MatchPrefix && in.prefix ? in.prefix : in.query;
            if (!text) {
                return fail("op " + op_text + " needs " + (*op == Op::MatchPrefix ? "a prefix" : "a query"));
            }
            out.text = *text;
            std::string message;
            if (!compile_text_options(in, out.text_options, message)) return fail(message);
            out.text_slot = text_nodes_++;
            return true;
        }

        if (in.value_ref) {
            const std::string_view ref = *in.value_ref;
            if (ref.starts_with("auth.") && ref.size() > 5) {
                out.ref = RefSource::Auth;
            } else if (ref.starts_with("data.") && ref.size() > 5) {
                out.ref = RefSource::Data;
            } else {
                return fail("valueRef " + quoted(ref) + " must be \"auth.<path>\" or \"data.<path>\"");
            }
            out.ref_path = FieldPath(ref.substr(5));
            // The value is resolved per evaluation; its shape is checked then.
            return true;
        }

        if (in.value.absent()) return fail("op " + op_text + " needs a value or valueRef");
        if (in.value.is_nil()) return true;  // explicit nil: the leaf is always false
        out.has_value = true;
        out.value = in.value.value;
        const Value& v = out.value;
        switch (*op) {
            case Op::Between:
                if (!v.is_array() || v.size() != 2) return fail("op \"between\" needs a value [low, high]");
                break;
            case Op::Like:
                if (!v.is_string()) return fail("op \"like\" needs a string value");
                out.like = like_pattern(v.as_string());
                break;
            case Op::Regex: {
                if (!v.is_string()) return fail("op \"regex\" needs a string value");
                std::string message;
                out.regex = query::Regex::compile(v.as_string(), &message);
                // The reference server evaluates an invalid regex to false; we reject
                // the query so the client learns its pattern is wrong.
                if (!out.regex) return fail("invalid regex: " + message);
                break;
            }
            case Op::StartsWith:
            case Op::EndsWith:
                if (!v.is_string()) return fail("op " + op_text + " needs a string value");
                break;
            default: break;
        }
        return true;
    }

    static bool compile_text_options(const protocol::PredicateNode& in, TextOptions& out, std::string& error) {
        if (in.slop) out.slop = *in.slop;
        if (in.max_expansions) out.max_expansions = *in.max_expansions;
        const Value* options = in.match_options.get();
        if (options == nullptr) return true;  // absent or nil: the defaults
        if (!options->is_map()) {
            error = "matchOptions must be a map";
            return false;
        }
        const auto number = [&](std::string_view name, double& into) {
            const Value* v = options->find(name);
            if (v == nullptr || v->is_nil()) return true;
            if (!v->is_number() || !std::isfinite(v->to_double())) {
                error = "matchOptions." + std::string(name) + " must be a finite number";
                return false;
            }
            into = v->to_double();
            return true;
        };
        if (!number("minScore", out.min_score) || !number("boost", out.boost)) return false;
        if (out.boost < 0) {
            error = "matchOptions.boost must not be negative";
            return false;
        }
        if (const Value* v = options->find("operator"); v != nullptr && !v->is_nil()) {
            if (!v->is_string() || (v->as_string() != "and" && v->as_string() != "or")) {
                error = "matchOptions.operator must be \"and\" or \"or\"";
                return false;
            }
            out.all_terms = v->as_string() == "and";
        }
        double fuzziness = 0;
        if (!number("fuzziness", fuzziness)) return false;
        if (fuzziness != 0 && fuzziness != 1 && fuzziness != 2) {
            error = "matchOptions.fuzziness must be 0, 1 or 2";
            return false;
        }
        out.fuzziness = static_cast<std::uint32_t>(fuzziness);
        return true;
    }

    struct TextLookup {
        std::string_view key;
        const FullTextMatcher* matcher;
    };

    struct Context {
        const Value* auth;
        const TextLookup* text;
        const KnownField* known;
    };

    static bool eval(const Node& n, const Value& record, const Context& context) {
        switch (n.op) {
            case Op::And:
                for (const Node& c : n.children) {
                    if (!eval(c, record, context)) return false;
                }
                return true;
            case Op::Or:
                for (const Node& c : n.children) {
                    if (eval(c, record, context)) return true;
                }
                return false;
            case Op::Not: return n.children.empty() || !eval(n.children.front(), record, context);
            case Op::Match:
            case Op::MatchPhrase:
            case Op::MatchPrefix:
                return context.text != nullptr && context.text->matcher->matches(n.text_slot, context.text->key);
            default: return eval_leaf(n, record, context);
        }
    }

    static bool contains_element(const Value::Array& arr, const Value& x) noexcept {
        for (const Value& e : arr) {
            if (loose_equal(e, x)) return true;
        }
        return false;
    }

    static bool eval_leaf(const Node& n, const Value& record, const Context& context) {
        const Value* actual = context.known && n.attribute.text() == context.known->path ? context.known->value
                                                                                          : n.attribute.resolve(record);
        const bool missing = actual == nullptr || actual->is_nil();
        if (n.op == Op::IsNull) return missing;
        if (n.op == Op::IsNotNull) return !missing;
        if (missing) return false;

        const Value* expected = nullptr;
        if (n.ref != RefSource::None) {
            const Value* source = n.ref == RefSource::Auth ? context.auth : &record;
            if (source == nullptr) return false;
            expected = n.ref_path.resolve(*source);
        } else if (n.has_value) {
            expected = &n.value;
        }
        if (expected == nullptr || expected->is_nil()) return false;
        const Value& a = *actual;
        const Value& e = *expected;

        switch (n.op) {
            case Op::Eq: return loose_equal(a, e);
            case Op::Neq: return !loose_equal(a, e);
            case Op::Gt: return order(a, e).value_or(0) > 0;
            case Op::Gte: return order(a, e).value_or(-1) >= 0;
            case Op::Lt: return order(a, e).value_or(0) < 0;
            case Op::Lte: return order(a, e).value_or(1) <= 0;
            case Op::Like:
                if (!a.is_string() || !e.is_string()) return false;
                return like_match(n.ref == RefSource::None ? n.like : like_pattern(e.as_string()), a.as_string());
            case Op::Regex: {
                if (!a.is_string() || !e.is_string()) return false;
                if (n.regex) return n.regex->matches(a.as_string());
                // A referenced pattern is only known now; invalid ones do not match.
                const auto re = query::Regex::compile(e.as_string());
                return re && re->matches(a.as_string());
            }
            case Op::In:
                if (e.is_array()) return contains_element(e.as_array(), a);
                if (a.is_array()) return contains_element(a.as_array(), e);
                return false;
            case Op::Between: {
                if (!e.is_array() || e.size() != 2) return false;
                const auto lo = order(a, e.as_array()[0]);
                const auto hi = order(a, e.as_array()[1]);
                return lo && hi && *lo >= 0 && *hi <= 0;
            }
            case Op::Contains:
                if (a.is_string() && e.is_string()) return a.as_string().find(e.as_string()) != std::string::npos;
                if (a.is_array()) return contains_element(a.as_array(), e);
                return false;
            case Op::ContainsAll:
                if (!a.is_array()) return false;
                if (!e.is_array()) return contains_element(a.as_array(), e);
                for (const Value& x : e.as_array()) {
                    if (!contains_element(a.as_array(), x)) return false;
                }
                return true;
            case Op::ContainsAny:
                if (!a.is_array()) return false;
                if (!e.is_array()) return contains_element(a.as_array(), e);
                for (const Value& x : e.as_array()) {
                    if (contains_element(a.as_array(), x)) return true;
                }
                return false;
            case Op::StartsWith:
                return a.is_string() && e.is_string() && a.as_string().starts_with(e.as_string());
            case Op::EndsWith:
                return a.is_string() && e.is_string() && a.as_string().ends_with(e.as_string());
            default: return false;
        }
    }

    Node root_;
    std::size_t text_nodes_ = 0;
};

}  // namespace query
TOPGUN_END_NAMESPACE
