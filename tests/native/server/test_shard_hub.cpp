#include "session/shard_hub.hpp"

#include <catch2/catch.hpp>

using topgun::server::Channel;
using topgun::server::ShardHub;

// Node::deliver posts nothing to a shard where no one listens on the channel:
// the flag must follow every way a subscription comes and goes.
TEST_CASE("A shard hub says whether anyone on it listens on a channel", "[hub]") {
    ShardHub hub;
    CHECK_FALSE(hub.listened(Channel::MapHolders));
    CHECK_FALSE(hub.listened(Channel::Topic));

    CHECK(hub.subscribe(Channel::MapHolders, "items", 1));
    CHECK(hub.subscribe(Channel::MapHolders, "users", 2));
    CHECK(hub.listened(Channel::MapHolders));
    CHECK_FALSE(hub.listened(Channel::Topic));
    CHECK_FALSE(hub.listened(Channel::Counter));

    hub.unsubscribe(Channel::MapHolders, "items", 1);
    CHECK(hub.listened(Channel::MapHolders));  // 2 still holds users
    hub.unsubscribe(Channel::MapHolders, "users", 2);
    CHECK_FALSE(hub.listened(Channel::MapHolders));

    // A closing connection leaves every channel it listened on.
    CHECK(hub.subscribe(Channel::Topic, "news", 3));
    CHECK(hub.subscribe(Channel::Counter, "likes", 3));
    CHECK(hub.subscribe(Channel::Counter, "likes", 4));
    hub.remove(3);
    CHECK_FALSE(hub.listened(Channel::Topic));
    CHECK(hub.listened(Channel::Counter));
    hub.remove(4);
    CHECK_FALSE(hub.listened(Channel::Counter));
}
