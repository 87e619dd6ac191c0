#include "session/admin_api.hpp"

#include "node.hpp"
#include "session/http_auth.hpp"
#include "storage/write_behind.hpp"

#include <algorithm>
#include <map>

namespace topgun::server {
namespace {

void persist_then(Node& node, std::size_t home, std::vector<storage::Mutation> mutations, HttpAnswer answer,
                  std::function<void(HttpAnswer)> done);

constexpr std::string_view kPolicies = "/api/admin/policies";
constexpr std::string_view kIndexes = "/api/admin/indexes";

// A map's live records (tombstones and expired records are not counted).
std::uint64_t live_records(const LWWMap& map) {
    std::uint64_t live = 0;
    map.for_each([&](std::string_view, const Value&) { ++live; });
    return live;
}

// Records the index files on one shard.
std::size_t indexed_count(ShardState& s, const IndexDescriptor& index) {
    if (index.type == IndexDescriptor::Type::Inverted) {
        // Every live record is a document of the map's search index.
        const auto it = s.lww_maps().find(index.map_name);
        return it == s.lww_maps().end() ? 0 : live_records(it->second);
    }
    const query::IndexSet* set = s.indexes(index.map_name);
    if (set == nullptr) return 0;
    if (index.type == IndexDescriptor::Type::Hash) return set->hash(index.attribute) ? set->hash(index.attribute)->size() : 0;
    return set->ordered(index.attribute) ? set->ordered(index.attribute)->size() : 0;
}

// `{indexes: [{mapName, attribute, indexType, entryCount}]}` (entryCount: records filed over every shard),
// or, with `single`, that one index's object.
void answer_indexes(Node& node, std::size_t home, std::vector<IndexDescriptor> indexes, unsigned status, bool single,
                    std::function<void(HttpAnswer)> done) {
    node.scatter(
        home,
        [indexes](ShardState& s) {
            std::vector<std::size_t> counts;
            for (const IndexDescriptor& index : indexes) counts.push_back(indexed_count(s, index));
            return counts;
        },
        [indexes, status, single, done = std::move(done)](std::vector<std::vector<std::size_t>>& shards) {
            nlohmann::json list = nlohmann::json::array();
            for (std::size_t i = 0; i < indexes.size(); ++i) {
                nlohmann::json j = indexes[i].to_json();
                std::size_t total = 0;
                for (const auto& counts : shards) total += counts[i];
                j["entryCount"] = total;
                list.push_back(std::move(j));
            }
            done(json_answer(status, single ? list.at(0) : nlohmann::json{{"indexes", std::move(list)}}));
        });
}

// Hands an index change to every shard (`on_shard`) and its stored form to
// the store, at once: the caller holds the catalog's lock, so shards and store
// see changes in catalog order. `then(results, done)` answers on `home` once
// both are done; a failed commit answers 500 instead.
template <class OnShard, class Then>
void apply_index_change(Node& node, std::size_t home, std::vector<storage::Mutation> mutations, OnShard on_shard, Then then,
                        std::function<void(HttpAnswer)> done) {
    using Results = std::vector<decltype(on_shard(node.state(0)))>;
    struct Join {  // touched on `home` only
        int pending = 2;
        std::optional<HttpAnswer> failed;
        Results results;
        Then then;
        std::function<void(HttpAnswer)> done;
        void arrive() {
            if (--pending != 0) return;
            if (failed) return done(std::move(*failed));
            then(results, std::move(done));
        }
    };
    auto join = std::make_shared<Join>(Join{2, {}, {}, std::move(then), std::move(done)});
    node.scatter(home, std::move(on_shard), [join](Results& results) {
        join->results = std::move(results);
        join->arrive();
    });
    persist_then(node, home, std::move(mutations), HttpAnswer{}, [join](HttpAnswer answer) {
        if (answer.status >= 400) join->failed = std::move(answer);
        join->arrive();
    });
}

void create_index(Node& node, std::size_t home, std::string_view body, std::function<void(HttpAnswer)> done) {
    const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return done(json_error(400, "the body is not JSON"));
    auto parsed = IndexDescriptor::from_json(j);
    if (auto* error = std::get_if<std::string>(&parsed)) return done(json_error(400, *error));
    IndexDescriptor index = std::get<IndexDescriptor>(std::move(parsed));
    if (is_reserved_map_name(index.map_name)) return done(json_error(400, "map name \"" + index.map_name + "\" is reserved"));
    // Built on every shard and stored, then answered with its size.
    node.index_catalog().add(index, [&](std::vector<storage::Mutation> mutations) {
        const unsigned status = mutations.empty() ? 200 : 201;
        apply_index_change(
            node, home, std::move(mutations), [index](ShardState& s) { return s.add_index(index); },
            [&node, home, index, status](std::vector<std::size_t>&, std::function<void(HttpAnswer)> answer) {
                auto respond = [&node, home, index, status, answer = std::move(answer)]() mutable {
                    answer_indexes(node, home, {index}, status, /*single=*/true, std::move(answer));
                };
                if (index.type != IndexDescriptor::Type::Inverted) return respond();
                // Answered once the map's search index holds every shard's records.
                node.with_map_search(index.map_name, [&node, home, respond](MapSearch&) { node.shards()[home].post([respond]() mutable { respond(); }); });
            },
            std::move(done));
    });
}

void drop_index(Node& node, std::size_t home, std::string_view rest, std::function<void(HttpAnswer)> done) {
    // {map}/{attribute}: the attribute is the part after the last '/' (map names may hold '/').
    const auto slash = rest.rfind('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
        return done(json_error(400, "DELETE /api/admin/indexes/{mapName}/{attribute}"));
    }
    std::string map(rest.substr(0, slash));
    std::string attribute(rest.substr(slash + 1));
    const bool dropped = node.index_catalog().remove(map, attribute, [&](std::vector<storage::Mutation> mutations) {
        apply_index_change(
            node, home, std::move(mutations),
            [map, attribute](ShardState& s) {
                s.drop_indexes(map, attribute);
                return 0;
            },
            [](std::vector<int>&, std::function<void(HttpAnswer)> answer) { answer(HttpAnswer{204, "application/json", ""}); },
            done);
    });
    if (!dropped) done(json_error(404, "no index on " + map + "." + attribute));
}

// Null when the caller may use the admin API, else the refusal.
std::optional<HttpAnswer> refuse_unless_admin(Node& node, const AdminRequest& request) {
    if (node.config().no_auth) {
        if (request.local_tool) return std::nullopt;
        return json_error(403, "without authentication the admin API serves tools on this machine only (loopback, not proxied, no browser page)");
    }
    auto who = http_caller(node, request.authorization);
    if (auto* refused = std::get_if<HttpAnswer>(&who)) return std::move(*refused);
    const auto& caller = std::get<std::shared_ptr<const auth::Principal>>(who);
    const bool admin_role = std::find(caller->roles.begin(), caller->roles.end(), "admin") != caller->roles.end();
    if (admin_role || node.access().is_admin_subject(caller->id)) return std::nullopt;
    return json_error(403, "the admin API needs a subject in TOPGUN_ADMIN_SUBJECTS or the admin role");
}

// Persists `mutations`, then answers (on `home`): a policy change is durable
// before it is confirmed. Never answers from the caller's stack: the policy
// store calls this under its lock.
void persist_then(Node& node, std::size_t home, std::vector<storage::Mutation> mutations, HttpAnswer answer,
                  std::function<void(HttpAnswer)> done) {
    storage::WriteBehind* wb = node.persistence();
    if (wb == nullptr || mutations.empty()) {
        node.shards()[home].post([answer = std::move(answer), done = std::move(done)]() mutable { done(std::move(answer)); });
        return;
    }
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
            for (const auto& [name, map] : state.lww_maps()) counts[name] += live_records(map);
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
        return node.access().upsert(std::move(policy), [&](std::vector<storage::Mutation> mutations) {
            persist_then(node, home, std::move(mutations), std::move(created), std::move(done));
        });
    }
    if (path.starts_with(kPolicies) && path.size() > kPolicies.size() + 1 && path[kPolicies.size()] == '/' &&
        request.method == "DELETE") {
        const std::string_view id = path.substr(kPolicies.size() + 1);
        const bool removed = node.access().remove(id, [&](std::vector<storage::Mutation> mutations) {
            persist_then(node, home, std::move(mutations), HttpAnswer{204, "application/json", ""}, done);
        });
        if (!removed) return done(json_error(404, "no policy \"" + std::string(id) + "\""));
        return;
    }
    if (path == "/api/admin/maps" && request.method == "GET") return list_maps(node, home, std::move(done));
    if (path == kIndexes && request.method == "GET") {
        return answer_indexes(node, home, node.index_catalog().list(), 200, /*single=*/false, std::move(done));
    }
    if (path == kIndexes && request.method == "POST") return create_index(node, home, request.body, std::move(done));
    if (path.starts_with(std::string(kIndexes) + "/") && request.method == "DELETE") {
        return drop_index(node, home, path.substr(kIndexes.size() + 1), std::move(done));
    }
    if (path.starts_with(kPolicies) || path.starts_with(kIndexes) || path == "/api/admin/maps") {
        return done(json_error(405, "method not allowed"));
    }
    done(json_error(404, "no such admin endpoint: " + std::string(path)));
}

}  // namespace topgun::server
