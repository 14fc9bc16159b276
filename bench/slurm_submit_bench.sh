#!/usr/bin/env bash
# What jobcarbon's job_submit.lua adds to a submission (issue #5, target: sbatch p99 + < 10 ms):
# N sequential `sbatch --wrap true` on a real one-host Slurm cluster (scripts/start-slurm.sh),
# timed as whole processes, without the hook (no JobSubmitPlugins) and with it (an account with a
# budget, so the check runs to its decision on the ledger).
# Usage: bench/slurm_submit_bench.sh [--runs N] [--smoke] --jobcarbon PATH
# Needs root and the test packages (scripts/install-deps.sh --test).
set -euo pipefail
RUNS=100 JOBCARBON=''
while (($#)); do
  case $1 in
    --runs) RUNS=$2; shift ;;
    --smoke) RUNS=5 ;;
    --jobcarbon) JOBCARBON=$2; shift ;;
    *) echo "slurm_submit_bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
[[ -x $JOBCARBON ]] || { echo "slurm_submit_bench.sh: --jobcarbon PATH" >&2; exit 2; }
if ! command -v slurmctld >/dev/null || [[ $(id -u) != 0 ]]; then
  # Outside CI a developer machine may lack Slurm or root; under CI=true the scripts provide both.
  if [[ ${CI:-} == true ]]; then echo "slurm_submit_bench.sh: needs Slurm and root (CI=true)" >&2; exit 1; fi
  echo "SKIP: Slurm is not installed or not root (scripts/install-deps.sh --test)"
  echo "with-hook skipped"
  exit 0
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/jobcarbon-slurm-bench.XXXXXX")
chmod 755 "$T"
trap 'bash "$SRC/scripts/start-slurm.sh" "$T/slurm" --stop; rm -rf "$T"' EXIT
printf 'ledger = "%s"\nintensity = 0.5\n' "$T/ledger.db" >"$T/jobcarbon.toml"
printf 'jobcarbon = %s\nconfig = %s\ntimeout = 2\non_error = open\n' "$JOBCARBON" \
  "$T/jobcarbon.toml" >"$T/submit.conf"
"$JOBCARBON" budget set --ledger "$T/ledger.db" --account bench --year "$(date +%Y)" \
  --limit 1t >/dev/null
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
export SLURM_CONF=$T/slurm/slurm.conf

# time_submissions LABEL: RUNS sbatch calls, one at a time; prints LABEL runs p50 p99 max (ms).
time_submissions() {
  local label=$1 i a b
  : >"$T/$label.us"
  for ((i = 0; i < RUNS; i++)); do
    a=$(date +%s%N)
    sbatch -Q -A bench -t 1 -o /dev/null --wrap true >/dev/null
    b=$(date +%s%N)
    echo $(((b - a) / 1000)) >>"$T/$label.us"
  done
  scancel --quiet --user root 2>/dev/null || true
  python3 -c '
import statistics, sys
v = sorted(int(x) / 1000 for x in open(sys.argv[2]))
p99 = v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]
print(f"{sys.argv[1]:<14} {len(v):>5} {statistics.median(v):>9.2f} {p99:>9.2f} {v[-1]:>9.2f}")
' "$label" "$T/$label.us"
}

echo "sbatch wall time, $RUNS sequential submissions each (ms), $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-14s %5s %9s %9s %9s\n' hook runs p50 p99 max
bash "$SRC/scripts/start-slurm.sh" "$T/slurm" --nodes 1 --gpus 0 --port "$port" --no-submit-hook >/dev/null
time_submissions without-hook
bash "$SRC/scripts/start-slurm.sh" "$T/slurm" --nodes 1 --gpus 0 --port "$port" \
  --submit-settings "$T/submit.conf" >/dev/null
time_submissions with-hook
grep -q 'jobcarbon: job_submit.lua loaded' "$T/slurm/log/slurmctld.log" ||
  { echo "slurm_submit_bench.sh: the hook did not load" >&2; exit 1; }
