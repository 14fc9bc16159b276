#!/usr/bin/env bash
# Benchmark: `jobcarbon budget check` as a whole process against a ledger of a million job
# records, as Slurm's submit hook runs it (issue #5): wall time of each process, p50/p99/max over
# --runs runs with random accounts of the benchmark site and random estimates. Comparison points
# in the same run, interleaved with the checks: `jobcarbon --version` (the same binary's start
# and exit, no ledger) and `/bin/true` (a bare fork/exec from bash). The in-process figure is
# ledger_bench's "check_budget, in-process" row.
#
# The ledger is filled by ledger_bench when it is empty or missing (minutes for a million
# records); a ledger that already holds --records records is reused as it is.
#
# Usage: bench/ledger_check.sh --jobcarbon PATH --bench PATH/ledger_bench
#          [--ledger URL] [--records N] [--runs N] [--smoke]
#   defaults: --ledger /tmp/jobcarbon-ledger-1m.db --records 1000000 --runs 200
#   --smoke: 3,000 records in a temporary directory, 10 runs
# Timing: bash's $EPOCHREALTIME around each process (no extra process per reading).
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME's decimal point

jobcarbon="" bench="" ledger="/tmp/jobcarbon-ledger-1m.db" records=1000000 runs=200 smoke=0
while (($#)); do
  case $1 in
    --jobcarbon) jobcarbon=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --ledger) ledger=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    *) echo "ledger_check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -x $jobcarbon && -x $bench ]] || {
  echo "usage: ledger_check.sh --jobcarbon PATH --bench PATH/ledger_bench [--ledger URL]" \
    "[--records N] [--runs N] [--smoke]" >&2
  exit 2
}
if ((smoke)); then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/jobcarbon-ledger-check.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  ledger=$tmp/ledger.db records=3000 runs=10
fi

"$bench" --ledger "$ledger" --records "$records" --reuse --fill-only >/dev/null
mapfile -t accounts < <("$bench" --print-accounts)
((${#accounts[@]} > 0)) || { echo "ledger_check.sh: no accounts from $bench" >&2; exit 1; }

# Run "$@" with its output discarded; set $elapsed to its wall time in µs and $rc to its status.
# (Not in a command substitution: that would fork a subshell around every timed process.)
elapsed=0 rc=0
time_us() {
  local t0 t1
  t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1 && rc=0 || rc=$?
  t1=$EPOCHREALTIME
  elapsed=$((${t1/./} - ${t0/./}))
}

RANDOM=42  # the same accounts and estimates in every run of the script
check=() version=() bare=() decisions=(0 0 0)
echo "ledger: $ledger ($records records), $runs runs, load average $(cut -d' ' -f1-2 /proc/loadavg)"
for ((i = 0; i < runs; i++)); do
  account=${accounts[RANDOM % ${#accounts[@]}]}
  estimate=$((RANDOM % 50)).$((RANDOM % 10))  # 0–49.9 kg
  time_us "$jobcarbon" budget check --account "$account" --estimate-kg "$estimate" --year 2026 \
    --ledger "$ledger"
  check+=("$elapsed")
  if ((rc > 2)); then
    echo "ledger_check.sh: budget check --account $account exited $rc (cannot decide):" >&2
    "$jobcarbon" budget check --account "$account" --estimate-kg "$estimate" --year 2026 \
      --ledger "$ledger" >&2 || true
    exit 1
  fi
  decisions[rc]=$((decisions[rc] + 1))
  time_us "$jobcarbon" --version
  version+=("$elapsed")
  time_us /bin/true
  bare+=("$elapsed")
done

# Print "NAME  N runs  p50 X ms  p99 Y ms  max Z ms" (nearest-rank percentiles) of µs values.
summary() {
  local name=$1
  shift
  printf '%s\n' "$@" | sort -n | awk -v name="$name" '
    { v[NR] = $1 }
    END {
      p50 = v[int((NR * 50 + 99) / 100)]; p99 = v[int((NR * 99 + 99) / 100)]
      printf "%-34s %5d runs   p50 %8.3f ms   p99 %8.3f ms   max %8.3f ms\n",
        name, NR, p50 / 1000, p99 / 1000, v[NR] / 1000
    }'
}
summary "budget check, whole process" "${check[@]}"
summary "jobcarbon --version (comparison)" "${version[@]}"
summary "/bin/true (comparison)" "${bare[@]}"
echo "decisions: ${decisions[0]} allow, ${decisions[1]} warn, ${decisions[2]} deny;" \
  "load average at end $(cut -d' ' -f1-2 /proc/loadavg)"
