#include "service/event_journal.hpp"

#include <topgun/protocol/codec.hpp>

#include <algorithm>
#include <charconv>

namespace topgun::server {

bool JournalFilter::matches(const protocol::JournalEventData& e) const {
    if (map_name && *map_name != e.map_name) return false;
    if (readable && !readable(e.map_name)) return false;
    return !types || std::find(types->begin(), types->end(), e.type) != types->end();
}

bool EventJournal::Subscriber::wants(const protocol::JournalEventData& e) const {
    return std::any_of(subscriptions.begin(), subscriptions.end(), [&](const auto& s) { return s.second.matches(e); });
}

EventJournal::EventJournal(std::size_t capacity, bool enabled, Deliver deliver)
    : capacity_(capacity), enabled_(enabled && capacity > 0), deliver_(std::move(deliver)) {}

std::optional<std::uint64_t> EventJournal::parse_sequence(std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

namespace {
SharedFrame event_frame(const protocol::JournalEventData& e) {
    return make_frame(protocol::encode_message(protocol::JournalEvent{e}));
}
}  // namespace

void EventJournal::append(std::vector<protocol::JournalEventData> events) {
    if (!enabled_ || events.empty()) return;
    std::lock_guard lock(mutex_);
    const std::size_t first_new = events_.size();
    for (protocol::JournalEventData& e : events) {
        e.sequence = std::to_string(next_++);
        events_.push_back(std::move(e));
    }
    if (!subscribers_.empty()) {
        // One encoding per event, shared by every subscriber that wants it.
        std::vector<SharedFrame> frames(events_.size() - first_new);
        for (const auto& [connection, subscriber] : subscribers_) {
            std::vector<SharedFrame> out;
            for (std::size_t i = first_new; i < events_.size(); ++i) {
                if (!subscriber.wants(events_[i])) continue;
                SharedFrame& frame = frames[i - first_new];
                if (!frame) frame = event_frame(events_[i]);
                out.push_back(frame);
            }
            if (!out.empty()) deliver_(subscriber.home, connection, std::move(out));
        }
    }
    while (events_.size() > capacity_) events_.pop_front();
}

std::size_t EventJournal::position_of(std::uint64_t from) const {
    const std::uint64_t oldest = next_ - events_.size();
    return from <= oldest ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(from - oldest, events_.size()));
}

void EventJournal::subscribe(std::uint64_t connection, std::size_t home, std::string id, JournalFilter filter,
                             std::optional<std::uint64_t> from) {
    std::lock_guard lock(mutex_);
    if (from) {
        std::vector<SharedFrame> replay;
        for (std::size_t i = position_of(*from); i < events_.size(); ++i) {
            if (filter.matches(events_[i])) replay.push_back(event_frame(events_[i]));
        }
        if (!replay.empty()) deliver_(home, connection, std::move(replay));
    }
    Subscriber& s = subscribers_[connection];
    s.home = home;
    std::erase_if(s.subscriptions, [&](const auto& sub) { return sub.first == id; });  // a re-used id replaces
    s.subscriptions.emplace_back(std::move(id), std::move(filter));
}

void EventJournal::unsubscribe(std::uint64_t connection, std::string_view id) {
    std::lock_guard lock(mutex_);
    const auto it = subscribers_.find(connection);
    if (it == subscribers_.end()) return;
    std::erase_if(it->second.subscriptions, [&](const auto& sub) { return sub.first == id; });
    if (it->second.subscriptions.empty()) subscribers_.erase(it);
}

void EventJournal::drop_connection(std::uint64_t connection) {
    std::lock_guard lock(mutex_);
    subscribers_.erase(connection);
}

protocol::JournalReadResponse EventJournal::read(std::uint64_t from, std::size_t limit,
                                                 const std::optional<std::string>& map_name, const MapReadable& readable) const {
    protocol::JournalReadResponse out;
    std::lock_guard lock(mutex_);
    for (std::size_t i = position_of(from); i < events_.size(); ++i) {
        const protocol::JournalEventData& e = events_[i];
        if (map_name && *map_name != e.map_name) continue;
        if (readable && !readable(e.map_name)) continue;
        if (out.events.size() == limit) {
            out.has_more = true;
            break;
        }
        out.events.push_back(e);
    }
    out.latest_sequence = std::to_string(next_ - 1);
    return out;
}

}  // namespace topgun::server
