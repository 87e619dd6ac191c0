#!/usr/bin/env bash
# Runs every test: installs dependencies, builds the dev (g++) and asan
# (clang ASan+UBSan) presets with warnings as errors, runs the unit, golden and
# packaging tests in both, and a short libFuzzer run of the codec.
#
# Environment: TOPGUN_UPSTREAM_GOLDEN=DIR also verifies the reference
# implementation's fixtures; FUZZ_SECONDS (default 30) bounds the fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc)
run_preset() {
  local preset=$1
  echo "=== [$preset] configure + build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== [$preset] test"
  ctest --preset "$preset" -j "$jobs"
}

run_preset dev
run_preset asan

echo "=== [fuzz] codec fuzzer, ${FUZZ_SECONDS:-30}s"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
mkdir -p build/fuzz/corpus
./build/fuzz/tests/fuzz/fuzz-codec build/fuzz/corpus golden tests/fuzz/seeds \
  -max_total_time="${FUZZ_SECONDS:-30}" -max_len=4096 -print_final_stats=1 2>&1 | tail -n 12

echo "=== all tests passed"
