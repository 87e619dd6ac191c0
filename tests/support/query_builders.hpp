// Small builders for records, predicate trees and sorts in tests and benchmarks.
#pragma once

#include <topgun/protocol/query_types.hpp>

#include <initializer_list>
#include <string>
#include <utility>

namespace topgun::testing {

inline Value obj(std::initializer_list<Value::Member> members) { return Value(Value::Map(members)); }

inline protocol::Sort sort_by(std::initializer_list<std::pair<std::string, protocol::SortDirection>> keys) {
    protocol::Sort s;
    for (const auto& [field, dir] : keys) s.keys.push_back(protocol::SortField{field, dir});
    return s;
}

inline protocol::PredicateNode leaf(std::string op, std::string attribute, Value value) {
    protocol::PredicateNode n;
    n.op = std::move(op);
    n.attribute = std::move(attribute);
    n.value = std::move(value);
    return n;
}

// A full-text leaf: match, matchPhrase (with `query`) or matchPrefix (`prefix`).
inline protocol::PredicateNode text_leaf(std::string op, std::string attribute, std::string text) {
    protocol::PredicateNode n;
    n.op = std::move(op);
    n.attribute = std::move(attribute);
    if (n.op == "matchPrefix") {
        n.prefix = std::move(text);
    } else {
        n.query = std::move(text);
    }
    return n;
}

}  // namespace topgun::testing
