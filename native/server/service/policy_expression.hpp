// The condition language of access policies (`conditionExpr`), e.g.
// `auth.id == data.ownerId && data.status != 'archived'`, parsed into a
// predicate tree the core's query engine evaluates against the record (with
// `auth` as the caller). The grammar is the reference's:
//
//   expr       = or ;  or = and ("||" and)* ;  and = unary ("&&" unary)*
//   unary      = "!" unary | "(" expr ")" | comparison
//   comparison = ref ( ("=="|"!="|">"|">="|"<"|"<=") operand
//                    | ("in"|"contains"|"containsAll"|"containsAny"|"startsWith"|"endsWith") operand )
//   ref        = ident ("." ident)*       (auth.<path>, data.<path>, or a bare record path)
//   operand    = ref | 'string' | "string" | number | true | false | null
//
// One side of each comparison must be a record field (data.<path> or a bare
// path): an `auth`-only comparison has no record to test and is refused.
#pragma once

#include <topgun/protocol/query_types.hpp>

#include <string>
#include <string_view>
#include <variant>

namespace topgun::server {

// The predicate, or why the text is not a condition (with the offset).
std::variant<protocol::PredicateNode, std::string> parse_policy_condition(std::string_view text);

}  // namespace topgun::server
