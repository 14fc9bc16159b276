#!/usr/bin/env bash
# Benchmark: what `jobcarbon run` adds to the command it meters, whole process, same run.
#   1. start-up: median wall time of `jobcarbon run -- true` minus that of `true` (20 runs each,
#      default SQLite ledger: HOME is a temporary directory, the ledger is created there by a
#      first run and then reused), on this machine's own sensors and on the fixture machine
#      (2 RAPL sockets with DRAM, 8 fake GPUs, a POWER9 node meter). Target: under 5 ms.
#   2. peak RSS of `jobcarbon run --interval 0.1 -- sleep 3` on the fixture machine: ru_maxrss
#      from wait4 in run_usage (bench/run_usage.cpp says why not from Python). Target: under 8 MiB.
#   3. CPU time of `jobcarbon run --interval 0.1 -- sleep 10` on the fixture machine: user + sys
#      from wait4 (jobcarbon and its sleep) minus those of a bare `sleep 10` run right after, as a
#      share of one core over the run. Target: under 0.1 %.
# Usage: bench/startup.sh [--smoke] [--jobcarbon PATH] [--build DIR] [--runs N] [--out DIR]
#   --smoke: 3 runs, sleep 1 and 2 s (CI: checks that it runs, not the timings)
#   --build DIR: the build tree with tests/fake_nvml/libnvidia-ml.so.1 and bench/run_usage
#   --out DIR: keep the JSON results (hyperfine's exports, run_usage's) and stderr logs there
#   --no-hyperfine: time with the Python loop even where hyperfine is installed
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBCARBON=${JOBCARBON:-}
BUILD=${BUILD:-}
RUNS=20
RSS_SLEEP=3
CPU_SLEEP=10
OUT=
NO_HYPERFINE=0
while (($#)); do
  case $1 in
    --smoke) RUNS=3 RSS_SLEEP=1 CPU_SLEEP=2 ;;
    --jobcarbon) JOBCARBON=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-hyperfine) NO_HYPERFINE=1 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "startup.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
BUILD=${BUILD:-$SRC/build}
JOBCARBON=${JOBCARBON:-$BUILD/jobcarbon}
[[ -x $JOBCARBON ]] || { echo "startup.sh: no jobcarbon binary at $JOBCARBON (build it, or --jobcarbon)" >&2; exit 1; }
FAKE_NVML=$BUILD/tests/fake_nvml/libnvidia-ml.so.1
RUN_USAGE=$BUILD/bench/run_usage
[[ -x $RUN_USAGE ]] || { echo "startup.sh: no $RUN_USAGE (make run_usage, or --build)" >&2; exit 1; }
[[ -f $FAKE_NVML ]] || { echo "startup.sh: no fake NVML at $FAKE_NVML (make fake_nvml, or --build)" >&2; exit 1; }
PY=/usr/bin/python3

T=$(mktemp -d "${TMPDIR:-/tmp}/jobcarbon-startup.XXXXXX")
trap 'rm -rf "$T"' EXIT
if [[ -n $OUT ]]; then mkdir -p "$OUT"; fi
OUT=${OUT:-$T}

# Nothing of the caller's configuration may reach the runs: the default ledger path and config
# files are resolved under the temporary HOME.
export HOME="$T/home"
unset XDG_DATA_HOME XDG_CONFIG_HOME JOBCARBON_LEDGER CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER FAKE_NVML_SCENARIO
mkdir -p "$HOME"

# The fixture machine: sysfs trees copied with their symlinks, the 8-GPU fake NVML scenario.
cp -a "$SRC/tests/fixtures/sysfs/intel-2socket-dram" "$T/"
cp -a "$SRC/tests/fixtures/sysfs/power9-ibmpowernv" "$T/"
SCENARIO=$SRC/bench/fixtures/nvml-8gpu.scenario
FIXTURE_FLAGS=(--powercap-root "$T/intel-2socket-dram/class/powercap"
  --hwmon-root "$T/power9-ibmpowernv/class/hwmon" --nvml-lib "$FAKE_NVML")

# First run creates the default ledger; every measured run then appends to the existing one.
"$JOBCARBON" run -q -- true
LEDGER=$HOME/.local/share/jobcarbon/ledger.db
[[ -s $LEDGER ]] || { echo "startup.sh: the first run did not create the default ledger $LEDGER" >&2; exit 1; }
FAKE_NVML_SCENARIO=$SCENARIO "$JOBCARBON" run -q "${FIXTURE_FLAGS[@]}" -- true

echo "==> start-up: $RUNS runs each, same run ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
# measure NAME CMD...: median wall seconds of `true` and of CMD, alternating, into $OUT/NAME.json.
measure() {
  local name=$1
  shift
  if ((!NO_HYPERFINE)) && command -v hyperfine >/dev/null; then
    hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$OUT/$name.json" \
      -n true true -n "$name" "$*" >&2
  else
    # Python fallback: alternate the two commands so that drift of the machine hits both alike.
    "$PY" - "$OUT/$name.json" "$RUNS" "$@" <<'EOF'
import json, subprocess, sys, time
out, runs, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
times = {"true": [], "cmd": []}
def once(argv):
    t = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t
for _ in range(3):
    once(["true"]); once(cmd)
for _ in range(runs):
    times["true"].append(once(["true"]))
    times["cmd"].append(once(cmd))
json.dump({"results": [{"command": "true", "times": times["true"]},
                       {"command": " ".join(cmd), "times": times["cmd"]}]}, open(out, "w"))
EOF
  fi
}
measure machine "$JOBCARBON" run -- true
FAKE_NVML_SCENARIO=$SCENARIO measure fixture "$JOBCARBON" run "${FIXTURE_FLAGS[@]}" -- true

echo "==> peak RSS and CPU time of jobcarbon run --interval 0.1 on the fixture machine"
# usage NAME CMD...: run CMD under run_usage (wait4 from a small parent) into $OUT/NAME.json.
usage() {
  local name=$1
  shift
  "$RUN_USAGE" "$OUT/$name.json" "$@" 2>"$OUT/$name.stderr" ||
    { cat "$OUT/$name.stderr" >&2; echo "startup.sh: $* failed" >&2; exit 1; }
}
export FAKE_NVML_SCENARIO=$SCENARIO
usage rss "$JOBCARBON" run --interval 0.1 "${FIXTURE_FLAGS[@]}" -- sleep "$RSS_SLEEP"
usage cpu "$JOBCARBON" run --interval 0.1 "${FIXTURE_FLAGS[@]}" -- sleep "$CPU_SLEEP"
usage cpu_bare sleep "$CPU_SLEEP"
unset FAKE_NVML_SCENARIO
for f in rss cpu; do
  grep -qi "energy" "$OUT/$f.stderr" || { cat "$OUT/$f.stderr" >&2; echo "startup.sh: no report from the $f run" >&2; exit 1; }
done

"$PY" - "$OUT" "$RUNS" "$RSS_SLEEP" "$CPU_SLEEP" <<'EOF'
import json, statistics, sys
out, runs = sys.argv[1], sys.argv[2]

def added(name):
    r = json.load(open(f"{out}/{name}.json"))["results"]
    bare, metered = (statistics.median(x["times"]) * 1e3 for x in r)
    return bare, metered, metered - bare

rss = json.load(open(f"{out}/rss.json"))
cpu = json.load(open(f"{out}/cpu.json"))
bare = json.load(open(f"{out}/cpu_bare.json"))
print(f"\nstartup summary ({runs} runs each; medians of wall time)")
print(f"{'what':58} {'value':>16} {'target':>10}")
for name, label in (("machine", "this machine's sensors"), ("fixture", "fixture: 2 sockets, 8 GPUs, node meter")):
    bare_ms, metered_ms, diff = added(name)
    print(f"{'true, ' + label:58} {bare_ms:13.2f} ms")
    print(f"{'jobcarbon run -- true, ' + label:58} {metered_ms:13.2f} ms")
    print(f"{'added start-up, ' + label:58} {diff:13.2f} ms {'< 5 ms':>10}")
print(f"{'peak RSS of jobcarbon run, sleep %g at 10 Hz, fixture' % float(sys.argv[3]):58} "
      f"{rss['maxrss_kib'] / 1024:12.2f} MiB {'< 8 MiB':>10}")
cpu_s = cpu["user_s"] + cpu["sys_s"] - bare["user_s"] - bare["sys_s"]
print(f"{'CPU of jobcarbon run, sleep %g at 10 Hz, fixture' % float(sys.argv[4]):58} {cpu_s * 1e3:13.1f} ms"
      f"   (user {cpu['user_s'] * 1e3:.1f} + sys {cpu['sys_s'] * 1e3:.1f}, minus bare sleep {1e3 * (bare['user_s'] + bare['sys_s']):.1f})")
print(f"{'  as a share of one core over %.2f s' % cpu['wall_s']:58} {100 * cpu_s / cpu['wall_s']:14.3f} % {'< 0.1 %':>10}")
print(f"{'  CPU seconds per minute':58} {60 * cpu_s / cpu['wall_s']:14.4f} s")
# The two runs differ only in length: the difference is the steady sampling cost, without the
# start-up and the report, which a run pays once.
rss_cpu = rss["user_s"] + rss["sys_s"]
steady = (cpu["user_s"] + cpu["sys_s"] - rss_cpu) / (cpu["wall_s"] - rss["wall_s"])
print(f"{'  steady state: (CPU(long) - CPU(short)) / (wall difference)':58} {100 * steady:14.3f} % {'< 0.1 %':>10}")
print(f"{'  once per run (short run minus its steady share)':58} {1e3 * (rss_cpu - steady * rss['wall_s']):13.1f} ms")
EOF
