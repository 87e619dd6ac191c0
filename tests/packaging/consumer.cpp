// A user program: includes the umbrella header and uses a CRDT end to end.
#include <topgun/topgun.hpp>

#include <cstdio>

int main() {
    topgun::HLC clock("consumer");
    topgun::LWWMap map(clock);
    map.set("greeting", topgun::Value("hello"));
    const topgun::Value* v = map.get("greeting");
    if (v == nullptr || v->as_string() != "hello") return 1;
    if (map.merkle().root_hash() == 0) return 1;
    std::printf("topgun %s ok\n", topgun::version());
    return 0;
}
