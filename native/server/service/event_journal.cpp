#include "service/event_journal.hpp"

#include <topgun/protocol/codec.hpp>

#include <algorithm>
#include <charconv>

namespace topgun::server {

using protocol::JournalEventType;

JournalRecordBuilder::JournalRecordBuilder(const Value* previous) : had_previous_(previous != nullptr) {
    if (previous == nullptr) return;
    fields_.string("previousValue");
    fields_.value(*previous);
    ++pairs_;
}

JournalRecord JournalRecordBuilder::finish(JournalEventType type, const std::string& map_name, std::string_view key,
                                           const Value* value, const Timestamp& timestamp) && {
    fields_.string("type");
    protocol::encode_field(fields_, type);
    fields_.string("mapName");
    fields_.string(map_name);
    fields_.string("key");
    fields_.string(key);
    if (value != nullptr) {
        fields_.string("value");
        fields_.value(*value);
        ++pairs_;
    }
    fields_.string("timestamp");
    protocol::encode_field(fields_, timestamp);
    fields_.string("nodeId");
    fields_.string(timestamp.node_id);
    return JournalRecord{map_name, type, pairs_ + 5, fields_.take()};
}

bool JournalFilter::matches(const JournalRecord& e) const {
    if (map_name && *map_name != e.map_name) return false;
    if (readable && !readable(e.map_name)) return false;
    return !types || std::find(types->begin(), types->end(), e.type) != types->end();
}

bool EventJournal::Subscriber::wants(const JournalRecord& e) const {
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

// A JournalEventData: the sequence, then the record's own fields.
void write_event(msgpack::Writer& w, std::uint64_t sequence, const JournalRecord& r) {
    w.map_header(r.pairs + 1);
    w.string("sequence");
    w.string(std::to_string(sequence));
    w.raw(r.fields);
}

SharedFrame event_frame(std::uint64_t sequence, const JournalRecord& r) {
    msgpack::Writer w(r.fields.size() + 64);
    w.map_header(2);
    w.string("type");
    w.string(protocol::JournalEvent::kType);
    w.string("event");
    write_event(w, sequence, r);
    return make_frame(w.take());
}

}  // namespace

void EventJournal::append(std::vector<JournalRecord> events) {
    if (!enabled_ || events.empty()) return;
    std::vector<JournalRecord> evicted;  // freed after the lock is released
    std::lock_guard lock(mutex_);
    const std::uint64_t first_new = next_;
    for (JournalRecord& e : events) events_.push_back(std::move(e));
    next_ += events.size();
    if (!subscribers_.empty()) {
        // One encoding per event, shared by every subscriber that wants it.
        const std::size_t base = events_.size() - events.size();
        std::vector<SharedFrame> frames(events.size());
        for (const auto& [connection, subscriber] : subscribers_) {
            std::vector<SharedFrame> out;
            for (std::size_t i = 0; i < events.size(); ++i) {
                const JournalRecord& e = events_[base + i];
                if (!subscriber.wants(e)) continue;
                if (!frames[i]) frames[i] = event_frame(first_new + i, e);
                out.push_back(frames[i]);
            }
            if (!out.empty()) deliver_(subscriber.home, connection, std::move(out));
        }
    }
    while (events_.size() > capacity_) {
        evicted.push_back(std::move(events_.front()));
        events_.pop_front();
    }
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
        const std::uint64_t oldest = next_ - events_.size();
        for (std::size_t i = position_of(*from); i < events_.size(); ++i) {
            if (filter.matches(events_[i])) replay.push_back(event_frame(oldest + i, events_[i]));
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

Bytes EventJournal::read(const std::string& request_id, std::uint64_t from, std::size_t limit,
                         const std::optional<std::string>& map_name, const MapReadable& readable) const {
    const JournalFilter filter{map_name, std::nullopt, readable};
    msgpack::Writer w(256);
    std::lock_guard lock(mutex_);
    std::vector<std::size_t> page;
    bool has_more = false;
    for (std::size_t i = position_of(from); i < events_.size(); ++i) {
        if (!filter.matches(events_[i])) continue;
        if (page.size() == limit) {
            has_more = true;
            break;
        }
        page.push_back(i);
    }
    const std::uint64_t oldest = next_ - events_.size();
    w.map_header(5);
    w.string("type");
    w.string(protocol::JournalReadResponse::kType);
    w.string("requestId");
    w.string(request_id);
    w.string("events");
    w.array_header(page.size());
    for (const std::size_t i : page) write_event(w, oldest + i, events_[i]);
    w.string("hasMore");
    w.boolean(has_more);
    w.string("latestSequence");
    w.string(std::to_string(next_ - 1));
    return w.take();
}

}  // namespace topgun::server
