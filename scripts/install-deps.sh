#!/usr/bin/env bash
# Installs the Debian 12 packages jobcarbon needs. Run as root (or as a user with sudo).
#
# Usage:
#   scripts/install-deps.sh          what README command 1 (the demo) needs: the compiler and build
#                                    tools, the libraries, and Debian's PyTorch and scikit-learn
#   scripts/install-deps.sh --test   also the test and CI tools: clang-format, the sqlite3 shell,
#                                    hyperfine (benchmarks), procps (ps/pgrep in end-to-end tests),
#                                    PostgreSQL (the server the PostgreSQL ledger tests use),
#                                    Prometheus (promtool checks the agent's metrics), Slurm and
#                                    munge (a one-host cluster for the Slurm tests)
#
# The demo list includes GoogleTest and Google Benchmark because a default configure (tests and
# benchmarks ON) requires them. When every package is already installed nothing is run, so repeated
# runs take a fraction of a second and need no root. Otherwise `apt-get update` always runs first:
# on a fresh image the package lists are empty and installs would fail or fetch stale versions.
set -euo pipefail

demo_packages=(
  # build tools
  g++ cmake make pkg-config
  # libraries
  libcli11-dev nlohmann-json3-dev libfmt-dev libtomlplusplus-dev libsqlite3-dev
  # the node agent's /metrics endpoint
  libcpp-httplib-dev
  # libpq-fe.h only: libpq itself is loaded at run time, for postgresql:// ledgers
  libpq-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the demo's training script (run with /usr/bin/python3, which sees these)
  python3 python3-torch python3-sklearn
)
test_packages=(
  clang-format sqlite3 hyperfine procps
  # the PostgreSQL ledger's tests run against a real local server (scripts/start-postgres.sh)
  postgresql
  prometheus # brings promtool: the agent's /metrics test runs `promtool check metrics`
  # a real Slurm cluster on localhost for the Slurm integration tests (scripts/start-slurm.sh)
  slurm-wlm slurmctld slurmd slurm-client munge libslurm-dev
)

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

packages=("${demo_packages[@]}")
case "${1:-}" in
  "") ;;
  --test) packages+=("${test_packages[@]}") ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    echo "install-deps.sh: unknown argument '$1'" >&2
    usage >&2
    exit 2
    ;;
esac
if (($# > 1)); then
  echo "install-deps.sh: expected at most one argument" >&2
  exit 2
fi

# Return 0 if the package is fully installed (dpkg's status "install ok installed").
is_installed() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
  [[ "${status}" == "install ok installed" ]]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps.sh: dpkg-query not found: this script supports Debian 12 (and derivatives) only" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! is_installed "${p}"; then missing+=("${p}"); fi
done

if ((${#missing[@]} == 0)); then
  echo "==> install-deps: all ${#packages[@]} packages already installed; nothing to do"
  exit 0
fi

sudo=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-deps.sh: missing packages (${missing[*]}) and not root; rerun as root" >&2
    exit 1
  fi
fi

apt_options=(-o DPkg::Lock::Timeout=600)
echo "==> install-deps: missing: ${missing[*]}"
echo "==> apt-get update"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" update
echo "==> apt-get install -y --no-install-recommends ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get "${apt_options[@]}" install -y --no-install-recommends "${missing[@]}"

# apt-get can exit 0 without installing a name it resolved to something else; check again.
still_missing=()
for p in "${missing[@]}"; do
  if ! is_installed "${p}"; then still_missing+=("${p}"); fi
done
if ((${#still_missing[@]} > 0)); then
  echo "install-deps.sh: still not installed after apt-get: ${still_missing[*]}" >&2
  exit 1
fi
echo "==> install-deps: installed ${#missing[@]} package(s)"
