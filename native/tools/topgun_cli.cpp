// topgun-cli: project tooling.
//   topgun-cli golden verify DIR     check fixture pairs (exit 1 on any failure);
//                                    --require-all-kinds: every message kind must have one
//   topgun-cli golden generate DIR   write the project's fixtures
#include "golden.hpp"

#include <topgun/version.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

int main(int argc, char** argv) {
    CLI::App app{"TopGun C++ tools"};
    app.set_version_flag("--version", topgun::version());
    app.require_subcommand(1);

    auto* golden = app.add_subcommand("golden", "Golden wire fixtures (NAME.json + NAME.msgpack pairs)");
    golden->require_subcommand(1);
    std::string verify_dir;
    auto* verify = golden->add_subcommand("verify", "Decode, compare with the JSON, re-encode and compare bytes");
    verify->add_option("dir", verify_dir, "Fixture directory")->required()->check(CLI::ExistingDirectory);
    bool require_all_kinds = false;
    verify->add_flag("--require-all-kinds", require_all_kinds, "Also fail when a message kind has no fixture");
    std::string generate_dir;
    auto* generate = golden->add_subcommand("generate", "Write one fixture pair per message kind");
    generate->add_option("dir", generate_dir, "Output directory")->required();

    CLI11_PARSE(app, argc, argv);

    if (*verify) {
        const auto outcomes = topgun::golden::verify_dir(verify_dir);
        std::size_t passed = 0, failed = 0;
        for (const auto& o : outcomes) {
            if (o.passed) {
                ++passed;
                std::printf("ok    %s\n", o.name.c_str());
            } else {
                ++failed;
                std::printf("FAIL  %s: %s\n", o.name.c_str(), o.detail.c_str());
            }
        }
        if (require_all_kinds) {
            for (const auto& kind : topgun::golden::kinds_without_fixture(outcomes)) {
                ++failed;
                std::printf("FAIL  %s: no fixture for this message kind\n", kind.c_str());
            }
        }
        std::printf("%zu passed, %zu failed\n", passed, failed);
        return failed == 0 && passed > 0 ? 0 : 1;
    }
    if (*generate) {
        const std::size_t n = topgun::golden::generate_dir(generate_dir);
        std::printf("wrote %zu fixture pairs to %s\n", n, generate_dir.c_str());
        return n > 0 ? 0 : 1;
    }
    return 0;
}
