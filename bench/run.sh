#!/usr/bin/env bash
# Runs each benchmark in its own process (so one benchmark's million-entry heap
# does not skew the next), three repetitions each, and prints the medians.
#
#   bash bench/run.sh            every program (topgun-bench-core, -query, ...)
#   bash bench/run.sh query      only topgun-bench-query
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
areas=("$@")
if [[ ${#areas[@]} -eq 0 ]]; then
  for source in bench/bench_*.cpp; do
    stem=$(basename "$source" .cpp)
    areas+=("${stem#bench_}")
  done
fi
for area in "${areas[@]}"; do
  cmake --build --preset release --target "topgun-bench-$area" >/dev/null
  bin=build/release/bench/topgun-bench-$area
  echo "## topgun-bench-$area"
  for name in $("$bin" --benchmark_list_tests | sed 's|/.*||' | sort -u); do
    "$bin" --benchmark_filter="^${name}(/|\$)" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
      2>/dev/null | grep '_median'
  done
done
