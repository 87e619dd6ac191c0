// Role-based access to maps: policies `{id, mapPattern, action, effect,
// conditionExpr?}` held by the node, changed through the admin API, kept in
// the store. Semantics (as the reference): everything is allowed until the
// first policy is ever created; from then on a request needs a matching
// `allow` and no matching `deny` (deny wins), even if every policy is later
// deleted. Subjects in TOPGUN_ADMIN_SUBJECTS bypass the policies. A condition
// is tested against the record a write carries (with `auth` = the caller); a
// read has no record, so a conditional policy never grants or denies a read.
//
// Read by every shard, written by the admin API: a shared lock.
#pragma once

#include "auth/jwt.hpp"
#include "storage/store.hpp"

#include <topgun/query/predicate.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <optional>
#include <functional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace topgun::server {

enum class Access : std::uint8_t { Read, Write, Remove };

struct AccessPolicy {
    enum class Action : std::uint8_t { Read, Write, Remove, All };
    std::string id;
    std::string map_pattern;  // `*` matches any run of characters
    Action action = Action::All;
    bool allow = true;
    std::optional<std::string> condition_expr;
    std::optional<query::Predicate> condition;

    // From the admin API's JSON (`id` optional: one is made up); a clear error otherwise.
    static std::variant<AccessPolicy, std::string> from_json(const nlohmann::json& j);
    nlohmann::json to_json() const;
    bool covers(Access access, std::string_view map) const;
};

bool glob_matches(std::string_view pattern, std::string_view text) noexcept;

// The caller as conditions and queries see it: `{id, roles}` (empty for anonymous).
Value principal_value(const auth::Principal* caller);

class PolicyStore {
public:
    static constexpr std::string_view kMetaNamespace = "access-policies";

    explicit PolicyStore(std::vector<std::string> admin_subjects) : admin_subjects_(std::move(admin_subjects)) {}

    // `caller` is null for an anonymous caller (no-auth mode).
    bool allows(const auth::Principal* caller, Access access, std::string_view map, const Value* record = nullptr) const;
    bool is_admin_subject(std::string_view subject) const;

    // Gets the mutations that store a change, under the store's lock: changes
    // racing from two shards reach storage in the order they took effect here.
    using Persist = std::function<void(std::vector<storage::Mutation>)>;

    // Adds or replaces a policy by id.
    void upsert(AccessPolicy policy, const Persist& persist = {});
    // Drops a policy; false (and nothing to persist) when there was none.
    bool remove(std::string_view id, const Persist& persist = {});
    std::vector<AccessPolicy> list() const;

    // Loading: one stored meta entry of kMetaNamespace.
    void restore(std::string_view key, std::string_view value);

private:
    static constexpr std::string_view kConfiguredKey = "\x01configured";  // no policy id starts with \x01

    const std::vector<std::string> admin_subjects_;
    mutable std::shared_mutex mutex_;
    std::vector<AccessPolicy> policies_;  // by id
    // A policy has existed: deny by default from now on. Atomic so that the
    // common case (no RBAC) costs each op one load, no lock.
    std::atomic<bool> configured_{false};
};

}  // namespace topgun::server
