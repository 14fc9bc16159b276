#!/usr/bin/env bash
# jobcarbon budget set / show / check on a ledger with runs recorded by `jobcarbon run`: the
# decisions and their exit codes (0 allow, 1 warn, 2 deny, 3 cannot decide), the JSON fields, the
# audit trail, and bad limits refused with the ledger unchanged.
source "$(dirname "$0")/lib.sh"
L="$T/ledger.db"
year=$(date -u +%Y)

# sql DB QUERY: the first row of QUERY on DB, columns joined by '|' (Python's sqlite3: the sqlite3
# shell need not be installed).
sql() {
  "$PY" -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone(); print("|".join(str(v) for v in r))' "$1" "$2"
}

# sql_write DB STATEMENT: run and commit STATEMENT on DB.
sql_write() {
  "$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$1" "$2"
}

# record ACCOUNT: one run charged to ACCOUNT whose RAPL counter advances by exactly 36e9 µJ
# (0.01 kWh: 3e9 to the wrap, then 33e9) at 2.5 kg/kWh: 25 g, plus a little estimated memory.
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

# check EXPECTED_STATUS WHAT ARGS...: jobcarbon budget check [--ledger $L] ARGS exits with EXPECTED_STATUS.
check() {
  local want=$1 what=$2
  shift 2
  set +e
  "$JOBCARBON" budget check "$@" >"$T/check.out" 2>"$T/check.err"
  local s=$?
  set -e
  expect_eq "$what: exit status" "$s" "$want"
}

"$JOBCARBON" budget set --ledger "$L" --account "ml lab" --year "$year" --limit 1kg --policy deny >"$T/set.out"
expect_contains "set says what it stored" "$T/set.out" "1 kg, policy deny, warn at 80%"
used=$("$JOBCARBON" jobs --ledger "$L" --account "ml lab" --format json | "$PY" -c 'import json,sys; print(round(sum(j["co2_kg"] for j in json.load(sys.stdin)), 9))')
"$JOBCARBON" budget show --ledger "$L" --format json >"$T/show.json"
expect_eq "show: used is the sum of the account's runs" "$(json "$T/show.json" "round(j[0]['used_kg'], 9)")" "$used"
expect_eq "show: two jobs" "$(json "$T/show.json" "j[0]['jobs']")" 2
expect_eq "show: used is some tens of grams" "$(json "$T/show.json" "0.04 <= j[0]['used_kg'] < 0.06")" True
expect_eq "show: remaining" "$(json "$T/show.json" "abs(j[0]['remaining'] - (1 - $used)) < 1e-9")" True
expect_eq "show: projection at least what is used" "$(json "$T/show.json" "j[0]['projected'] >= j[0]['used']")" True
"$JOBCARBON" budget show --ledger "$L" >"$T/show.txt"
expect_contains "show table has a RUNNING column" "$T/show.txt" "RUNNING"
expect_contains "show table has the account" "$T/show.txt" "ml lab"

check 0 "allow" --ledger "$L" --account "ml lab" --estimate-kg 0.1
check 1 "warn" --ledger "$L" --account "ml lab" --estimate-kg 0.8
check 2 "deny" --ledger "$L" --account "ml lab" --estimate-kg 1 --json
expect_eq "json decision" "$(json "$T/check.out" "j['decision']")" deny
expect_eq "json used_kg" "$(json "$T/check.out" "round(j['used_kg'], 9)")" "$used"
expect_eq "json limit_kg" "$(json "$T/check.out" "j['limit_kg']")" 1.0
expect_eq "json estimate_kg" "$(json "$T/check.out" "j['estimate_kg']")" 1.0
expect_eq "json message names the account" "$(json "$T/check.out" "'ml lab' in j['message']")" True
check 0 "an account without a budget" --ledger "$L" --account "other" --estimate-kg 1000
check 3 "a missing ledger" --ledger "$T/missing.db" --account "ml lab" --estimate-kg 1
echo "not a database, just text" >"$T/notdb.db"
check 3 "a ledger that is not a database" --ledger "$T/notdb.db" --account "ml lab" --estimate-kg 1 --json
expect_eq "cannot decide in JSON" "$(json "$T/check.out" "j['decision']")" unknown
check 3 "a bad estimate" --ledger "$L" --account "ml lab" --estimate-kg abc

# Running jobs count: a node agent (issue #4) reports a running job of "ml lab" with 0.5 kg so far
# (written here with the sqlite3 shell, as an agent one version ahead would).
now_us=$(($(date +%s) * 1000000))
sql_write "$L" "INSERT INTO running_jobs (cluster, job_id, submit_us, step, node, user_name, account, start_us, updated_us, charged_uj, co2_kg, gpu_count, gpu_model) VALUES ('hpc', '77', $now_us - 7200000000, 'batch', 'n1', 'ada', 'ml lab', $now_us - 3600000000, $now_us, 1000000000000, 0.5, 1, 'H100')"
"$JOBCARBON" jobs --ledger "$L" --running >"$T/running.txt"
expect_contains "jobs --running lists the running job" "$T/running.txt" "ml lab"
expect_eq "jobs --running --format json" "$("$JOBCARBON" jobs --ledger "$L" --running --format json | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(len(j), j[0]["job_id"], j[0]["co2_kg"])')" "1 77 0.5"
"$JOBCARBON" budget show --ledger "$L" --format json >"$T/show.json"
expect_eq "show: running share" "$(json "$T/show.json" "j[0]['running_kg']")" 0.5
expect_eq "show: remaining counts running jobs" "$(json "$T/show.json" "abs(j[0]['remaining'] - (1 - $used - 0.5)) < 1e-9")" True
check 1 "running jobs bring the account to warn" --ledger "$L" --account "ml lab" --estimate-kg 0.3
check 2 "and to deny" --ledger "$L" --account "ml lab" --estimate-kg 0.5
sql_write "$L" "DELETE FROM running_jobs"

# Estimates from resources: 1 GPU (table default 300 W) + 4 CPUs (12 W each) for 3 h at 0.5 kg/kWh
# and PUE 1.5 = 1.044 kWh, 0.783 kg: with ~0.05 kg used of 1 kg that passes 80 % (warn).
check 1 "resources: warn" --ledger "$L" --account "ml lab" --gpus 1 --cpus 4 --time-limit 3:00:00 --intensity 0.5 --pue 1.5 --json
expect_eq "resources: estimate_kg" "$(json "$T/check.out" "round(j['estimate_kg'], 6)")" 0.783
expect_eq "resources: kWh" "$(json "$T/check.out" "round(j['estimate']['kwh'], 6)")" 1.044
expect_eq "resources: GPU power from the table" "$(json "$T/check.out" "j['estimate']['gpu_watts']")" 300.0
check 2 "resources on 2 nodes: deny" --ledger "$L" --account "ml lab" --gpus 1 --cpus 4 --nodes 2 --time-limit 3:00:00 --intensity 0.5 --pue 1.5
expect_contains "resources: the estimate is explained" "$T/check.out" "estimate: 1 GPU × 300 W + 4 CPUs × 12.0 W for 3h00m on 2 nodes"
check 3 "both an estimate and resources" --ledger "$L" --account "ml lab" --gpus 1 --time-limit 1h --estimate-kg 1
check 3 "a bad time limit" --ledger "$L" --account "ml lab" --gpus 1 --time-limit UNLIMITED
expect_contains "a bad time limit is named" "$T/check.err" "--time-limit 'UNLIMITED'"

# A parent's limit covers its children: "ml lab" (40-60 g used) under "dept" (limit 60 g, deny).
"$JOBCARBON" budget set --ledger "$L" --account dept --year "$year" --limit 60g --policy deny >/dev/null
"$JOBCARBON" budget set --ledger "$L" --account "ml lab" --year "$year" --limit 1kg --policy deny --parent dept >/dev/null
check 2 "the parent's limit denies" --ledger "$L" --account "ml lab" --estimate-kg 0.03 --json
expect_eq "the parent decided" "$(json "$T/check.out" "j['account']")" dept

# Every change is audited, with the old and new values.
expect_eq "audit rows" "$(sql "$L" 'SELECT count(*) FROM budget_audit')" 3
expect_eq "audit old/new of the re-set" "$(sql "$L" "SELECT json_extract(old, '\$.parent') IS NULL, json_extract(new, '\$.parent') FROM budget_audit WHERE id = 3")" "1|dept"

# Bad limits: a clear error naming the input, non-zero exit, the ledger unchanged.
before=$(sql "$L" 'SELECT count(*) FROM budget_audit')
for bad in "-5kg" "1e400kg" "abc" "12 parsecs"; do
  set +e
  "$JOBCARBON" budget set --ledger "$L" --account "ml lab" --year "$year" --limit "$bad" 2>"$T/err.txt" >/dev/null
  s=$?
  set -e
  [[ $s -ne 0 ]] || fail "limit '$bad' accepted"
  expect_contains "limit '$bad' is named in the error" "$T/err.txt" "'$bad'"
done
expect_eq "ledger unchanged by bad limits" "$(sql "$L" 'SELECT count(*) FROM budget_audit')" "$before"
set +e
"$JOBCARBON" budget set --ledger "$T/notdb.db" --account x --year "$year" --limit 1kg 2>"$T/err.txt"
s=$?
set -e
[[ $s -ne 0 ]] || fail "budget set on a non-database succeeded"
expect_contains "budget set names the bad ledger" "$T/err.txt" "notdb.db"
expect_eq "the bad ledger is unchanged" "$(cat "$T/notdb.db")" "not a database, just text"
# An energy budget: 0.02 kWh for "kwh lab", which used a little over 0.01 kWh (one run).
record "kwh lab"
"$JOBCARBON" budget set --ledger "$L" --account "kwh lab" --year "$year" --limit-kwh 0.02kWh --policy deny >/dev/null
check 0 "energy: allow" --ledger "$L" --account "kwh lab" --estimate-kwh 0.004
check 1 "energy: warn past 80 %" --ledger "$L" --account "kwh lab" --estimate-kwh 0.008 --json
expect_eq "energy: measure" "$(json "$T/check.out" "j['measure']")" energy
expect_eq "energy: limit_kwh" "$(json "$T/check.out" "j['limit_kwh']")" 0.02
check 2 "energy: deny over the limit" --ledger "$L" --account "kwh lab" --estimate-kwh 0.02
expect_contains "energy: the message speaks of kWh" "$T/check.out" "energy budget"
check 2 "energy: resources estimate kWh too" --ledger "$L" --account "kwh lab" --cpus 1 --time-limit 2h --intensity 0.1

# Fiscal years: the ledger's budget year start, shown and set (the totals are rebuilt).
"$JOBCARBON" budget year-start --ledger "$L" >"$T/ys.txt"
expect_contains "year start: calendar years by default" "$T/ys.txt" "01-01 (calendar years, UTC)"
"$JOBCARBON" budget year-start 04-01 --ledger "$L" >"$T/ys.txt"
expect_contains "year start: set" "$T/ys.txt" "budget years start on 04-01 at 00:00 UTC"
expect_eq "year start: stored" "$(sql "$L" "SELECT value FROM settings WHERE key = 'budget_year_start'")" 04-01
set +e
"$JOBCARBON" budget year-start 02-29 --ledger "$L" 2>"$T/err.txt"
s=$?
set -e
[[ $s -ne 0 ]] || fail "year start 02-29 accepted"
expect_contains "year start: February 29 refused" "$T/err.txt" "'02-29'"
expect_eq "year start: unchanged by the refusal" "$(sql "$L" "SELECT value FROM settings WHERE key = 'budget_year_start'")" 04-01
finish
