#!/usr/bin/env bash
# jobcarbon run: work done stated by the command (JOBCARBON_WORK_FILE) or --work, throughput per
# kWh in the report and the ledger, a bad statement noted without losing the run, a bad --work
# refused before the command runs, the site's store-command choice, and the CPUs recorded.
source "$(dirname "$0")/lib.sh"
L="$T/ledger.db"
root=$(fixture intel-1socket-near-wrap)
run() {
  "$JOBCARBON" run --exclusive --intensity 0.5 --ledger "$L" --powercap-root "$root/class/powercap" \
    --hwmon-root "$T/none" --nvml-lib "$T/no-nvml.so" "$@"
}
last() {
  "$JOBCARBON" jobs --ledger "$L" --last 1 --format json >"$T/last.json"
}

# The command states its work; it wins over --work. The counter advances 36e9 µJ = 0.01 kWh.
run --work "5 things" --json "$T/r1.json" -- sh -c "echo '1200 images' > \"\$JOBCARBON_WORK_FILE\"; echo \"\$JOBCARBON_WORK_FILE\" > '$T/work-path'; echo 33000000000 > '$root/class/powercap/intel-rapl:0/energy_uj'" 2>"$T/r1.txt"
expect_eq "report: work count" "$(json "$T/r1.json" "j['work']['count']")" 1200.0
expect_eq "report: work unit" "$(json "$T/r1.json" "j['work']['unit']")" images
expect_eq "report: images per kWh charged" "$(json "$T/r1.json" "round(j['work']['per_kwh'] * j['energy_kwh'], 6)")" 1200.0
expect_contains "text report: work done line" "$T/r1.txt" "work done     1200 images"
last
expect_eq "ledger: work" "$(json "$T/last.json" "(j[0]['work']['count'], j[0]['work']['unit'])")" "(1200.0, 'images')"
expect_eq "ledger: exclusive run has the machine's CPUs" "$(json "$T/last.json" "j[0]['cpus'] >= 1")" True
work_dir=$(dirname "$(cat "$T/work-path")")
expect_eq "the work file was in a private directory" "$(basename "$work_dir" | cut -c1-10)" jobcarbon-
expect_eq "that directory is removed after the run" "$([[ -e $work_dir ]] && echo left || echo removed)" removed

# --work alone.
run --work "2.5e3 tokens" --json "$T/r2.json" -- true 2>/dev/null
expect_eq "--work alone" "$(json "$T/r2.json" "(j['work']['count'], j['work']['unit'])")" "(2500.0, 'tokens')"

# A bad statement from the command: noted, the run still recorded, no work stored.
before=$("$JOBCARBON" jobs --ledger "$L" --format json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
run --json "$T/r3.json" -- sh -c 'echo "lots of images" > "$JOBCARBON_WORK_FILE"' 2>/dev/null
expect_eq "bad statement: no work" "$(json "$T/r3.json" "j['work']")" None
expect_eq "bad statement: noted" "$(json "$T/r3.json" "any('JOBCARBON_WORK_FILE' in n and 'lots of images' in n for n in j['notes'])")" True
after=$("$JOBCARBON" jobs --ledger "$L" --format json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "bad statement: the run is recorded" "$after" $((before + 1))

# A bad --work is refused before the command runs.
set +e
run --work "-3 images" -- sh -c "touch '$T/ran'" 2>"$T/err.txt"
s=$?
set -e
expect_eq "bad --work: exit status" "$s" 2
expect_contains "bad --work: names the flag and the input" "$T/err.txt" "--work: work '-3 images'"
expect_eq "bad --work: command not run" "$([[ -e $T/ran ]] && echo ran || echo not-run)" not-run

# store-command: the ledger keeps only the program's name (or nothing); the user's JSON keeps it all.
mkdir -p "$T/home/.config/jobcarbon"
echo 'store-command = "name"' >"$T/home/.config/jobcarbon/config.toml"
run --json "$T/r4.json" -- /bin/echo secret-token >/dev/null 2>&1
last
expect_eq "store-command name: ledger" "$(json "$T/last.json" "j[0]['command']")" "['echo']"
expect_eq "store-command name: user's report keeps it" "$(json "$T/r4.json" "j['command']")" "['/bin/echo', 'secret-token']"
"$JOBCARBON" show "$(json "$T/last.json" "j[0]['job_id']")" --ledger "$L" --json >"$T/show.json"
expect_eq "store-command name: the stored report too" "$(grep -c secret-token "$T/show.json" || true)" 0
echo 'store-command = "none"' >"$T/home/.config/jobcarbon/config.toml"
run -- /bin/echo secret-token >/dev/null 2>&1
last
expect_eq "store-command none: ledger" "$(json "$T/last.json" "j[0]['command']")" "[]"
finish
