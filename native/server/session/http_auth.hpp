// The caller of an HTTP endpoint, from its `Authorization: Bearer <JWT>` header.
#pragma once

#include "auth/jwt.hpp"
#include "node.hpp"
#include "session/http_answer.hpp"
#include "session/write_path.hpp"

#include <memory>
#include <string_view>
#include <variant>

namespace topgun::server {

// With auth on: the verified principal, or the 401 to answer (no token, or a
// bad one). With auth off: null (anonymous), whatever the header says.
inline std::variant<std::shared_ptr<const auth::Principal>, HttpAnswer> http_caller(Node& node, std::string_view authorization) {
    if (node.config().no_auth) return std::shared_ptr<const auth::Principal>();
    constexpr std::string_view kBearer = "Bearer ";
    const std::string_view token = authorization.starts_with(kBearer) ? authorization.substr(kBearer.size()) : "";
    if (token.empty()) return json_error(401, "authentication required");
    auto verified = node.verifier()->verify(token, static_cast<std::int64_t>(wall_millis() / 1000));
    if (!verified) return json_error(401, "Authentication failed");
    return std::make_shared<const auth::Principal>(std::move(*verified.principal));
}

}  // namespace topgun::server
