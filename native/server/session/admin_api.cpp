#include "session/admin_api.hpp"

#include "node.hpp"
#include "session/http_auth.hpp"
#include "storage/write_behind.hpp"

#include <algorithm>
#include <map>

namespace topgun::server {
namespace {

constexpr std::string_view kPolicies = "/api/admin/policies";

// Null when the caller may use the admin API, else the refusal.
std::optional<HttpAnswer> refuse_unless_admin(Node& node, const AdminRequest& request) {
    if (node.config().no_auth) {
        if (request.loopback) return std::nullopt;
        return json_error(403, "without authentication the admin API serves loopback clients only");
    }
    auto who = http_caller(node, request.authorization);
    if (auto* refused = std::get_if<HttpAnswer>(&who)) return std::move(*refused);
    const auto& caller = std::get<std::shared_ptr<const auth::Principal>>(who);
    const bool admin_role = std::find(caller->roles.begin(), caller->roles.end(), "admin") != caller->roles.end();
    if (admin_role || node.access().is_admin_subject(caller->id)) return std::nullopt;
    return json_error(403, "the admin API needs a subject in TOPGUN_ADMIN_SUBJECTS or the admin role");
}

// Persists `mutations`, then answers (on `home`): a policy change is durable before it is confirmed.
void persist_then(Node& node, std::size_t home, std::vector<storage::Mutation> mutations, HttpAnswer answer,
                  std::function<void(HttpAnswer)> done) {
    storage::WriteBehind* wb = node.persistence();
    if (wb == nullptr || mutations.empty()) return done(std::move(answer));
    wb->submit(std::move(mutations), [&node, home, answer = std::move(answer), done = std::move(done)](bool ok) mutable {
        node.shards()[home].post([ok, answer = std::move(answer), done = std::move(done)]() mutable {
            done(ok ? std::move(answer) : json_error(500, "storage commit failed: the change is in effect but not durable"));
        });
    });
}

void list_maps(Node& node, std::size_t home, std::function<void(HttpAnswer)> done) {
    using Counts = std::map<std::string, std::uint64_t>;
    node.scatter(
        home,
        [](ShardState& state) {
            Counts counts;
            for (const auto& [name, map] : state.lww_maps()) {
                std::uint64_t live = 0;
                map.for_each([&](std::string_view, const Value&) { ++live; });
                counts[name] += live;
            }
            for (auto& [name, map] : state.or_maps()) counts[name] += map.map.size();
            return counts;
        },
        [done = std::move(done)](std::vector<Counts>& shards) {
            Counts all;
            for (const Counts& c : shards) {
                for (const auto& [name, n] : c) all[name] += n;
            }
            nlohmann::json maps = nlohmann::json::array();
            for (const auto& [name, n] : all) maps.push_back({{"name", name}, {"entryCount", n}});
            done(json_answer(200, {{"maps", std::move(maps)}}));
        });
}

}  // namespace

void serve_admin(Node& node, std::size_t home, const AdminRequest& request, std::function<void(HttpAnswer)> done) {
    if (auto refused = refuse_unless_admin(node, request)) return done(std::move(*refused));
    const std::string_view path = request.path;
    if (path == kPolicies && request.method == "GET") {
        nlohmann::json list = nlohmann::json::array();
        for (const AccessPolicy& p : node.access().list()) list.push_back(p.to_json());
        return done(json_answer(200, {{"policies", std::move(list)}}));
    }
    if (path == kPolicies && request.method == "POST") {
        const auto body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded()) return done(json_error(400, "the body is not JSON"));
        auto parsed = AccessPolicy::from_json(body);
        if (auto* error = std::get_if<std::string>(&parsed)) return done(json_error(400, *error));
        auto& policy = std::get<AccessPolicy>(parsed);
        HttpAnswer created = json_answer(201, policy.to_json());
        return persist_then(node, home, node.access().upsert(std::move(policy)), std::move(created), std::move(done));
    }
    if (path.starts_with(kPolicies) && path.size() > kPolicies.size() + 1 && path[kPolicies.size()] == '/' &&
        request.method == "DELETE") {
        const std::string_view id = path.substr(kPolicies.size() + 1);
        auto removed = node.access().remove(id);
        if (!removed) return done(json_error(404, "no policy \"" + std::string(id) + "\""));
        std::vector<storage::Mutation> mutations;
        mutations.push_back(std::move(*removed));
        return persist_then(node, home, std::move(mutations), HttpAnswer{204, "application/json", ""}, std::move(done));
    }
    if (path == "/api/admin/maps" && request.method == "GET") return list_maps(node, home, std::move(done));
    if (path == kPolicies || path.starts_with(kPolicies) || path == "/api/admin/maps") {
        return done(json_error(405, "method not allowed"));
    }
    done(json_error(404, "no such admin endpoint: " + std::string(path)));
}

}  // namespace topgun::server
