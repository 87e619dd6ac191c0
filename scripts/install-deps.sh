#!/usr/bin/env bash
# Installs every Debian package the project needs. Idempotent: when everything
# is present it only runs dpkg queries and returns in about a second.
set -euo pipefail

packages=(
  # toolchain
  g++ clang-14 libclang-rt-14-dev cmake ninja-build ccache
  # libraries used by the core's tests, the tools and the benchmarks
  catch2 libbenchmark-dev nlohmann-json3-dev libcli11-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#packages[@]} packages present"
fi
