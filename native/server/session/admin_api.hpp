// The admin API (`/api/admin/...`, JSON): access policies and the map list.
//
// Who may call it: with auth on, a bearer JWT whose subject is in
// TOPGUN_ADMIN_SUBJECTS or whose `roles` hold "admin" (the reference admits
// that role, and its tooling relies on it); with auth off, local tools only
// (`local_tool`: the transport decides, see net/sessions.cpp).
//
//   GET    /api/admin/policies        → 200 {policies: [...]}
//   POST   /api/admin/policies        → 201 the policy (stored before the answer), 400 on a bad one
//   DELETE /api/admin/policies/{id}   → 204, or 404
//   GET    /api/admin/maps            → 200 {maps: [{name, entryCount}]} (live entries)
#pragma once

#include "session/http_answer.hpp"

#include <cstddef>
#include <functional>
#include <string_view>

namespace topgun::server {

class Node;

struct AdminRequest {
    std::string_view method;  // "GET", "POST", "DELETE", ...
    std::string_view path;
    std::string_view authorization;
    bool local_tool = false;  // a tool on this machine: loopback peer and Host, not proxied, not a foreign browser page
    std::string_view body;
};

// Serves one request on shard `home` (the caller's); `done` runs there.
void serve_admin(Node& node, std::size_t home, const AdminRequest& request, std::function<void(HttpAnswer)> done);

}  // namespace topgun::server
