// Small builders for predicate trees in tests.
#pragma once

#include <topgun/protocol/query_types.hpp>

#include <string>
#include <utility>

namespace topgun::testing {

inline protocol::PredicateNode leaf(std::string op, std::string attribute, Value value) {
    protocol::PredicateNode n;
    n.op = std::move(op);
    n.attribute = std::move(attribute);
    n.value = std::move(value);
    return n;
}

}  // namespace topgun::testing
