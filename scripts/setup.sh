#!/usr/bin/env bash
# scripts/setup.sh - installs the build dependencies (Debian packages) and builds the project into
# ./build (or $1). Safe to re-run: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

packages=(meson ninja-build pkg-config gcc libc6-dev libopenblas-dev libdnnl-dev check libjansson-dev
          ocl-icd-opencl-dev opencl-headers libclblast-dev pocl-opencl-icd libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" >/dev/null
echo "setup: built into $build" >&2
