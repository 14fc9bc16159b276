#!/usr/bin/env bash
# Bad flags and bad configuration lines: a clear error naming the input, a non-zero exit, and the
# command is not run.
source "$(dirname "$0")/lib.sh"
common=(--ledger "$T/ledger.db" --powercap-root "$T/none" --hwmon-root "$T/none" --nvml-lib "$T/x.so")

# expect_error WHAT TEXT ARGS...: jobcarbon ARGS fails, its stderr contains TEXT, nothing ran.
expect_error() {
  local what=$1 text=$2
  shift 2
  rm -f "$T/ran"
  set +e
  "$JOBCARBON" "$@" 2>"$T/err.txt" >/dev/null
  local s=$?
  set -e
  [[ $s -ne 0 ]] || fail "$what: exit status 0"
  [[ ! -e "$T/ran" ]] || fail "$what: the command ran"
  expect_contains "$what" "$T/err.txt" "$text"
}
expect_error "unknown country lists close matches" "Germany" run "${common[@]}" --country Germny -- touch "$T/ran"
expect_error "not a number" "--pue" run "${common[@]}" --pue abc -- touch "$T/ran"
expect_error "PUE below 1" "pue" run "${common[@]}" --pue 0.5 -- touch "$T/ran"
expect_error "negative intensity" "intensity" run "${common[@]}" --intensity -1 -- touch "$T/ran"
expect_error "country and zone together" "choose one" run "${common[@]}" --country DE --zone FR -- touch "$T/ran"
expect_error "bad tag" "KEY=VALUE" run "${common[@]}" --tag novalue -- touch "$T/ran"
expect_error "no command" "command" run "${common[@]}"
expect_error "bad interval" "interval" run "${common[@]}" --interval 0 -- touch "$T/ran"

printf 'pue = 1.2\ncountry = "DE"\nintervall = 2\n' > "$T/bad.toml"
expect_error "unknown config key names file and line" "bad.toml:3" run "${common[@]}" --config "$T/bad.toml" -- touch "$T/ran"
expect_contains "and suggests the known key" "$T/err.txt" "interval"
printf 'pue = "high"\n' > "$T/type.toml"
expect_error "wrong type in config" "type.toml:1" run "${common[@]}" --config "$T/type.toml" -- touch "$T/ran"
expect_error "missing explicit config" "missing.toml" run "${common[@]}" --config "$T/missing.toml" -- touch "$T/ran"
echo "not a database, just text" > "$T/notdb.db"
expect_error "ledger that is not a database" "notdb.db" run --ledger "$T/notdb.db" --powercap-root "$T/none" -- touch "$T/ran"
expect_eq "the bad ledger is unchanged" "$(cat "$T/notdb.db")" "not a database, just text"

# A good config file is used, and flags override it.
printf 'country = "DE"\ndataset = "eea-2016-study"\npue = 1.5\n' > "$T/good.toml"
"$JOBCARBON" run "${common[@]}" --config "$T/good.toml" --json "$T/cfg.json" -q -- true
expect_eq "config zone and dataset used" "$(json "$T/cfg.json" "(j['intensity']['zone'], j['intensity_kg_per_kwh'], j['pue'])")" "('DE', 0.441, 1.5)"
"$JOBCARBON" run "${common[@]}" --config "$T/good.toml" --pue 1.1 --json "$T/cfg2.json" -q -- true
expect_eq "flag overrides config" "$(json "$T/cfg2.json" "j['pue']")" 1.1
# --account and --tag are stored with the record and filter `jobs`.
"$JOBCARBON" run "${common[@]}" --intensity 0.3 --account vision --tag exp=resnet --tag lr=0.1 -q -- true
"$JOBCARBON" jobs --ledger "$T/ledger.db" --account vision --format json > "$T/vision.json"
expect_eq "account and tags recorded" "$(json "$T/vision.json" "[(r['account'], r['tags']) for r in j]")" \
  "[('vision', {'exp': 'resnet', 'lr': '0.1'})]"
finish
