#!/usr/bin/env bash
# jobcarbon report and show on a ledger with runs recorded by `jobcarbon run`: report totals equal
# the sums of `jobs --format json`, bad dates name their flag, and show of an unknown job fails.
source "$(dirname "$0")/lib.sh"
L="$T/ledger.db"

# record ACCOUNT: one run charged to ACCOUNT whose RAPL counter advances by 36e9 µJ (0.01 kWh).
record() {
  local root
  root=$(fixture intel-1socket-near-wrap)
  "$JOBCARBON" run --exclusive --intensity 2.5 --account "$1" --ledger "$L" \
    --powercap-root "$root/class/powercap" --hwmon-root "$T/none" --nvml-lib "$T/no-nvml.so" \
    -- sh -c "echo 33000000000 > '$root/class/powercap/intel-rapl:0/energy_uj'" >/dev/null 2>&1
  rm -rf "$root"
}
record "ml lab"
record "ml lab"
record "other"

"$JOBCARBON" jobs --ledger "$L" --format json >"$T/jobs.json"
"$JOBCARBON" report --ledger "$L" --format json >"$T/report.json"
expect_eq "report: one row per account" "$(json "$T/report.json" "[r['account'] for r in j]")" "['ml lab', 'other']"
expect_eq "report: jobs add up" "$(json "$T/report.json" "sum(r['jobs'] for r in j)")" "$(json "$T/jobs.json" "len(j)")"
expect_eq "report: energy (µJ) is the sum of the runs'" "$(json "$T/report.json" "sum(r['energy_uj'] for r in j)")" "$(json "$T/jobs.json" "sum(r['energy_uj'] for r in j)")"
expect_eq "report: kg CO2 is the sum of the runs'" "$(json "$T/report.json" "round(sum(r['co2_kg'] for r in j), 9)")" "$(json "$T/jobs.json" "round(sum(r['co2_kg'] for r in j), 9)")"
expect_eq "report: ml lab's kg CO2" "$(json "$T/report.json" "round(j[0]['co2_kg'], 9)")" "$(json "$T/jobs.json" "round(sum(r['co2_kg'] for r in j if r['account'] == 'ml lab'), 9)")"
expect_eq "report: no budget, no percent" "$(json "$T/report.json" "j[0]['budget_percent']")" None

month=$(date -u +%Y-%m)
"$JOBCARBON" report --ledger "$L" --by month --format csv >"$T/month.csv"
expect_eq "report by month: one row for this month" "$(sed -n 2p "$T/month.csv" | cut -d, -f1,2)" "$month,3"
"$JOBCARBON" report --ledger "$L" --by node >"$T/node.txt"
expect_contains "report by node shows unallocated energy" "$T/node.txt" "UNALLOCATED kWh"
"$JOBCARBON" report --ledger "$L" --until 2000-01-01 --format json >"$T/none.json"
expect_eq "report before any run is empty" "$(cat "$T/none.json")" "[]"

set +e
"$JOBCARBON" report --ledger "$L" --since 2026-02-30 2>"$T/err.txt" >/dev/null
s=$?
set -e
[[ $s -ne 0 ]] || fail "a bad --since was accepted"
expect_contains "a bad date names its flag" "$T/err.txt" "--since: '2026-02-30' is not a date"

job=$(json "$T/jobs.json" "j[0]['job_id']")
"$JOBCARBON" show "$job" --ledger "$L" --json >"$T/show.json"
expect_eq "show: the job's total is its record's" "$(json "$T/show.json" "j['totals']['energy_uj']")" "$(json "$T/jobs.json" "j[0]['energy_uj']")"
expect_eq "show: the stored report is JSON" "$(json "$T/show.json" "type(j['records'][0]['report']).__name__")" dict
"$JOBCARBON" show "$job" --ledger "$L" >"$T/show.txt"
expect_contains "show table has the total line" "$T/show.txt" "TOTAL (1 records)"
set +e
"$JOBCARBON" show no-such-job --ledger "$L" >/dev/null 2>"$T/err.txt"
s=$?
set -e
expect_eq "show of an unknown job: exit status" "$s" 1
expect_contains "show of an unknown job names it" "$T/err.txt" "no job 'no-such-job'"
finish
