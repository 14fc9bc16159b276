#!/usr/bin/env bash
# The PostgreSQL ledger through the real binary, on a fresh database of the local server
# (scripts/start-postgres.sh): `ledger init`, `run --ledger postgresql://...`, `jobs`, `report`,
# `budget set/show/check` with their exit codes, the audit row, `ledger status`, an unreachable
# server (exit 3 for a check, no password in any message). Without a server this test is skipped,
# except under CI=true, where it fails.
source "$(dirname "$0")/lib.sh"
year=$(date -u +%Y)

if ! psql -XAtq -d postgres -c 'select 1' >/dev/null 2>"$T/psql.err"; then
  if [[ "${CI:-}" == true ]]; then
    fail "PostgreSQL is not reachable (CI=true): $(cat "$T/psql.err")"
  fi
  echo "SKIP: PostgreSQL is not reachable (run scripts/start-postgres.sh): $(cat "$T/psql.err")"
  exit 0
fi
DB="jc_e2e_$$"
export PGOPTIONS="-c client_min_messages=warning"  # no NOTICEs from IF EXISTS
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
trap 'psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1; rm -rf "$T"' EXIT
L="postgresql:///$DB"

# sql QUERY: the first row of QUERY on the test database, columns joined by '|'.
sql() {
  psql -XAtq -d "$DB" -F '|' -c "$1"
}

"$JOBCARBON" ledger init --ledger "$L" >"$T/init.txt"
expect_contains "init: postgresql backend" "$T/init.txt" "backend:           postgresql"
expect_contains "init: schema version 7" "$T/init.txt" "schema version:    7"
expect_contains "init: private data off by default" "$T/init.txt" "private data:      off"
expect_eq "init: the three group roles exist" \
  "$(sql "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'jobcarbon\_%' AND NOT rolcanlogin")" 3
"$JOBCARBON" ledger init --ledger "$L" --private-data off >/dev/null
expect_eq "init twice: migrations applied once" "$(sql 'SELECT count(*) FROM jobcarbon.schema_migrations')" 7
# Step records (0007): writers append, everyone reads, nobody changes them; private data by RLS.
expect_eq "job_steps: writer may insert, reader may not, nobody may update" \
  "$(sql "SELECT has_table_privilege('jobcarbon_writer', 'jobcarbon.job_steps', 'INSERT'),
                 has_table_privilege('jobcarbon_reader', 'jobcarbon.job_steps', 'SELECT'),
                 has_table_privilege('jobcarbon_reader', 'jobcarbon.job_steps', 'INSERT'),
                 has_table_privilege('jobcarbon_writer', 'jobcarbon.job_steps', 'UPDATE')")" "t|t|f|f"
expect_eq "job_steps: row-level security on" \
  "$(sql "SELECT relrowsecurity FROM pg_class WHERE oid = 'jobcarbon.job_steps'::regclass")" t

# record ACCOUNT: one run charged to ACCOUNT whose RAPL counter advances by exactly 36e9 µJ
# (0.01 kWh) at 2.5 kg/kWh: 25 g, plus a little estimated memory.
record() {
  local root
  root=$(fixture intel-1socket-near-wrap)
  "$JOBCARBON" run --exclusive --intensity 2.5 --account "$1" --ledger "$L" \
    --powercap-root "$root/class/powercap" --hwmon-root "$T/none" --nvml-lib "$T/no-nvml.so" \
    -- sh -c "echo 33000000000 > '$root/class/powercap/intel-rapl:0/energy_uj'" >/dev/null 2>"$T/run.err" ||
    { cat "$T/run.err" >&2; fail "run --ledger $L"; }
  rm -rf "$root"
}
record "ml lab"
record "ml lab"
record "it's"
expect_eq "run wrote three records" "$(sql 'SELECT count(*) FROM jobcarbon.jobs')" 3
expect_eq "usage totals kept with each write" \
  "$(sql "SELECT jobs FROM jobcarbon.usage_totals WHERE account = 'ml lab' AND user_name = ''")" 2

"$JOBCARBON" jobs --ledger "$L" --format json >"$T/jobs.json"
first=$(json "$T/jobs.json" "j[0]['job_id']")
"$JOBCARBON" show "$first" --ledger "$L" --json >"$T/show-job.json"
expect_eq "show: one record, no steps (a run has none)" \
  "$(json "$T/show-job.json" "(len(j['records']), j['steps'])")" "(1, [])"
expect_eq "jobs: three runs" "$(json "$T/jobs.json" "len(j)")" 3
expect_eq "jobs: the quoted account round-trips" "$(json "$T/jobs.json" "sorted(r['account'] for r in j)[0]")" "it's"
JOBCARBON_LEDGER="$L" "$JOBCARBON" jobs --format json >"$T/jobs-env.json"
expect_eq "JOBCARBON_LEDGER selects the PostgreSQL ledger" "$(json "$T/jobs-env.json" "len(j)")" 3

"$JOBCARBON" report --ledger "$L" --format json >"$T/report.json"
expect_eq "report: one row per account, bytewise order" "$(json "$T/report.json" "[r['account'] for r in j]")" "[\"it's\", 'ml lab']"
expect_eq "report: kg CO2 is the sum of the runs'" "$(json "$T/report.json" "round(sum(r['co2_kg'] for r in j), 9)")" \
  "$(json "$T/jobs.json" "round(sum(r['co2_kg'] for r in j), 9)")"
"$JOBCARBON" report --ledger "$L" --by week --format csv >"$T/week.csv"
expect_eq "report by week: this ISO week, three records' jobs" "$(sed -n 2p "$T/week.csv" | cut -d, -f1,2)" "$(date -u +%G-W%V),3"

# check EXPECTED_STATUS WHAT ARGS...
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
expect_contains "set says what it stored and where" "$T/set.out" "1 kg, policy deny, warn at 80% (postgresql://"
used=$(json "$T/jobs.json" "round(sum(r['co2_kg'] for r in j if r['account'] == 'ml lab'), 9)")
"$JOBCARBON" budget show --ledger "$L" --format json >"$T/show.json"
expect_eq "show: used is the sum of the account's runs" "$(json "$T/show.json" "round(j[0]['used_kg'], 9)")" "$used"
expect_eq "show: two jobs" "$(json "$T/show.json" "j[0]['jobs']")" 2
check 0 "allow" --ledger "$L" --account "ml lab" --estimate-kg 0.1
check 1 "warn" --ledger "$L" --account "ml lab" --estimate-kg 0.8
check 2 "deny" --ledger "$L" --account "ml lab" --estimate-kg 1 --json
expect_eq "json decision" "$(json "$T/check.out" "j['decision']")" deny
expect_eq "json used_kg" "$(json "$T/check.out" "round(j['used_kg'], 9)")" "$used"
expect_eq "audit: one row, by the database role, with the OS user" \
  "$(sql "SELECT count(*), min(who), min(client_user) FROM jobcarbon.budget_audit")" "1|$(id -un)|$(id -un)"

"$JOBCARBON" ledger status --ledger "$L" --json >"$T/status.json"
expect_eq "status: records" "$(json "$T/status.json" "j['records']")" 3
expect_eq "status: budgets" "$(json "$T/status.json" "j['budgets']")" 1
expect_eq "status: oldest compatible" "$(json "$T/status.json" "j['oldest_compatible']")" 2

# No server: a clear error naming the ledger, never its password; a check cannot decide (3).
check 3 "an unreachable server" --ledger "postgresql://ada:s3cret@127.0.0.1:1/$DB" --account "ml lab" --estimate-kg 1
expect_contains "unreachable: names the ledger" "$T/check.err" "postgresql://ada@127.0.0.1:1/$DB: cannot connect"
grep -q s3cret "$T/check.err" "$T/check.out" && fail "the password was printed"
ok "the password is not printed"
set +e
"$JOBCARBON" run --ledger "postgresql://ada:s3cret@127.0.0.1:1/$DB" --exclusive --intensity 1 \
  --powercap-root "$T/none" --hwmon-root "$T/none" --nvml-lib "$T/no-nvml.so" -- true >/dev/null 2>"$T/run.err"
s=$?
set -e
[[ $s -ne 0 ]] || fail "run with an unreachable ledger succeeded"
expect_contains "run: unreachable ledger named" "$T/run.err" "postgresql://ada@127.0.0.1:1/$DB"
grep -q s3cret "$T/run.err" && fail "run printed the password"
ok "run does not print the password"
finish
