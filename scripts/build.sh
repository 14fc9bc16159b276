#!/usr/bin/env bash
# Configures and builds jobcarbon into build/ (or $JOBCARBON_BUILD_DIR).
# Usage: scripts/build.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${JOBCARBON_BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)
echo "==> configuring ${build_dir}"
cmake -S . -B "${build_dir}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
echo "==> building with ${jobs} jobs"
cmake --build "${build_dir}" -j "${jobs}"
