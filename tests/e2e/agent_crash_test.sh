#!/usr/bin/env bash
# jobcarbond killed (-9) and restarted many times while an exclusive fixture job runs: the final
# ledger record must equal the exact counter delta, to the microjoule — across a RAPL wrap, for
# energy used while the agent ran and while it was dead — with exactly one record, never counted
# twice. Then a simulated reboot (another boot id while the agent is dead): the job of the last
# boot ends with exit code -1 and the energy up to the last journal entry; a job registered after
# the reboot is measured from then on.
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

# A seed makes a failing sequence of actions repeatable (the timing of the kills is not).
SEED=${CRASH_SEED:-$$}
RANDOM=$SEED
echo "seed $SEED (rerun with CRASH_SEED=$SEED)"

# --- the socket client: send one line, print the reply; or wait until the agent answers.
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
elif cmd == "wait":  # until the agent on PATH answers a status (stale socket files refuse)
    deadline = time.time() + float(sys.argv[3])
    while True:
        try:
            r = json.loads(ask(path, '{"v":1,"type":"status"}'))
            if r.get("type") == "status_reply":
                break
        except (OSError, ValueError):
            pass
        if time.time() > deadline:
            sys.exit("the agent did not answer on " + path)
        time.sleep(0.02)
elif cmd == "energy":  # the energy so far of job JOB, or -1 when it is not running
    jobs = json.loads(ask(path, '{"v":1,"type":"status"}'))["jobs"]
    print(next((j["energy_uj"] for j in jobs if j["job_id"] == sys.argv[3]), -1))
PY
client() { "$PY" "$T/client.py" "$@"; }

# --- one fixture node in directory $N: RAPL package 3 J below its wrap, two fake NVML GPUs, a
# cgroup v2 tree with the job's cgroup, /proc from the x86 fixture with a boot id and no memory in
# use (so the memory estimator, needed without a DRAM zone, adds exactly 0 µJ).
RANGE=0
make_node() {
  N="$T/$1"
  mkdir -p "$N/nvml" "$N/cgroup/jobs/job_$2" "$N/proc" "$N/sysfs"
  cp -a "$FIXTURES/intel-1socket-near-wrap/." "$N/sysfs/"
  cp -a "$SRC/tests/fixtures/proc/x86/." "$N/proc/"
  mkdir -p "$N/proc/sys/kernel/random"
  echo "11111111-2222-3333-4444-555555555555" >"$N/proc/sys/kernel/random/boot_id"
  sed -i 's/^MemAvailable:.*/MemAvailable:   394846972 kB/' "$N/proc/meminfo"
  : >"$N/cgroup/cgroup.controllers"
  echo "usage_usec 1000" >"$N/cgroup/jobs/job_$2/cpu.stat"
  PKG="$N/sysfs/class/powercap/intel-rapl:0/energy_uj"
  CORE="$N/sysfs/class/powercap/intel-rapl:0:0/energy_uj"
  RANGE=$(cat "$N/sysfs/class/powercap/intel-rapl:0/max_energy_range_uj")
  pkg=$(cat "$PKG") core=$(cat "$CORE") g0=5000000 g1=7000000
  echo "$g0 300000" >"$N/nvml/gpu0.state"
  echo "$g1 310000" >"$N/nvml/gpu1.state"
  cat >"$N/nvml/scenario" <<SCEN
gpu
uuid GPU-aaaaaaaa-0000-0000-0000-000000000000
name NVIDIA H100 80GB HBM3
state_file gpu0.state
gpu
uuid GPU-bbbbbbbb-0000-0000-0000-000000000000
name NVIDIA H100 80GB HBM3
state_file gpu1.state
SCEN
  cat >"$N/config.toml" <<CONF
intensity = 0.3
pue = 1.0
agent-socket = "$N/agent.sock"
state-dir = "$N/state"
metrics-address = "none"
counter-interval = 0.2
journal-interval = 0
power-interval = 0.1
powercap-root = "$N/sysfs/class/powercap"
hwmon-root = "$N/no-hwmon"
nvml-lib = "$FAKE_NVML"
cgroup-root = "$N/cgroup"
proc-root = "$N/proc"
node-name = "n1"
cluster = "c1"
ledger = "$N/ledger.db"
CONF
  tot_cpu=0 tot_gpu=0 wrapped=0
}

# put FILE TEXT: replace FILE atomically, as the kernel's counters never show a half-written value.
put() {
  printf '%s\n' "$2" >"$1.tmp"
  mv "$1.tmp" "$1"
}

# advance: add random energy to every counter; tot_cpu/tot_gpu keep what an exclusive job running
# throughout is owed (the core subzone is inside the package: shown, never added).
advance() {
  local d_pkg=$((RANDOM * 40 + 1)) d_core=$((RANDOM + 1)) d_g0=$((RANDOM + 1)) d_g1=$((RANDOM % 5000))
  (((pkg + d_pkg) >= RANGE)) && wrapped=1
  pkg=$(((pkg + d_pkg) % RANGE))
  core=$(((core + d_core) % RANGE))
  g0=$((g0 + d_g0)) g1=$((g1 + d_g1))
  put "$PKG" "$pkg"
  put "$CORE" "$core"
  put "$N/nvml/gpu0.state" "$g0 300000"
  put "$N/nvml/gpu1.state" "$g1 310000"
  tot_cpu=$((tot_cpu + d_pkg))
  tot_gpu=$((tot_gpu + (d_g0 + d_g1) * 1000))
}

start_agent() {
  FAKE_NVML_SCENARIO="$N/nvml/scenario" "$JOBCARBOND" --config "$N/config.toml" 2>>"$N/agent.log" &
  AGENT=$!
  client wait "$N/agent.sock" 10 || { cat "$N/agent.log" >&2; fail "the agent did not start"; }
}

kill_agent() {
  kill -9 "$AGENT"
  wait "$AGENT" 2>/dev/null || true
  AGENT=""
}

# until_charged JOB UJ: wait until the running job's energy so far is UJ (a boundary read the
# counters and, before answering anything else, wrote the journal). Fails on any other final value.
until_charged() {
  local got
  for _ in $(seq 100); do
    got=$(client energy "$N/agent.sock" "$1") || got="no answer"
    [[ "$got" == "$2" ]] && return 0
    sleep 0.05
  done
  fail "job $1 so far: expected $2 µJ, got $got"
}

SUBMIT=1790000000000000
job_start() {
  client send "$N/agent.sock" "{\"v\":1,\"type\":\"job_start\",\"cluster\":\"c1\",\"job_id\":\"$1\",\"submit_time_us\":$SUBMIT,\"step\":\"batch\",\"user\":\"root\",\"uid\":0,\"account\":\"vision\",\"gpus\":[\"GPU-aaaaaaaa-0000-0000-0000-000000000000\"],\"cgroup\":\"/jobs/job_$1\",\"exclusive\":true}"
}
job_end() {
  local now_us
  now_us=$("$PY" -c 'import time; print(int(time.time() * 1e6))')
  client send "$N/agent.sock" "{\"v\":1,\"type\":\"job_end\",\"cluster\":\"c1\",\"job_id\":\"$1\",\"submit_time_us\":$SUBMIT,\"step\":\"batch\",\"exit_code\":$2,\"end_time_us\":$now_us}"
}
OK='{"v":1,"type":"ok"}'
# reply_type LINE: the type of a reply (job_end is answered with the job's report, job_report).
reply_type() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["type"])' "$1"; }

# ledger_job JOB EXPR: EXPR on the list of the ledger's records of JOB (as r).
ledger_job() {
  "$JOBCARBON" jobs --ledger "$N/ledger.db" --format json >"$N/jobs.json"
  json "$N/jobs.json" "(lambda r: $2)([x for x in j if x['job_id'] == '$1'])"
}

# ============ 1. twenty kills during one job ============
make_node crash 900
start_pkg=$pkg
start_agent
expect_eq "job_start" "$(job_start 900)" "$OK"
kill_agent # right after the job_start: the journal already holds the job
restarts=0
for _ in $(seq 20); do
  ((RANDOM % 2)) && advance # while dead
  start_agent
  restarts=$((restarts + 1))
  case $((RANDOM % 5)) in
    0) ;; # killed right after the restart, before or at its first boundary
    1) # advanced while running, killed at a random moment
      advance
      sleep "0.$((RANDOM % 8))"
      ;;
    2) # killed right after a boundary that saw the advance; checks the running total too
      advance
      until_charged 900 $((tot_cpu + tot_gpu))
      ;;
    3) # advanced, then killed before the next boundary could read it
      sleep "0.$((RANDOM % 8))"
      advance
      ;;
    4) # killed in the middle of sampling: several advances 0-0.7 s apart
      for _ in 1 2 3; do
        advance
        sleep "0.$((RANDOM % 8))"
      done
      ;;
  esac
  kill_agent
done
# The package had 3 J of headroom: make sure it wrapped, while dead, before the final restart.
advance
while ((!wrapped)); do advance; done
start_agent
restarts=$((restarts + 1))
advance
until_charged 900 $((tot_cpu + tot_gpu))
advance # read by job_end's own boundary
expect_eq "job_end" "$(reply_type "$(job_end 900 0)")" job_report
expect_eq "the package wrapped during the job" "$((pkg < start_pkg))" 1
expect_eq "exactly one record of the job in the ledger" "$(ledger_job 900 "len(r)")" 1
expect_eq "CPU package: the exact delta across the wrap (µJ)" \
  "$(ledger_job 900 "r[0]['domains_uj']['cpu']")" "$tot_cpu"
expect_eq "GPUs: the exact delta of both (exclusive node, µJ)" \
  "$(ledger_job 900 "r[0]['domains_uj']['gpu']")" "$tot_gpu"
expect_eq "energy charged = the exact sum of the advances (µJ)" \
  "$(ledger_job 900 "r[0]['energy_uj']")" "$((tot_cpu + tot_gpu))"
expect_eq "exclusive: machine = charged, nothing unallocated" \
  "$(ledger_job 900 "(r[0]['machine_energy_uj'] == r[0]['energy_uj'], r[0]['unallocated_energy_uj'])")" \
  "(True, 0)"
expect_eq "nothing estimated, nothing else" \
  "$(ledger_job 900 "[r[0]['domains_uj'][d] for d in ('dram', 'node', 'estimated_cpu', 'estimated_memory')]")" \
  "[0, 0, 0, 0]"
expect_eq "exit code" "$(ledger_job 900 "r[0]['exit_code']")" 0
expect_eq "every restart resumed the running job from the journal" \
  "$(grep -c 'resumed from the journal: 1 running job(s)' "$N/agent.log")" \
  "$restarts"
expect_eq "the job is no longer running" "$(client energy "$N/agent.sock" 900)" -1
kill_agent
start_agent
expect_eq "a restart after the end: still one record" "$(ledger_job 900 "len(r)")" 1
kill_agent

# ============ 2. a reboot while the agent is dead ============
make_node reboot 901
mkdir -p "$N/cgroup/jobs/job_902"
echo "usage_usec 5" >"$N/cgroup/jobs/job_902/cpu.stat"
start_agent
expect_eq "job_start before the reboot" "$(job_start 901)" "$OK"
advance
until_charged 901 $((tot_cpu + tot_gpu))
kill_agent
advance # same boot: measured at the restart
start_agent
advance
until_charged 901 $((tot_cpu + tot_gpu))
before_reboot=$((tot_cpu + tot_gpu))
kill_agent
advance # after the last journal entry: the counters of a rebooted node no longer hold it
echo "99999999-8888-7777-6666-555555555555" >"$N/proc/sys/kernel/random/boot_id"
start_agent
expect_contains "the agent says the node restarted" "$N/agent.log" \
  "the node restarted since the journal was written: 1 job(s) of the last boot ended"
expect_eq "the job of the last boot is not running" "$(client energy "$N/agent.sock" 901)" -1
expect_eq "the job of the last boot: one record, exit code -1" \
  "$(ledger_job 901 "[(x['exit_code'], x['energy_uj']) for x in r]")" "[(-1, $before_reboot)]"
expect_eq "its record says why" \
  "$("$JOBCARBON" show 901 --ledger "$N/ledger.db" --json | grep -c 'the node restarted (boot id 11111111')" 1
advance # before the next job: not its energy
tot_cpu=0 tot_gpu=0
expect_eq "job_start after the reboot" "$(job_start 902)" "$OK"
advance
until_charged 902 $((tot_cpu + tot_gpu))
kill_agent
advance # while dead, same (new) boot
start_agent
advance
expect_eq "job_end after the reboot" "$(reply_type "$(job_end 902 3)")" job_report
expect_eq "the job after the reboot is measured from its start (µJ)" \
  "$(ledger_job 902 "[(x['exit_code'], x['domains_uj']['cpu'], x['domains_uj']['gpu']) for x in r]")" \
  "[(3, $tot_cpu, $tot_gpu)]"
expect_eq "still one record of the job before the reboot" "$(ledger_job 901 "len(r)")" 1
finish
