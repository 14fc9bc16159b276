# Shared helpers of the end-to-end tests: each test runs the real jobcarbon binary on fixture
# trees in a private temporary directory. Sourced by the test scripts; JOBCARBON (the binary),
# SRC (the source tree) and BUILD (the build tree) come from ctest.
set -euo pipefail
: "${JOBCARBON:?JOBCARBON must name the jobcarbon binary}"
: "${SRC:?SRC must name the source tree}"
: "${BUILD:?BUILD must name the build tree}"
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/jobcarbon-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
# No sensor of the test machine may leak into a test: every root points at fixtures.
export HOME="$T/home" XDG_DATA_HOME="$T/home/.local/share" XDG_CONFIG_HOME="$T/home/.config"
unset JOBCARBON_LEDGER CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER FAKE_NVML_SCENARIO
mkdir -p "$HOME"
FAKE_NVML="$BUILD/tests/fake_nvml/libnvidia-ml.so.1"
FIXTURES="$SRC/tests/fixtures/sysfs"
passed=0

# fixture NAME: copy a sysfs fixture tree (symlinks kept) to $T/NAME and print its path.
fixture() {
  mkdir -p "$T/$1"
  cp -a "$FIXTURES/$1/." "$T/$1/"
  printf '%s' "$T/$1"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

ok() {
  passed=$((passed + 1))
  echo "ok: $*"
}

# json FILE EXPR: print the Python expression EXPR evaluated on the JSON document in FILE as j.
json() {
  "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
  [[ "$2" == "$3" ]] || fail "$1: expected '$3', got '$2'"
  ok "$1 = $3"
}

# expect_contains WHAT FILE TEXT
expect_contains() {
  grep -qF -- "$3" "$2" || { echo "--- $2:" >&2; cat "$2" >&2; fail "$1: '$3' not found"; }
  ok "$1"
}

# free_port: print a TCP port that is free on 127.0.0.1 right now.
free_port() {
  "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# skip_unless_ci WHY: a test that needs a service or a package skips outside CI (saying why) and
# fails under CI=true, where the project's scripts must have provided it.
skip_unless_ci() {
  if [[ "${CI:-}" == true ]]; then fail "$1 (CI=true)"; fi
  echo "SKIP: $1"
  exit 0
}

finish() {
  echo "$passed passed, 0 failed"
}
