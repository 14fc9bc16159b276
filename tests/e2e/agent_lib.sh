# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables set here are used by the tests that source it
# Helpers of the agent's end-to-end tests (agent_*_test.sh): a fixture node (RAPL of
# intel-2socket-dram, two fake-NVML GPUs, a proc root and a cgroup v2 tree under $T), the real
# jobcarbond on it, and a small Python tool for the socket, /metrics and counter updates.
# Sourced after lib.sh; needs JOBCARBOND from ctest. Not a test itself (no _test.sh suffix).
: "${JOBCARBOND:?JOBCARBOND must name the jobcarbond binary}"

GPU0=GPU-aaaaaaaa-0000-0000-0000-000000000000
GPU1=GPU-bbbbbbbb-0000-0000-0000-000000000000
AGENT_PID=""
PIDS_TO_KILL=()

# Every process a test starts is stopped on exit, whatever the exit path; then $T goes.
agent_cleanup() {
  local p
  for p in "${PIDS_TO_KILL[@]}" $AGENT_PID; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS_TO_KILL[@]}" $AGENT_PID; do
    # A process that ignores SIGTERM for 5 s is killed.
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap agent_cleanup EXIT

# tool ARGS...: run the Python tool below (socket client, /metrics reader, counter writer).
tool() {
  "$PY" "$T/agent_tool.py" "$@"
}

# make_node: build the fixture node under $T and write $T/agent.toml. Sets RAPL (the powercap
# class dir), PKG0 DRAM0 PKG1 DRAM1 (energy_uj files), GPU0_STATE GPU1_STATE, CGROUP (the cgroup
# root), PORT (metrics), SOCK, STATE, LEDGER, METRICS (the URL).
make_node() {
  local root
  root=$(fixture intel-2socket-dram)
  RAPL="$root/class/powercap"
  PKG0="$RAPL/intel-rapl:0/energy_uj"
  DRAM0="$RAPL/intel-rapl:0:0/energy_uj"
  PKG1="$RAPL/intel-rapl:1/energy_uj"
  DRAM1="$RAPL/intel-rapl:1:0/energy_uj"
  # proc root: the x86 fixture (4 online CPUs: cpu0..cpu3 in stat) and a fixed boot id, so that
  # nothing of the test machine (its CPU count, its load) enters the attribution.
  mkdir -p "$T/proc"
  cp -a "$SRC/tests/fixtures/proc/x86/." "$T/proc/"
  mkdir -p "$T/proc/sys/kernel/random"
  echo "5e3c1b8a-0d6f-4a53-9a2e-6f1d2c3b4a5e" >"$T/proc/sys/kernel/random/boot_id"
  # cgroup v2 root: cgroup.controllers at the top is what tells v2.
  CGROUP="$T/cgroup"
  mkdir -p "$CGROUP"
  echo "cpuset cpu io memory pids" >"$CGROUP/cgroup.controllers"
  mkdir -p "$T/nvml"
  echo "1000000 250000" >"$T/nvml/gpu0.state"
  echo "2000000 300000" >"$T/nvml/gpu1.state"
  GPU0_STATE="$T/nvml/gpu0.state"
  GPU1_STATE="$T/nvml/gpu1.state"
  cat >"$T/nvml/scenario" <<SCEN
gpu
uuid $GPU0
name NVIDIA H100 80GB HBM3
state_file gpu0.state
gpu
uuid $GPU1
name NVIDIA H100 80GB HBM3
state_file gpu1.state
SCEN
  PORT=$(free_port)
  SOCK="$T/run/agent.sock"
  STATE="$T/state"
  LEDGER="$T/ledger.db"
  METRICS="http://127.0.0.1:$PORT/metrics"
  mkdir -p "$T/run"
  cat >"$T/agent.toml" <<CONF
intensity = 0.5
pue = 1.2
agent-socket = "$SOCK"
state-dir = "$STATE"
metrics-address = "127.0.0.1:$PORT"
counter-interval = 1
journal-interval = 0
power-interval = 0.1
running-update-interval = 1
powercap-root = "$RAPL"
hwmon-root = "$T/no-hwmon"
nvml-lib = "$FAKE_NVML"
cgroup-root = "$CGROUP"
proc-root = "$T/proc"
node-name = "n1"
cluster = "c1"
ledger = "$LEDGER"
CONF
}

# make_cgroup PATH USAGE_USEC: a job's cgroup v2 directory with its cpu.stat.
make_cgroup() {
  mkdir -p "$CGROUP$1"
  printf 'usage_usec %s\nuser_usec 0\nsystem_usec 0\n' "$2" >"$CGROUP$1/cpu.stat"
}

# start_agent: run jobcarbond on the node (stderr to $T/agent.log) and wait until both the
# socket and /metrics answer and the first boundary's journal is written (at most 15 s).
start_agent() {
  FAKE_NVML_SCENARIO="$T/nvml/scenario" "$JOBCARBOND" --config "$T/agent.toml" 2>>"$T/agent.log" &
  AGENT_PID=$!
  tool wait_ready "$SOCK" "$METRICS" "$STATE/journal.json" 15 ||
    { cat "$T/agent.log" >&2; fail "jobcarbond did not come up"; }
}

# stop_agent: SIGTERM, and the agent must exit 0 within 10 s.
stop_agent() {
  kill -TERM "$AGENT_PID"
  local rc=0
  for _ in $(seq 100); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$AGENT_PID" || rc=$?
  AGENT_PID=""
  [[ $rc == 0 ]] || { cat "$T/agent.log" >&2; fail "jobcarbond exited $rc on SIGTERM"; }
}

# job_start_msg ID GPU CGROUP: the job_start line of a root-registered shared job.
job_start_msg() {
  printf '{"v":1,"type":"job_start","cluster":"c1","job_id":"%s","submit_time_us":1790000000000000,"step":"batch","user":"root","uid":0,"account":"vision","gpus":["%s"],"cgroup":"%s","exclusive":false}' \
    "$1" "$2" "$3"
}

# job_end_msg ID: the job_end line of that job, ended now.
job_end_msg() {
  printf '{"v":1,"type":"job_end","cluster":"c1","job_id":"%s","submit_time_us":1790000000000000,"step":"batch","exit_code":0,"end_time_us":%s}' \
    "$1" "$(date +%s%6N)"
}

# expect_ended WHAT FILE: every line of FILE (the replies to job_end messages) is a success: ok,
# or the job_report reply that newer agents send with the job's final numbers.
expect_ended() {
  local types
  types=$("$PY" -c 'import json,sys; print(" ".join(json.loads(l)["type"] for l in open(sys.argv[1])))' "$2")
  [[ -n "$types" && "$(tr ' ' '\n' <<<"$types" | grep -vcE '^(ok|job_report)$')" == 0 ]] ||
    { cat "$2" >&2; fail "$1: replies $types"; }
  ok "$1 ($types)"
}

cat >"$T/agent_tool.py" <<'PYTOOL'
import json, os, re, socket, sys, time, urllib.request

def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)

def fetch(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$')

def samples(text):
    """{'name{labels}': 'value'} of an exposition, values as printed."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        if not m:
            die(f"not a sample line: {line!r}")
        out[m.group(1)] = m.group(2)
    return out

def journal_stamp(path):
    try:
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    except FileNotFoundError:
        return None

def apply(spec):
    """PATH+DELTA: add DELTA to the counter in PATH, replacing the file atomically (the agent never
    reads a half-written file). cpu.stat: its usage_usec line; *.state (fake NVML): the energy in mJ
    (first field); any other file: the whole integer (RAPL energy_uj)."""
    path, delta = spec.rsplit("+", 1)
    delta = int(delta)
    with open(path) as f:
        text = f.read()
    if path.endswith("cpu.stat"):
        text = re.sub(r"^usage_usec (\d+)$", lambda m: f"usage_usec {int(m.group(1)) + delta}",
                      text, count=1, flags=re.M)
    elif path.endswith(".state"):
        fields = text.split()
        fields[0] = str(int(fields[0]) + delta)
        text = " ".join(fields) + "\n"
    else:
        text = f"{int(text) + delta}\n"
    tmp = os.path.join(os.path.dirname(os.path.realpath(path)), ".tmp-counter")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.realpath(path))

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "send":
        # send SOCKET LINE...: one connection, each line sent and its one reply line printed.
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(args[0])
        f = s.makefile("rb")
        for line in args[1:]:
            s.sendall(line.encode() + b"\n")
            reply = f.readline()
            if not reply:
                die("the agent closed the connection without a reply")
            print(reply.decode().rstrip("\n"))
    elif cmd == "metrics":
        # metrics URL: print the exposition (exit 1 unless 200 with the 0.0.4 text type).
        status, ctype, body = fetch(args[0])
        if status != 200 or not ctype.startswith("text/plain; version=0.0.4"):
            die(f"/metrics: HTTP {status}, Content-Type {ctype!r}")
        sys.stdout.write(body)
    elif cmd == "wait_ready":
        sock, url, journal, deadline = args[0], args[1], args[2], time.monotonic() + float(args[3])
        while time.monotonic() < deadline:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                s.close()
                fetch(url, timeout=1)
                if journal_stamp(journal):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        die("the agent's socket, /metrics or journal did not appear in time")
    elif cmd == "wait_metrics":
        # wait_metrics URL SECONDS EXPR: poll /metrics until the Python expression EXPR holds on
        # s (the samples, by series); print the last exposition to stdout. Also keeps in
        # $T/seen.json the largest value seen of each series (for gauges that move for an interval).
        url, deadline, expr = args[0], time.monotonic() + float(args[1]), args[2]
        seen_path = os.environ.get("SEEN")
        seen = {}
        body = ""
        while True:
            body = fetch(url)[2]
            s = samples(body)
            for k, v in s.items():
                seen[k] = max(float(v), seen.get(k, float("-inf")))
            if eval(expr, {"s": s}):
                break
            if time.monotonic() > deadline:
                sys.stdout.write(body)
                die(f"/metrics: '{expr}' still false after {args[1]} s")
            time.sleep(0.05)
        if seen_path:
            with open(seen_path, "w") as f:
                json.dump(seen, f)
        sys.stdout.write(body)
    elif cmd == "between_boundaries":
        # between_boundaries JOURNAL SPEC...: wait for the agent's next counter boundary (its
        # journal is rewritten right after every boundary), then apply every SPEC at once. The
        # next boundary is a counter interval (1 s) away, so all the changes land in one interval;
        # if the journal changed again while writing, that was not so, and this fails loudly
        # rather than let a test assert on a split it did not intend.
        # With --timed first, also wait for the boundary after that and print how long the
        # interval that took the changes lasted (seconds, as seen from here).
        timed = args[0] == "--timed"
        journal, specs = (args[1], args[2:]) if timed else (args[0], args[1:])

        def next_change(stamp):
            deadline = time.monotonic() + 10
            while journal_stamp(journal) == stamp:
                if time.monotonic() > deadline:
                    die("no boundary within 10 s")
                time.sleep(0.002)
            return journal_stamp(journal), time.monotonic()

        after, t0 = next_change(journal_stamp(journal))
        for spec in specs:
            apply(spec)
        if journal_stamp(journal) != after:
            die("a boundary came while the counters were being advanced (machine overloaded?)")
        if timed:
            print(f"{next_change(after)[1] - t0:.6f}")
    else:
        die(f"unknown command {cmd}")

main()
PYTOOL
