#!/usr/bin/env bash
# jobcarbond with a ledger it cannot open: finished jobs stay in STATE/spool/ (nothing lost); after
# a kill -9 and a restart with a working ledger the spool drains at once, exactly once (a record
# replayed again is a duplicate, not a second row); a damaged spool file is moved to
# spool/corrupt/ and named in the log while the good records still reach the ledger.
source "$(dirname "$0")/lib.sh"
: "${JOBCARBOND:?JOBCARBOND must name the jobcarbond binary}"

AGENT=""
cleanup() {
  if [[ -n "$AGENT" ]]; then
    kill -9 "$AGENT" 2>/dev/null || true
    wait "$AGENT" 2>/dev/null || true
  fi
  rm -rf "$T"
}
trap cleanup EXIT

cat >"$T/client.py" <<'PY'
import json, socket, sys, time
def ask(path, line):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall((line + "\n").encode())
    reply = s.makefile().readline()
    s.close()
    return reply.strip()
cmd, path = sys.argv[1], sys.argv[2]
if cmd == "send":
    print(ask(path, sys.argv[3]))
elif cmd == "wait":  # until the agent on PATH answers a status (a stale socket file refuses)
    deadline = time.time() + float(sys.argv[3])
    while True:
        try:
            if json.loads(ask(path, '{"v":1,"type":"status"}')).get("type") == "status_reply":
                break
        except (OSError, ValueError):
            pass
        if time.time() > deadline:
            sys.exit("the agent did not answer on " + path)
        time.sleep(0.02)
PY
client() { "$PY" "$T/client.py" "$@"; }

# --- a fixture node: one RAPL package (no DRAM zone; memory in use 0, so the memory estimate is
# exactly 0 µJ), one fake NVML GPU, a cgroup v2 tree with the two jobs' cgroups.
N="$T/node"
mkdir -p "$N/sysfs" "$N/proc" "$N/nvml" "$N/cgroup/jobs/job_31" "$N/cgroup/jobs/job_32"
cp -a "$FIXTURES/intel-1socket-near-wrap/." "$N/sysfs/"
cp -a "$SRC/tests/fixtures/proc/x86/." "$N/proc/"
mkdir -p "$N/proc/sys/kernel/random"
echo "11111111-2222-3333-4444-555555555555" >"$N/proc/sys/kernel/random/boot_id"
sed -i 's/^MemAvailable:.*/MemAvailable:   394846972 kB/' "$N/proc/meminfo"
: >"$N/cgroup/cgroup.controllers"
echo "usage_usec 10" >"$N/cgroup/jobs/job_31/cpu.stat"
echo "usage_usec 20" >"$N/cgroup/jobs/job_32/cpu.stat"
PKG="$N/sysfs/class/powercap/intel-rapl:0/energy_uj"
RANGE=$(cat "$N/sysfs/class/powercap/intel-rapl:0/max_energy_range_uj") # job 32 wraps it
echo "1000 300000" >"$N/nvml/gpu0.state"
cat >"$N/nvml/scenario" <<SCEN
gpu
uuid GPU-aaaaaaaa-0000-0000-0000-000000000000
name NVIDIA H100 80GB HBM3
state_file gpu0.state
SCEN
# The ledger "path" lies below a regular file: SQLite cannot create it, whatever our uid.
echo "not a directory" >"$T/file"
BAD_LEDGER="$T/file/ledger.db"
LEDGER="$N/ledger.db"
cat >"$N/config.toml" <<CONF
intensity = 0.3
pue = 1.0
agent-socket = "$N/agent.sock"
state-dir = "$N/state"
metrics-address = "none"
counter-interval = 0.2
journal-interval = 0
powercap-root = "$N/sysfs/class/powercap"
hwmon-root = "$N/no-hwmon"
nvml-lib = "$FAKE_NVML"
cgroup-root = "$N/cgroup"
proc-root = "$N/proc"
node-name = "n1"
cluster = "c1"
ledger = "$BAD_LEDGER"
CONF
SPOOL="$N/state/spool"

# start_agent [ARGS]: start the agent (its log appended to agent.log) and wait until it answers.
start_agent() {
  FAKE_NVML_SCENARIO="$N/nvml/scenario" "$JOBCARBOND" --config "$N/config.toml" "$@" \
    2>>"$N/agent.log" &
  AGENT=$!
  client wait "$N/agent.sock" 10 || { cat "$N/agent.log" >&2; fail "the agent did not start"; }
}
kill_agent() {
  kill -9 "$AGENT"
  wait "$AGENT" 2>/dev/null || true
  AGENT=""
}
put() {
  printf '%s\n' "$2" >"$1.tmp"
  mv "$1.tmp" "$1"
}

SUBMIT=1790000000000000
OK='{"v":1,"type":"ok"}'
# reply_type LINE: the type of a reply (job_end is answered with the job's report, job_report).
reply_type() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["type"])' "$1"; }
# run_job ID PKG_UJ GPU_MJ EXIT: start job ID (exclusive), advance the package by PKG_UJ µJ and the
# GPU by GPU_MJ mJ, end it with EXIT.
run_job() {
  local now_us
  expect_eq "job $1 starts" "$(client send "$N/agent.sock" "{\"v\":1,\"type\":\"job_start\",\"cluster\":\"c1\",\"job_id\":\"$1\",\"submit_time_us\":$SUBMIT,\"step\":\"batch\",\"user\":\"root\",\"uid\":0,\"account\":\"vision\",\"gpus\":[\"GPU-aaaaaaaa-0000-0000-0000-000000000000\"],\"cgroup\":\"/jobs/job_$1\",\"exclusive\":true}")" "$OK"
  put "$PKG" $((($(cat "$PKG") + $2) % RANGE))
  put "$N/nvml/gpu0.state" "$(($(cut -d' ' -f1 "$N/nvml/gpu0.state") + $3)) 300000"
  sleep 0.3
  now_us=$("$PY" -c 'import time; print(int(time.time() * 1e6))')
  expect_eq "job $1 ends" "$(reply_type "$(client send "$N/agent.sock" "{\"v\":1,\"type\":\"job_end\",\"cluster\":\"c1\",\"job_id\":\"$1\",\"submit_time_us\":$SUBMIT,\"step\":\"batch\",\"exit_code\":$4,\"end_time_us\":$now_us}")")" job_report
}

# spooled EXPR: EXPR on the spooled job records (as r, sorted by job id).
spooled() {
  "$PY" - "$SPOOL" "$1" <<'PY'
import glob, json, os, sys
r = sorted((json.load(open(f))["record"] for f in glob.glob(os.path.join(sys.argv[1], "job-*.json"))),
           key=lambda x: x["job_id"])
print(eval(sys.argv[2]))
PY
}
# ledger EXPR: EXPR on the ledger's job records (as r, sorted by job id).
ledger() {
  "$JOBCARBON" jobs --ledger "$LEDGER" --format json >"$T/jobs.json"
  json "$T/jobs.json" "(lambda r: $1)(sorted(j, key=lambda x: x['job_id']))"
}

# ============ the ledger cannot be opened: records are spooled ============
start_agent
run_job 31 1234567 2345 0
run_job 32 7654321 111 9
expect_contains "the log says why the ledger is unreachable" "$N/agent.log" "records stay spooled"
expect_eq "both records wait in the spool, with their exact energies" \
  "$(spooled "[(x['job_id'], x['exit_code'], x['energy']['cpu'], x['energy']['gpu'], x['energy_charged']) for x in r]")" \
  "[('31', 0, 1234567, 2345000, 3579567), ('32', 9, 7654321, 111000, 7765321)]"
expect_eq "no ledger was created" "$([[ -e "$LEDGER" ]] && echo yes || echo no)" no
kill_agent
expect_eq "a kill -9 loses no spooled record" "$(spooled "len(r)")" 2

# A damaged file among them (a disk error, a half-written copy): set aside, named in the log.
mkdir -p "$T/saved"
cp "$SPOOL"/job-*.json "$T/saved/"
printf '{"version":1,"kind":"job","record":{"cluster":' >"$SPOOL/job-00000000deadbeef.json"

# ============ restarted with a working ledger: the spool drains at once ============
start_agent --ledger "$LEDGER"
for _ in $(seq 350); do
  [[ -z "$(ls "$SPOOL"/job-*.json 2>/dev/null)" ]] && break
  sleep 0.1
done
expect_eq "the spool drained" "$(find "$SPOOL" -maxdepth 1 -name 'job-*.json' | wc -l)" 0
expect_eq "the ledger holds exactly the two records, exact energies" \
  "$(ledger "[(x['job_id'], x['exit_code'], x['domains_uj']['cpu'], x['domains_uj']['gpu'], x['energy_uj']) for x in r]")" \
  "[('31', 0, 1234567, 2345000, 3579567), ('32', 9, 7654321, 111000, 7765321)]"
expect_eq "the damaged file is in spool/corrupt/" "$(ls "$SPOOL/corrupt")" "job-00000000deadbeef.json"
expect_contains "the log names the damaged file" "$N/agent.log" \
  "$SPOOL/job-00000000deadbeef.json: moved to $SPOOL/corrupt/job-00000000deadbeef.json"

# ============ replayed again (a crash between the ledger write and the file's removal) ============
kill_agent
cp "$T/saved"/job-*.json "$SPOOL/"
start_agent --ledger "$LEDGER"
for _ in $(seq 350); do
  [[ -z "$(ls "$SPOOL"/job-*.json 2>/dev/null)" ]] && break
  sleep 0.1
done
expect_eq "the replayed copies left the spool" "$(find "$SPOOL" -maxdepth 1 -name 'job-*.json' | wc -l)" 0
expect_eq "a replay is not counted twice" "$(ledger "[(x['job_id'], x['energy_uj']) for x in r]")" \
  "[('31', 3579567), ('32', 7765321)]"
kill_agent
start_agent --ledger "$LEDGER"
expect_eq "another restart: still exactly two" "$(ledger "len(r)")" 2
kill_agent
finish
