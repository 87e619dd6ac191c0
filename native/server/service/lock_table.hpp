// Distributed locks with fencing tokens (PROTOCOL.md §10.2), for the names one
// shard owns. Pure bookkeeping: time comes in as an argument and what to tell
// whom comes out as LockNotices, so the shard decides how to deliver them.
//
// - A grant's token comes from a per-name counter that only grows, so a token
//   orders every holder the name ever had (a storage write can reject a stale
//   holder by its token).
// - The holder asking again is granted again with the same token (re-entrance);
//   its TTL restarts.
// - Where the reference refuses a held lock at once, a request here waits, in
//   arrival order, up to `wait_limit`; then it is denied as the reference
//   would have. The limit stays under the TS client's own wait (at least 5 s).
// - A holder's TTL expiry, release or disconnect grants the lock to the next
//   waiter still waiting.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace topgun::server {

// Who asked: a connection, on its home shard.
struct LockClient {
    std::uint64_t connection = 0;
    std::size_t home = 0;
};

// A message for one client: LOCK_GRANTED (granted) or LOCK_RELEASED (success false).
struct LockNotice {
    LockClient to;
    std::string request_id;
    std::string name;
    bool granted = false;
    std::uint64_t fencing_token = 0;
};

class LockTable {
public:
    using Clock = std::chrono::steady_clock;

    explicit LockTable(std::chrono::milliseconds wait_limit) : wait_limit_(wait_limit) {}

    // `ttl_ms` absent: held until released or disconnected. A TTL of 0 is denied.
    std::vector<LockNotice> request(const std::string& name, LockClient client, std::string request_id,
                                    std::optional<std::uint64_t> ttl_ms, Clock::time_point now) {
        std::vector<LockNotice> out;
        if (ttl_ms && *ttl_ms == 0) {
            out.push_back({client, std::move(request_id), name, false, 0});
            return out;
        }
        Lock& lock = locks_[name];
        expire_holder(lock, now);
        if (lock.holder && lock.holder->client.connection == client.connection) {
            lock.holder->expires = expiry(ttl_ms, now);
            out.push_back({client, std::move(request_id), name, true, lock.holder->token});
        } else if (!lock.holder) {
            grant(lock, name, client, std::move(request_id), ttl_ms, now, out);
        } else {
            lock.waiters.push_back({client, std::move(request_id), ttl_ms, now + wait_limit_});
        }
        return out;
    }

    // Releases `name` if `token` is its current holder's; then the next waiter gets it.
    std::vector<LockNotice> release(const std::string& name, std::uint64_t token, bool& released, Clock::time_point now) {
        std::vector<LockNotice> out;
        released = false;
        const auto it = locks_.find(name);
        if (it == locks_.end()) return out;
        Lock& lock = it->second;
        expire_holder(lock, now);
        if (lock.holder && lock.holder->token == token) {
            lock.holder.reset();
            released = true;
        }
        promote(lock, name, now, out);
        forget_if_idle(it);
        return out;
    }

    // A closed connection: its locks go to their next waiters, its own waits end.
    std::vector<LockNotice> drop(std::uint64_t connection, Clock::time_point now) {
        std::vector<LockNotice> out;
        for (auto it = locks_.begin(); it != locks_.end();) {
            Lock& lock = it->second;
            std::erase_if(lock.waiters, [&](const Waiter& w) { return w.client.connection == connection; });
            if (lock.holder && lock.holder->client.connection == connection) lock.holder.reset();
            promote(lock, it->first, now, out);
            it = forget_if_idle(it);
        }
        return out;
    }

    // TTL expiries (the next waiter gets the lock) and waits past their limit (denied).
    std::vector<LockNotice> expire(Clock::time_point now) {
        std::vector<LockNotice> out;
        for (auto it = locks_.begin(); it != locks_.end();) {
            Lock& lock = it->second;
            expire_holder(lock, now);
            for (auto w = lock.waiters.begin(); w != lock.waiters.end();) {
                if (w->deadline > now) {
                    ++w;
                    continue;
                }
                out.push_back({w->client, std::move(w->request_id), it->first, false, 0});
                w = lock.waiters.erase(w);
            }
            promote(lock, it->first, now, out);
            it = forget_if_idle(it);
        }
        return out;
    }

    // When expire() next has something to do.
    std::optional<Clock::time_point> next_deadline() const {
        std::optional<Clock::time_point> next;
        const auto consider = [&](Clock::time_point t) {
            if (!next || t < *next) next = t;
        };
        for (const auto& [name, lock] : locks_) {
            if (lock.holder && lock.holder->expires) consider(*lock.holder->expires);
            for (const Waiter& w : lock.waiters) consider(w.deadline);
        }
        return next;
    }

    // The holder's token, if the lock is held (for tests and diagnostics).
    std::optional<std::uint64_t> holder_token(std::string_view name) const {
        const auto it = locks_.find(std::string(name));
        if (it == locks_.end() || !it->second.holder) return std::nullopt;
        return it->second.holder->token;
    }

private:
    struct Holder {
        LockClient client;
        std::uint64_t token = 0;
        std::optional<Clock::time_point> expires;
    };
    struct Waiter {
        LockClient client;
        std::string request_id;
        std::optional<std::uint64_t> ttl_ms;
        Clock::time_point deadline;
    };
    struct Lock {
        std::optional<Holder> holder;
        std::deque<Waiter> waiters;
    };
    using Locks = std::unordered_map<std::string, Lock>;

    static std::optional<Clock::time_point> expiry(std::optional<std::uint64_t> ttl_ms, Clock::time_point now) {
        if (!ttl_ms) return std::nullopt;
        return now + std::chrono::milliseconds(*ttl_ms);
    }

    static void expire_holder(Lock& lock, Clock::time_point now) {
        if (lock.holder && lock.holder->expires && *lock.holder->expires <= now) lock.holder.reset();
    }

    void grant(Lock& lock, const std::string& name, LockClient client, std::string request_id,
               std::optional<std::uint64_t> ttl_ms, Clock::time_point now, std::vector<LockNotice>& out) {
        const std::uint64_t token = ++tokens_[name];
        lock.holder = Holder{client, token, expiry(ttl_ms, now)};
        out.push_back({client, std::move(request_id), name, true, token});
    }

    void promote(Lock& lock, const std::string& name, Clock::time_point now, std::vector<LockNotice>& out) {
        if (lock.holder || lock.waiters.empty()) return;
        Waiter next = std::move(lock.waiters.front());
        lock.waiters.pop_front();
        grant(lock, name, next.client, std::move(next.request_id), next.ttl_ms, now, out);
    }

    // Free locks with nobody waiting are dropped; the token counter stays.
    Locks::iterator forget_if_idle(Locks::iterator it) {
        if (!it->second.holder && it->second.waiters.empty()) return locks_.erase(it);
        return std::next(it);
    }

    std::chrono::milliseconds wait_limit_;
    Locks locks_;
    std::unordered_map<std::string, std::uint64_t> tokens_;  // per name, only grows
};

}  // namespace topgun::server
