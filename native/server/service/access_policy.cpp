#include "service/access_policy.hpp"

#include "service/policy_expression.hpp"

#include <algorithm>
#include <mutex>
#include <random>

namespace topgun::server {
namespace {

constexpr std::pair<std::string_view, AccessPolicy::Action> kActions[] = {
    {"read", AccessPolicy::Action::Read},
    {"write", AccessPolicy::Action::Write},
    {"remove", AccessPolicy::Action::Remove},
    {"all", AccessPolicy::Action::All},
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string random_id() {
    std::random_device rd;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id = "policy-";
    for (int i = 0; i < 16; ++i) id += kHex[rd() % 16];
    return id;
}

}  // namespace

Value principal_value(const auth::Principal* caller) {
    Value auth = Value::map();
    if (caller == nullptr) return auth;
    auth.set("id", Value(caller->id));
    Value roles = Value::array();
    for (const std::string& r : caller->roles) roles.push_back(Value(r));
    auth.set("roles", std::move(roles));
    return auth;
}

bool glob_matches(std::string_view pattern, std::string_view text) noexcept {
    // Iterative wildcard match with one backtrack point: linear in practice, no recursion.
    std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = t;
        } else if (p < pattern.size() && pattern[p] == text[t]) {
            ++p;
            ++t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

std::variant<AccessPolicy, std::string> AccessPolicy::from_json(const nlohmann::json& j) {
    if (!j.is_object()) return std::string("a policy is a JSON object");
    AccessPolicy p;
    auto text = [&](const char* field, std::string& out, bool required) -> std::optional<std::string> {
        const auto it = j.find(field);
        if (it == j.end() || it->is_null()) {
            if (required) return std::string(field) + " is required";
            return std::nullopt;
        }
        if (!it->is_string()) return std::string(field) + " must be a string";
        out = it->get<std::string>();
        return std::nullopt;
    };
    std::string action, effect, id, expr;
    for (auto [field, out, required] : {std::tuple{"mapPattern", &p.map_pattern, true}, {"action", &action, true},
                                        {"effect", &effect, true}, {"id", &id, false}, {"conditionExpr", &expr, false}}) {
        if (auto error = text(field, *out, required)) return *error;
    }
    if (p.map_pattern.empty() || p.map_pattern.size() > 256) return std::string("mapPattern must be 1 to 256 characters");
    if (id.size() > 128) return std::string("id must be at most 128 characters");
    if (!id.empty() && id[0] == '\x01') return std::string("id must not start with a control character");
    p.id = id.empty() ? random_id() : id;
    const auto found = std::find_if(std::begin(kActions), std::end(kActions), [&](const auto& a) { return a.first == lower(action); });
    if (found == std::end(kActions)) return "action \"" + action + "\" must be read, write, remove or all";
    p.action = found->second;
    if (lower(effect) != "allow" && lower(effect) != "deny") return "effect \"" + effect + "\" must be allow or deny";
    p.allow = lower(effect) == "allow";
    if (!expr.empty()) {
        auto parsed = parse_policy_condition(expr);
        if (auto* error = std::get_if<std::string>(&parsed)) return *error;
        std::string invalid;
        p.condition = query::Predicate::compile(std::get<protocol::PredicateNode>(parsed), &invalid);
        if (!p.condition) return "conditionExpr: " + invalid;
        p.condition_expr = std::move(expr);
    }
    return p;
}

nlohmann::json AccessPolicy::to_json() const {
    const auto name = std::find_if(std::begin(kActions), std::end(kActions), [&](const auto& a) { return a.second == action; });
    nlohmann::json j{{"id", id}, {"mapPattern", map_pattern}, {"action", name->first}, {"effect", allow ? "allow" : "deny"}};
    if (condition_expr) j["conditionExpr"] = *condition_expr;
    return j;
}

bool AccessPolicy::covers(Access access, std::string_view map) const {
    const bool action_matches = action == Action::All || (action == Action::Read && access == Access::Read) ||
                                (action == Action::Write && access == Access::Write) ||
                                (action == Action::Remove && access == Access::Remove);
    return action_matches && glob_matches(map_pattern, map);
}

bool PolicyStore::is_admin_subject(std::string_view subject) const {
    return std::find(admin_subjects_.begin(), admin_subjects_.end(), subject) != admin_subjects_.end();
}

bool PolicyStore::allows(const auth::Principal* caller, Access access, std::string_view map, const Value* record) const {
    if (!configured_.load(std::memory_order_acquire)) return true;
    if (caller != nullptr && is_admin_subject(caller->id)) return true;
    std::shared_lock lock(mutex_);
    bool allowed = false;
    std::optional<Value> auth;
    for (const AccessPolicy& p : policies_) {
        if (!p.covers(access, map)) continue;
        if (p.condition) {
            if (record == nullptr) continue;  // nothing to test a condition on
            if (!auth) auth = principal_value(caller);
            if (!p.condition->evaluate(*record, &*auth)) continue;
        }
        if (!p.allow) return false;  // deny wins
        allowed = true;
    }
    return allowed;
}

void PolicyStore::upsert(AccessPolicy policy, const Persist& persist) {
    std::vector<storage::Mutation> out;
    const std::string text = policy.to_json().dump();
    out.emplace_back(storage::MetaPut{std::string(kMetaNamespace), policy.id, Bytes(text.begin(), text.end())});
    std::unique_lock lock(mutex_);
    if (!configured_.exchange(true)) {
        out.emplace_back(storage::MetaPut{std::string(kMetaNamespace), std::string(kConfiguredKey), Bytes{1}});
    }
    const auto it = std::lower_bound(policies_.begin(), policies_.end(), policy.id, [](const AccessPolicy& a, const std::string& id) { return a.id < id; });
    if (it != policies_.end() && it->id == policy.id) {
        *it = std::move(policy);
    } else {
        policies_.insert(it, std::move(policy));
    }
    if (persist) persist(std::move(out));
}

bool PolicyStore::remove(std::string_view id, const Persist& persist) {
    std::unique_lock lock(mutex_);
    const auto it = std::find_if(policies_.begin(), policies_.end(), [&](const AccessPolicy& p) { return p.id == id; });
    if (it == policies_.end()) return false;
    policies_.erase(it);
    if (persist) {
        std::vector<storage::Mutation> out;
        out.emplace_back(storage::MetaErase{std::string(kMetaNamespace), std::string(id)});
        persist(std::move(out));
    }
    return true;
}

std::vector<AccessPolicy> PolicyStore::list() const {
    std::shared_lock lock(mutex_);
    return policies_;
}

void PolicyStore::restore(std::string_view key, std::string_view value) {
    if (key == kConfiguredKey) {
        configured_ = true;
        return;
    }
    const auto j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    auto parsed = AccessPolicy::from_json(j);
    if (auto* policy = std::get_if<AccessPolicy>(&parsed)) {
        upsert(std::move(*policy));
    } else {
        // Fail closed: an unreadable policy may have been a deny.
        throw std::runtime_error("stored access policy \"" + std::string(key) + "\" is unreadable: " + std::get<std::string>(parsed));
    }
}

}  // namespace topgun::server
