#!/usr/bin/env bash
# Builds and runs the C++ example (the project's main job until the server exists).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release -DTOPGUN_BUILD_BENCH=OFF >/dev/null
cmake --build --preset release --target topgun-example-basic
./build/release/examples/topgun-example-basic
