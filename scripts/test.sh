#!/usr/bin/env bash
# README command 2: installs what is needed, builds, and runs the whole test suite: unit tests,
# end-to-end tests of the real binaries on fixture trees, the demo in its short mode, and every
# benchmark in a short smoke mode. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
bash scripts/build.sh
build_dir=${JOBCARBON_BUILD_DIR:-build}
echo "==> README command 1 in its short mode (what a newcomer types first)"
bash scripts/demo.sh --quick
echo "==> the local PostgreSQL server the PostgreSQL ledger tests use"
bash scripts/start-postgres.sh
echo "==> unit tests, end-to-end tests, benchmark smoke runs"
(cd "${build_dir}" && ctest --output-on-failure --timeout 600 -j "$(nproc 2>/dev/null || echo 2)")
