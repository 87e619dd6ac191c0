#include <topgun/protocol/codec.hpp>
#include <topgun/protocol/event_batch.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using namespace topgun;
using namespace topgun::protocol;

namespace {
Bytes frame_of(const Value& v) { return msgpack::encode(v); }
Value map_of(std::initializer_list<std::pair<const char*, Value>> members) {
    Value m = Value::map();
    for (const auto& [k, v] : members) m.set(k, v);
    return m;
}
}  // namespace

TEST_CASE("CLIENT_OP round-trips with absent and nil kept apart", "[codec]") {
    ClientOpMessage op;
    op.id = "7";
    op.map_name = "users";
    op.key = "u1";
    op.op_type = OpType::Put;
    op.record = LWWRecordData{Value("Alice"), Timestamp{1700000000000, 1, "node-1"}, {}};
    const Bytes bytes = encode_message(op);
    auto decoded = decode_message(bytes);
    REQUIRE(decoded);
    const auto* back = std::get_if<ClientOpMessage>(&decoded.message());
    REQUIRE(back);
    CHECK(*back == op);
    CHECK(back->or_record.absent());
    CHECK(encode_message(decoded.message()) == bytes);

    // An explicit `record: nil` is a remove and survives the round trip.
    op.record = Nullable<LWWRecordData>::nil();
    auto again = decode_message(encode_message(op));
    REQUIRE(again);
    CHECK(std::get<ClientOpMessage>(again.message()).record.is_nil());
}

TEST_CASE("The discriminator may appear anywhere in the map", "[codec]") {
    const Value ping = map_of({{"timestamp", Value(5)}, {"type", Value("PING")}});
    auto decoded = decode_message(frame_of(ping));
    REQUIRE(decoded);
    CHECK(std::get<Ping>(decoded.message()).timestamp == 5u);
}

TEST_CASE("decode_message_of decodes its kinds itself and hands every other frame on", "[codec]") {
    int handed_on = 0;
    static int* counter = nullptr;
    counter = &handed_on;
    const auto other = [](std::span<const std::uint8_t> bytes) {
        ++*counter;
        return decode_message(bytes);
    };
    ServerBatchEvent batch;
    batch.events.push_back({"todos", ServerEventType::Put, "t1", LWWRecordData{Value("milk"), Timestamp{5, 0, "n"}, {}}, {}, {}});
    const Bytes batch_bytes = encode_message(batch);
    auto fast = decode_message_of<ServerBatchEvent, SyncRespLeaf>(batch_bytes, other);
    REQUIRE(fast);
    CHECK(std::get<ServerBatchEvent>(fast.message()) == batch);
    CHECK(handed_on == 0);

    auto ping = decode_message_of<ServerBatchEvent, SyncRespLeaf>(frame_of(map_of({{"type", Value("PING")}, {"timestamp", Value(3)}})), other);
    REQUIRE(ping);
    CHECK(std::get<Ping>(ping.message()).timestamp == 3u);
    CHECK(handed_on == 1);

    // Malformed frames of either path give the general decoder's errors.
    Bytes truncated = batch_bytes;
    truncated.pop_back();
    auto cut = decode_message_of<ServerBatchEvent, SyncRespLeaf>(truncated, other);
    CHECK_FALSE(cut);
    CHECK(cut.error().code == decode_message(truncated).error().code);
    auto unknown = decode_message_of<ServerBatchEvent, SyncRespLeaf>(frame_of(map_of({{"type", Value("NOPE")}})), other);
    CHECK(unknown.error().code == msgpack::Errc::UnknownType);
    auto untyped = decode_message_of<ServerBatchEvent, SyncRespLeaf>(frame_of(map_of({{"timestamp", Value(1)}})), other);
    CHECK(untyped.error().code == msgpack::Errc::MissingField);
    Bytes trailing = batch_bytes;
    trailing.push_back(0xc0);
    CHECK(decode_message_of<ServerBatchEvent, SyncRespLeaf>(trailing, other).error().code == msgpack::Errc::TrailingBytes);
}

TEST_CASE("decode_message_among decodes its kinds and only checks the form of other known kinds", "[codec]") {
    const Bytes ping = frame_of(map_of({{"type", Value("PING")}, {"timestamp", Value(3)}}));
    auto decoded = decode_message_among<Ping, Pong>(ping);
    REQUIRE(decoded);
    CHECK(std::get<Ping>(decoded.message()).timestamp == 3u);
    CHECK(decoded.skipped_kind().empty());

    // Another kind: not decoded, so wrong member types pass; its kind is named.
    const Bytes odd_op_ack = frame_of(map_of({{"type", Value("OP_ACK")}, {"payload", Value("not a record")}}));
    REQUIRE_FALSE(decode_message(odd_op_ack));
    auto skipped = decode_message_among<Ping, Pong>(odd_op_ack);
    CHECK_FALSE(skipped);
    CHECK(skipped.skipped_kind() == "OP_ACK");
    CHECK(skipped.error().code == msgpack::Errc::Ok);

    // Its MsgPack is still checked whole: truncated, too deep, trailing bytes.
    Bytes truncated = odd_op_ack;
    truncated.pop_back();
    auto cut = decode_message_among<Ping, Pong>(truncated);
    CHECK(cut.skipped_kind().empty());
    CHECK(cut.error().code == msgpack::Errc::Truncated);
    Value deep = Value(1);
    for (int i = 0; i < 300; ++i) {
        Value outer = Value::array();
        outer.push_back(std::move(deep));
        deep = std::move(outer);
    }
    auto too_deep = decode_message_among<Ping, Pong>(frame_of(map_of({{"type", Value("OP_ACK")}, {"payload", deep}})));
    CHECK(too_deep.skipped_kind().empty());
    CHECK(too_deep.error().code == msgpack::Errc::TooDeep);
    Bytes trailing = odd_op_ack;
    trailing.push_back(0xc0);
    CHECK(decode_message_among<Ping, Pong>(trailing).error().code == msgpack::Errc::TrailingBytes);
    // And the kind must exist.
    auto unknown = decode_message_among<Ping, Pong>(frame_of(map_of({{"type", Value("NOPE")}})));
    CHECK(unknown.skipped_kind().empty());
    CHECK(unknown.error().code == msgpack::Errc::UnknownType);
    // Within the size limit.
    CHECK(decode_message_among<Ping, Pong>(odd_op_ack, {.max_bytes = 8}).error().code == decode_message(odd_op_ack, {.max_bytes = 8}).error().code);
}

TEST_CASE("A frame with two payloads is refused: readers that keep the last would see an unchecked one", "[codec]") {
    msgpack::Writer w(64);
    w.map_header(3);
    w.string("type");
    w.string("OP_ACK");
    w.string("payload");
    w.value(map_of({{"lastId", Value("7")}}));
    w.string("payload");
    w.value(map_of({{"lastId", Value(7)}}));
    const Bytes frame = w.take();
    const auto decoded = decode_message(frame);
    REQUIRE_FALSE(decoded);
    CHECK(decoded.error().code == msgpack::Errc::InvalidValue);
    CHECK(decoded.error().path == "payload");
}

TEST_CASE("Malformed frames give typed errors with the field path", "[codec]") {
    SECTION("not a map") {
        auto r = decode_message(frame_of(Value(1)));
        CHECK_FALSE(r);
        CHECK(r.error().code == msgpack::Errc::WrongType);
    }
    SECTION("no type") {
        auto r = decode_message(frame_of(map_of({{"timestamp", Value(1)}})));
        CHECK(r.error().code == msgpack::Errc::MissingField);
        CHECK(r.error().path == "type");
    }
    SECTION("unknown type") {
        auto r = decode_message(frame_of(map_of({{"type", Value("NOPE")}})));
        CHECK(r.error().code == msgpack::Errc::UnknownType);
    }
    SECTION("missing payload") {
        auto r = decode_message(frame_of(map_of({{"type", Value("OP_ACK")}})));
        CHECK(r.error().code == msgpack::Errc::MissingField);
        CHECK(r.error().path == "payload");
    }
    SECTION("missing required field") {
        auto r = decode_message(frame_of(map_of({{"type", Value("PING")}})));
        CHECK(r.error().code == msgpack::Errc::MissingField);
        CHECK(r.error().path == "timestamp");
    }
    SECTION("wrong type deep inside") {
        Value record = map_of({{"value", Value(1)}, {"timestamp", map_of({{"millis", Value("x")}, {"counter", Value(0)}, {"nodeId", Value("n")}})}});
        Value op = map_of({{"mapName", Value("m")}, {"key", Value("k")}, {"record", record}});
        Value batch = map_of({{"type", Value("OP_BATCH")}, {"payload", map_of({{"ops", Value(Value::Array{op})}})}});
        auto r = decode_message(frame_of(batch));
        CHECK(r.error().code == msgpack::Errc::WrongType);
        CHECK(r.error().path == "payload.ops[0].record.timestamp.millis");
        CHECK(r.error().message().find("payload.ops[0].record.timestamp.millis") != std::string::npos);
    }
    SECTION("fractional integer") {
        auto r = decode_message(frame_of(map_of({{"type", Value("PING")}, {"timestamp", Value(1.5)}})));
        CHECK(r.error().code == msgpack::Errc::OutOfRange);
    }
    SECTION("unknown enum string") {
        Value ack = map_of({{"type", Value("OP_ACK")}, {"payload", map_of({{"lastId", Value("1")}, {"achievedLevel", Value("SOMETIMES")}})}});
        CHECK(decode_message(frame_of(ack)).error().code == msgpack::Errc::InvalidValue);
    }
    SECTION("trailing bytes") {
        Bytes b = encode_message(Ping{.timestamp = 1});
        b.push_back(0);
        CHECK(decode_message(b).error().code == msgpack::Errc::TrailingBytes);
    }
    SECTION("every truncation of a valid frame fails cleanly") {
        const Bytes b = encode_message(ClientOpMessage{ClientOp{.id = "1", .map_name = "m", .key = "k", .op_type = OpType::Put,
            .record = LWWRecordData{Value("v"), Timestamp{1, 2, "n"}, {}}}});
        for (std::size_t n = 0; n < b.size(); ++n) {
            CHECK_FALSE(decode_message(std::span(b.data(), n)));
        }
    }
}

TEST_CASE("Unknown keys are ignored and integers accept float64", "[codec]") {
    Value ping = map_of({{"type", Value("PING")}, {"extra", Value(Value::Array{Value(1)})}, {"timestamp", Value(1700000000000.0)}});
    auto r = decode_message(frame_of(ping));
    REQUIRE(r);
    CHECK(std::get<Ping>(r.message()).timestamp == 1700000000000u);
}

TEST_CASE("BATCH data unpacks length-prefixed frames", "[codec]") {
    const std::vector<Bytes> frames = {encode_message(Ping{.timestamp = 1}), encode_message(Ping{.timestamp = 2})};
    Bytes data = pack_batch(frames);
    auto items = unpack_batch(data);
    REQUIRE(items);
    REQUIRE(items->size() == 2);
    CHECK(std::get<Ping>(decode_message((*items)[1]).message()).timestamp == 2u);
    data.resize(data.size() - 1);  // truncated tail ends the walk
    CHECK(unpack_batch(data)->size() == 1);
    Bytes many;
    for (std::size_t i = 0; i <= kMaxBatchItems; ++i) many.insert(many.end(), {0, 0, 0, 0});
    CHECK_FALSE(unpack_batch(many));
}

TEST_CASE("PN counter state accepts both spellings and emits both (D6)", "[codec][pn]") {
    auto decode_state = [](const char* inc_key, const char* dec_key) {
        Value state = map_of({{inc_key, map_of({{"a", Value(5)}, {"b", Value(2)}})}, {dec_key, map_of({{"a", Value(1.5)}})}});
        Value msg = map_of({{"type", Value("COUNTER_SYNC")}, {"payload", map_of({{"name", Value("c")}, {"state", state}})}});
        auto r = decode_message(frame_of(msg));
        REQUIRE(r);
        return std::get<CounterSync>(r.message()).state.to_state();
    };
    const PNCounterState schema = decode_state("p", "n");
    const PNCounterState client = decode_state("positive", "negative");
    CHECK(schema.positive == client.positive);
    CHECK(schema.negative == client.negative);
    CHECK(client.positive.at("a") == 5.0);
    CHECK(client.negative.at("a") == 1.5);

    PNCounter counter("a");
    counter.merge(client);
    CHECK(counter.value() == 5.5);

    const PNCounterStateData out = PNCounterStateData::from(counter.state());
    REQUIRE(out.p);
    REQUIRE(out.positive);
    CHECK(*out.p == *out.positive);
    CHECK(out.n == out.negative);
}

TEST_CASE("Members with non-string keys are skipped whole", "[codec]") {
    msgpack::Writer w;
    w.map_header(3);
    w.number(7);  // an integer key with a container value: neither may derail the decode
    w.array_header(2);
    w.string("x");
    w.nil();
    w.string("type");
    w.string("PING");
    w.string("timestamp");
    w.number(42);
    auto r = decode_message(w.bytes());
    REQUIRE(r);
    CHECK(std::get<Ping>(r.message()).timestamp == 42u);
}

TEST_CASE("EventBatch frames are what encode_message writes for the same events", "[codec][events]") {
    std::mt19937 rng(7);
    auto random_event = [&](int i) {
        ServerEventPayload e;
        e.map_name = "m";
        e.key = "k" + std::to_string(rng() % 1000);
        const Timestamp ts{1700000000000 + rng() % 1000, static_cast<std::uint32_t>(rng() % 4), "node-" + std::to_string(i % 3)};
        switch (rng() % 4) {
            case 0:
                e.event_type = ServerEventType::Put;
                e.record = LWWRecordData{map_of({{"n", Value(static_cast<std::int64_t>(i))}, {"s", Value(std::string(rng() % 300, 'x'))}}), ts, {}};
                if (rng() % 2 == 0) e.record->ttl_ms = std::uint64_t{60000};
                break;
            case 1:
                e.event_type = ServerEventType::Remove;
                e.record = LWWRecordData{Value(), ts, {}};
                break;
            case 2:
                e.event_type = ServerEventType::OrAdd;
                e.or_tag = "t" + std::to_string(i);
                e.or_record = ORMapRecordData{Value(static_cast<std::int64_t>(i)), ts, *e.or_tag, {}};
                break;
            default:
                e.event_type = ServerEventType::OrRemove;
                e.or_tag = "t" + std::to_string(i);
        }
        return e;
    };
    // Counts around the fixarray (15) and array16 boundaries, and one event
    // (a SERVER_EVENT of its own).
    for (const std::size_t count : {1u, 2u, 15u, 16u, 17u, 40u}) {
        CAPTURE(count);
        std::vector<ServerEventPayload> events;
        for (std::size_t i = 0; i < count; ++i) events.push_back(random_event(static_cast<int>(i)));
        EventBatch batch;
        for (const ServerEventPayload& e : events) batch.add(e);
        CHECK(batch.count() == count);
        Bytes expected;
        if (count == 1) {
            ServerEvent single;
            static_cast<ServerEventPayload&>(single) = events.front();
            expected = encode_message(single);
        } else {
            expected = encode_message(ServerBatchEvent{events});
        }
        CHECK(batch.frame() == expected);

        // Joining encoded events (as a socket's queue does) gives the frame of them all.
        for (std::size_t split = 0; split <= count; ++split) {
            EventBatch first, second, joined;
            for (std::size_t i = 0; i < count; ++i) (i < split ? first : second).add(events[i]);
            joined.add_encoded(first.items(), first.count());
            joined.add_encoded(second.items(), second.count());
            CHECK(joined.frame() == expected);
        }
    }
}
