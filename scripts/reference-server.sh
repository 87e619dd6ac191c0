#!/usr/bin/env bash
# The reference Rust server from npm (@topgunbuild/server-linux-x64, the
# version the interop tests and bench/server-load.sh run against): installs it
# into a cache outside the project if it is not there yet, then prints the
# binary's path. It is never a project dependency.
#
#   bin=$(bash scripts/reference-server.sh)     # the binary's path
#   bash scripts/reference-server.sh --version  # the pinned version
#
# Environment: TOPGUN_REF_DIR, the cache (default ~/.cache/topgun-ref).
# Exits 2 where the package has no binary (it ships Linux x86_64 only), 1 when
# npm cannot install it.
set -euo pipefail
version=2.2.0
package=@topgunbuild/server-linux-x64
if [[ ${1:-} == --version ]]; then
  echo "$version"
  exit 0
fi
dir=${TOPGUN_REF_DIR:-$HOME/.cache/topgun-ref}
bin=$dir/node_modules/$package/bin/topgun-server

installed() {
  [[ -f $bin ]] && grep -q "\"version\": *\"$version\"" "$dir/node_modules/$package/package.json" 2>/dev/null
}
if ! installed; then
  if [[ $(uname -sm) != "Linux x86_64" ]]; then
    echo "reference-server: $package runs on Linux x86_64 only" >&2
    exit 2
  fi
  command -v npm >/dev/null || { echo "reference-server: npm is not installed" >&2; exit 1; }
  mkdir -p "$dir"
  if ! npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$package@$version" >&2 || ! installed; then
    echo "reference-server: npm could not install $package@$version into $dir" >&2
    exit 1
  fi
fi
chmod +x "$bin" # npm unpacks it without the execute bit
echo "$bin"
