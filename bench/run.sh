#!/usr/bin/env bash
# Runs each core benchmark in its own process (so one benchmark's million-entry
# heap does not skew the next), three repetitions each, and prints the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/bench/topgun-bench-core
if [[ ! -x $bin ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target topgun-bench-core
fi
for name in $("$bin" --benchmark_list_tests | sed 's|/.*||' | sort -u); do
  "$bin" --benchmark_filter="^${name}(/|\$)" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    2>/dev/null | grep '_median'
done
