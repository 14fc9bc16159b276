#!/usr/bin/env bash
# Benchmark: what the node agent jobcarbond costs on a busy fixture node (issue #4, Benchmarks).
#   Fixture node: 2 RAPL sockets with DRAM (intel-2socket-dram), 8 fake NVML GPUs
#   (bench/fixtures/nvml-8gpu.scenario), an hwmon chip (power9-ibmpowernv: 12 energy counters; the
#   "grace" scenario uses grace-acpi-hwmon-info instead: 4 power-only ACPI meters), 20 running jobs
#   (fixture cgroup v2 dirs with cpu.stat and memory.current; 8 of the jobs hold one GPU each).
#   1. CPU and memory, one fresh agent per scenario, with /metrics served (never scraped meanwhile):
#        10hz     counter-interval 0.1, power-interval 0.1 (the worst case: every read at 10 Hz)
#        default  counter-interval 5,   power-interval 0.1 (the defaults; power9 has no power-only
#                 channel, so the 10 Hz power ticks read nothing)
#        grace    the defaults on the grace hwmon fixture: 4 power-only channels read at 10 Hz
#      After a warm-up, CPU = utime+stime delta of /proc/PID/stat (clock ticks) over the window, as
#      a share of one core; the same from the threads' /proc/PID/task/*/schedstat (ns, finer).
#      Memory: VmHWM (peak RSS since start) and VmRSS at the end, /proc/PID/status. Target: under
#      0.1 % of one core and under 10 MiB.
#   2. The raw cost of the same reads (bench/agent_raw_reads.cpp: the counter files kept open and
#      pread, the cgroup files opened and read, the NVML energy calls through dlopen), CPU per read
#      round times the rounds per second of each scenario: the floor the agent is compared with.
#   3. /metrics scrape latency: one agent (defaults), 200 sequential GETs on one keep-alive
#      connection (as Prometheus scrapes), then 200 with a new connection each, with 0 running
#      jobs, then again with 100 (8 with a GPU): p50/p99/max, response size, series.
# Usage: bench/agent_bench.sh [--quick] [--duration S] [--warmup S] [--gets N] [--build DIR]
#          [--scenarios "10hz default grace"] [--strace S] [--out DIR]
#   --quick: 10 s windows, 2 s warm-up, 50 GETs (a smoke run; timings are rough)
#   --build DIR: the build tree with jobcarbond and tests/fake_nvml/libnvidia-ml.so.1; the raw
#     baseline is DIR/bench/agent_raw_reads if built, else compiled here with g++ -O2
#   --strace S: after each window, `strace -c -f` the agent for S seconds (syscall profile)
#   --out DIR: keep the agents' stderr logs, configs and the raw result files there
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$SRC/build}
DURATION=60
WARMUP=5
GETS=200
JOBS=20
SCRAPE_JOBS=100
SCENARIOS="10hz default grace"
STRACE_S=0
OUT=
while (($#)); do
  case $1 in
    --quick) DURATION=10 WARMUP=2 GETS=50 ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --gets) GETS=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --strace) STRACE_S=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "agent_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
JOBCARBOND=${JOBCARBOND:-$BUILD/jobcarbond}
FAKE_NVML=$BUILD/tests/fake_nvml/libnvidia-ml.so.1
[[ -x $JOBCARBOND ]] || { echo "agent_bench.sh: no jobcarbond at $JOBCARBOND (make jobcarbond, or --build)" >&2; exit 1; }
[[ -f $FAKE_NVML ]] || { echo "agent_bench.sh: no fake NVML at $FAKE_NVML (make fake_nvml, or --build)" >&2; exit 1; }
PY=/usr/bin/python3

T=$(mktemp -d "${TMPDIR:-/tmp}/jobcarbon-agent-bench.XXXXXX")
AGENT_PID=
cleanup() {
  if [[ -n $AGENT_PID ]] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  rm -rf "$T"
}
trap cleanup EXIT
if [[ -n $OUT ]]; then mkdir -p "$OUT"; fi
OUT=${OUT:-$T/out}
mkdir -p "$OUT"
unset CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER JOBCARBON_LEDGER
export FAKE_NVML_SCENARIO=$SRC/bench/fixtures/nvml-8gpu.scenario

# The raw baseline: built with the project, or compiled here.
RAW=$BUILD/bench/agent_raw_reads
if [[ ! -x $RAW ]]; then
  RAW=$T/agent_raw_reads
  g++ -std=c++20 -O2 -o "$RAW" "$SRC/bench/agent_raw_reads.cpp" -ldl ||
    { echo "agent_bench.sh: cannot compile bench/agent_raw_reads.cpp" >&2; exit 1; }
fi

# --- the fixture node: sysfs trees copied with their symlinks, a cgroup v2 tree of jobs.
for f in intel-2socket-dram power9-ibmpowernv grace-acpi-hwmon-info; do cp -a "$SRC/tests/fixtures/sysfs/$f" "$T/"; done
CG=$T/cgroup
mkdir -p "$CG/system.slice/slurmstepd.scope"
echo "cpuset cpu io memory pids" >"$CG/cgroup.controllers"
for ((i = 1; i <= SCRAPE_JOBS; i++)); do
  d=$CG/system.slice/slurmstepd.scope/job_$i
  mkdir -p "$d"
  printf 'usage_usec %d\nuser_usec %d\nsystem_usec %d\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n' \
    $((1000000 * i + 123)) $((700000 * i)) $((300000 * i + 123)) >"$d/cpu.stat"
  echo $((1048576 * i)) >"$d/memory.current"
done

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start_agent NAME COUNTER POWER HWMON_FIXTURE: a fresh agent with its own state, in the background.
start_agent() {
  local name=$1 counter=$2 power=$3 hwmon=$4
  local d=$T/$name
  mkdir -p "$d"
  PORT=$(free_port)
  SOCK=$d/agent.sock
  cat >"$d/config.toml" <<EOF
intensity = 0.3
pue = 1.2
agent-socket = "$SOCK"
state-dir = "$d/state"
metrics-address = "127.0.0.1:$PORT"
counter-interval = $counter
power-interval = $power
powercap-root = "$T/intel-2socket-dram/class/powercap"
hwmon-root = "$T/$hwmon/class/hwmon"
nvml-lib = "$FAKE_NVML"
cgroup-root = "$CG"
proc-root = "/proc"
node-name = "n1"
cluster = "c1"
ledger = "$d/ledger.db"
EOF
  cp "$d/config.toml" "$OUT/$name.config.toml"
  "$JOBCARBOND" --config "$d/config.toml" 2>"$OUT/$name.stderr" &
  AGENT_PID=$!
  for _ in $(seq 100); do
    [[ -S $SOCK ]] && grep -q "listening on" "$OUT/$name.stderr" && return 0
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$OUT/$name.stderr" >&2
  echo "agent_bench.sh: jobcarbond ($name) did not start" >&2
  exit 1
}

stop_agent() {
  kill -TERM "$AGENT_PID"
  wait "$AGENT_PID" || { echo "agent_bench.sh: jobcarbond exited with $?" >&2; exit 1; }
  AGENT_PID=
}

# register N: job_start for jobs 1..N (job i <= 8 holds GPU i-1), then check that status lists N.
register() {
  "$PY" - "$SOCK" "$1" <<'EOF'
import json, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.connect(path)
f = s.makefile()
def ask(m):
    s.sendall((json.dumps(m) + "\n").encode())
    return json.loads(f.readline())
for i in range(1, n + 1):
    gpus = [f"GPU-b0000000-0000-4000-8000-{i - 1:012d}"] if i <= 8 else []
    r = ask({"v": 1, "type": "job_start", "cluster": "c1", "job_id": str(1000 + i),
             "submit_time_us": 1790000000000000 + i, "step": "batch", "user": "root", "uid": 0,
             "account": "bench", "gpus": gpus,
             "cgroup": f"/system.slice/slurmstepd.scope/job_{i}", "exclusive": False})
    if r.get("type") != "ok":
        sys.exit(f"job_start {i}: {r}")
running = len(ask({"v": 1, "type": "status"})["jobs"])
if running != n:
    sys.exit(f"status lists {running} running jobs, not {n}")
EOF
}

# proc_sample PID: "ticks schedstat_ns" (utime+stime of /proc/PID/stat; sum over the threads'
# schedstat run time).
proc_sample() {
  local pid=$1
  local stat
  stat=$(<"/proc/$pid/stat")
  stat=${stat##*) }  # the command name may hold spaces; fields after it start at 3 (state)
  read -r -a f <<<"$stat"
  local ticks=$((f[11] + f[12]))  # fields 14 (utime) and 15 (stime)
  local ns=0 t
  for t in /proc/"$pid"/task/*/schedstat; do
    read -r run _ <"$t" 2>/dev/null || continue
    ns=$((ns + run))
  done
  echo "$ticks $ns"
}

CLK_TCK=$(getconf CLK_TCK)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "==> jobcarbond on the fixture node: $JOBS jobs, ${WARMUP} s warm-up, ${DURATION} s window ($(nproc) CPUs, load $LOAD_BEFORE)" >&2
for sc in $SCENARIOS; do
  case $sc in
    10hz) start_agent "$sc" 0.1 0.1 power9-ibmpowernv ;;
    default) start_agent "$sc" 5 0.1 power9-ibmpowernv ;;
    grace) start_agent "$sc" 5 0.1 grace-acpi-hwmon-info ;;
    *) echo "agent_bench.sh: unknown scenario '$sc'" >&2; exit 2 ;;
  esac
  register "$JOBS"
  sleep "$WARMUP"
  read -r t0 n0 < <(proc_sample "$AGENT_PID")
  w0=$(date +%s.%N)
  sleep "$DURATION"
  read -r t1 n1 < <(proc_sample "$AGENT_PID")
  w1=$(date +%s.%N)
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$AGENT_PID/status")
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$AGENT_PID/status")
  # Where the resident memory is: the agent's own (anonymous) or mapped files (libraries, binary).
  grep -E '^(RssAnon|RssFile|RssShmem):' "/proc/$AGENT_PID/status" >"$OUT/$sc.rss"
  channels=$(grep -c "jobcarbond: channel " "$OUT/$sc.stderr" || true)
  if [[ $STRACE_S != 0 ]] && command -v strace >/dev/null; then
    timeout -s INT "$STRACE_S" strace -c -f -p "$AGENT_PID" -o "$OUT/$sc.strace" 2>/dev/null || true
  fi
  stop_agent
  echo "$sc $t0 $t1 $n0 $n1 $w0 $w1 $hwm $rss $threads $channels $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/agent.txt"
done

# --- the raw reads: the counter files of each hwmon fixture (kept open), the jobs' cgroup files.
ls "$T"/intel-2socket-dram/class/powercap/intel-rapl:*/energy_uj >"$T/rapl.list"
ls "$T"/power9-ibmpowernv/class/hwmon/hwmon*/energy*_input >"$T/power9.list"
ls "$T"/grace-acpi-hwmon-info/class/hwmon/hwmon*/power1_average >"$T/grace.list" 2>/dev/null ||
  ls "$T"/grace-acpi-hwmon-info/class/hwmon/hwmon*/power1_input >"$T/grace.list"
cat "$T/rapl.list" "$T/power9.list" >"$T/keep-power9.list"
: >"$T/cgroups.list"
for ((i = 1; i <= JOBS; i++)); do
  d=$CG/system.slice/slurmstepd.scope/job_$i
  printf '%s\n%s\n' "$d/cpu.stat" "$d/memory.current" >>"$T/cgroups.list"
done
RAW_N=$((DURATION >= 60 ? 20000 : 3000))
raw() { "$RAW" --iterations "$RAW_N" "$@" | sed -n 's/.*cpu_ns_per_iter=\([0-9]*\).*/\1/p'; }
{
  echo "boundary_power9 $(raw --keep "$T/keep-power9.list" --open "$T/cgroups.list" --nvml "$FAKE_NVML" --gpus 8)"
  echo "boundary_grace $(raw --keep "$T/rapl.list" --open "$T/cgroups.list" --nvml "$FAKE_NVML" --gpus 8)"
  echo "power_grace $(raw --keep "$T/grace.list")"
  echo "files_only_power9 $(raw --keep "$T/keep-power9.list" --open "$T/cgroups.list")"
  echo "nvml_only $(raw --nvml "$FAKE_NVML" --gpus 8)"
} >"$OUT/raw.txt"

# --- /metrics scrape latency with 0 and then 100 running jobs, one agent with the defaults.
scrape() {
  "$PY" - "$PORT" "$GETS" "$1" <<'EOF'
import http.client, statistics, sys, time
port, gets, label = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# keep-alive: one connection for all GETs, as Prometheus scrapes; new: a connection per GET
# (Connection: close), which shows the agent's own time without TCP's delayed-ACK interplay.
for mode in ("keep-alive", "new"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times, size = [], 0
    for i in range(gets + 5):
        if mode == "new":
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        t = time.perf_counter()
        c.request("GET", "/metrics", headers={"Connection": "close"} if mode == "new" else {})
        r = c.getresponse()
        body = r.read()
        dt = (time.perf_counter() - t) * 1e3
        if mode == "new":
            c.close()
        if r.status != 200: sys.exit(f"GET /metrics: {r.status}")
        if i >= 5: times.append(dt)  # the first few warm the connection and the caches
        size = len(body)
        series = sum(1 for l in body.decode().splitlines() if l and not l.startswith("#"))
    c.close()
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * len(times))) - 1)]
    print(f"{label} {mode} {gets} {statistics.median(times):.3f} {p99:.3f} {times[-1]:.3f} {size} {series}")
EOF
}
start_agent scrape 5 0.1 power9-ibmpowernv
sleep 1
scrape 0 >"$OUT/scrape.txt"
register "$SCRAPE_JOBS"
sleep 0.5
scrape "$SCRAPE_JOBS" >>"$OUT/scrape.txt"
stop_agent

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
"$PY" - "$OUT" "$CLK_TCK" "$JOBS" "$LOAD_BEFORE" "$LOAD_AFTER" <<'EOF'
import sys
out, tck, jobs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
raw = {l.split()[0]: int(l.split()[1]) for l in open(f"{out}/raw.txt")}
# Reads per second of each scenario: boundaries (all counters + cgroups) and power ticks.
rates = {"10hz": [("boundary_power9", 10.0)],
         "default": [("boundary_power9", 0.2)],
         "grace": [("boundary_grace", 0.2), ("power_grace", 10.0)]}
what = {"10hz": "counters 0.1 s, power 0.1 s, power9 hwmon",
        "default": "counters 5 s, power 0.1 s (defaults), power9",
        "grace": "counters 5 s, power 0.1 s, grace: 4 power-only"}
print(f"\njobcarbond: 2 sockets + DRAM, 8 GPUs, hwmon; {jobs} running jobs (8 with a GPU); "
      f"load before {sys.argv[4]}, after {sys.argv[5]}")
print(f"{'scenario':<8} {'setting':<46} {'ch':>3} {'window':>7} {'CPU stat':>9} {'CPU sched':>9} "
      f"{'raw reads':>9} {'x raw':>6} {'VmHWM':>9} {'VmRSS':>9} {'thr':>3}")
for line in open(f"{out}/agent.txt"):
    sc, t0, t1, n0, n1, w0, w1, hwm, rss, thr, ch, load = line.split()
    wall = float(w1) - float(w0)
    cpu_stat = 100 * (int(t1) - int(t0)) / tck / wall
    cpu_sched = 100 * (int(n1) - int(n0)) / 1e9 / wall
    raw_pct = 100 * sum(raw[k] * r for k, r in rates[sc]) / 1e9
    print(f"{sc:<8} {what[sc]:<46} {ch:>3} {wall:6.1f}s {cpu_stat:8.3f}% {cpu_sched:8.3f}% "
          f"{raw_pct:8.4f}% {cpu_sched / raw_pct if raw_pct else 0:6.1f} "
          f"{int(hwm) / 1024:5.2f} MiB {int(rss) / 1024:5.2f} MiB {thr:>3}")
print(f"{'target':<8} {'':<46} {'':>3} {'':>7} {'< 0.1%':>9} {'< 0.1%':>9} {'':>9} {'':>6} {'< 10 MiB':>9}")
print("CPU stat: utime+stime of /proc/PID/stat (1/%d s ticks); CPU sched: the threads' schedstat (ns)" % tck)
print("raw reads: bench/agent_raw_reads CPU per read round x rounds per second of the scenario")
print("\nraw read rounds (CPU per round)")
for k, v in raw.items():
    print(f"  {k:<20} {v / 1e3:9.1f} us")
print("\n/metrics scrape latency (one keep-alive connection, sequential GETs; defaults)")
print(f"{'running jobs':>12} {'connection':>10} {'GETs':>5} {'p50':>9} {'p99':>9} {'max':>9} {'bytes':>8} {'series':>7}")
for line in open(f"{out}/scrape.txt"):
    n, mode, gets, p50, p99, mx, size, series = line.split()
    print(f"{n:>12} {mode:>10} {gets:>5} {float(p50):6.3f} ms {float(p99):6.3f} ms {float(mx):6.3f} ms {size:>8} {series:>7}")
EOF
for sc in $SCENARIOS; do
  [[ -f $OUT/$sc.strace ]] || continue
  echo -e "\nstrace -c -f of the $sc agent for $STRACE_S s, after its window (top 10 by time)"
  sed -n '1,12p' "$OUT/$sc.strace"
done
