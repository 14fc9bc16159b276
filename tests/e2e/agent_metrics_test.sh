#!/usr/bin/env bash
# The real jobcarbond on a fixture node (2-socket RAPL with DRAM, two fake-NVML GPUs, a fixture
# proc root and cgroup v2 tree): one shared job on GPU 1, counters advanced by known amounts, then
#  a. /metrics diffed against tests/fixtures/metrics/agent-golden.prom (only the agent's own CPU
#     and memory and the sensors' read durations are masked: they vary run to run);
#  b. `promtool check metrics` on the real output: exit 0, no findings;
#  c. a real Prometheus server scrapes the agent and its query API returns the job's exact joules;
#  d. the socket and the HTTP endpoint are fuzzed (garbage, oversized and half-sent lines, idle
#     connections, bad messages, a huge header, a garbage request line, a slowloris request) and
#     the agent keeps sampling and answering;
#  e. after job_end the job's series leave /metrics and the ledger holds its record, same energy.
# Determinism: every counter moves only right after a counter boundary (between_boundaries in
# agent_lib.sh), so each advance lands whole in one interval; the job's cgroup CPU time jumps by
# far more than the interval's CPU capacity in that same interval, so the job's CPU share is
# exactly 1 whatever the interval's real length. Power gauges (energy / real interval length) are
# not deterministic while energy moves; the golden is taken one full interval after the last
# advance, when every power is exactly 0, and the non-zero power of the advanced interval is
# checked separately against a generous range.
# promtool and prometheus come from Debian's `prometheus` package; without them those parts are
# skipped (saying so), except under CI=true, where they fail.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"
GOLDEN="$SRC/tests/fixtures/metrics/agent-golden.prom"
CG=/system.slice/slurmstepd.scope/job_77
J="$T/state/journal.json"  # rewritten by the agent after every boundary

make_node
make_cgroup "$CG" 5000000
start_agent

# --- Prometheus starts early (it takes a few seconds) and scrapes the agent every second.
PROM_PORT=""
if command -v prometheus >/dev/null; then
  PROM_PORT=$(free_port)
  cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: jobcarbond
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
YML
  prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$T/prometheus.log" 2>&1 &
  PIDS_TO_KILL+=($!)
elif [[ "${CI:-}" == true ]]; then
  fail "prometheus is not installed (CI=true): apt-get install prometheus"
fi

# --- Idle: package-0 +10 J, GPU 0 +2 J (2000 mJ) while no job runs: idle and unallocated.
tool between_boundaries "$J" "$PKG0+10000000" "$GPU0_STATE+2000" || fail "idle advance"
tool wait_metrics "$METRICS" 10 \
  's["jobcarbon_node_idle_energy_joules_total{domain=\"cpu\"}"] == "10" and s["jobcarbon_node_idle_energy_joules_total{domain=\"gpu\"}"] == "2"' \
  >"$T/idle.prom" || fail "idle energy not seen"
ok "idle energy: 10 J CPU, 2 J GPU"

# --- The job: GPU 1, its cgroup. Then, in one interval: its CPU time +10^10 µs (capacity of a
# ~1 s interval on the fixture's 4 CPUs is ~4*10^6 µs, so its share is capped at exactly 1),
# package-0 +30 J, its DRAM +4 J, package-1 +20.000001 J, its DRAM +6.000123 J (exact printing of
# µJ), GPU 1 +100 J (the job's), GPU 0 +7 J (nobody's: unallocated).
tool send "$SOCK" "$(job_start_msg 77 "$GPU1" "$CG")" >"$T/start.txt"
expect_eq "job_start accepted" "$(cat "$T/start.txt")" '{"v":1,"type":"ok"}'
tool between_boundaries "$J" "$CGROUP$CG/cpu.stat+10000000000" "$PKG0+30000000" \
  "$DRAM0+4000000" "$PKG1+20000001" "$DRAM1+6000123" "$GPU1_STATE+100000" "$GPU0_STATE+7000" ||
  fail "job advance"
# Job: 30 + 4 + 20.000001 + 6.000123 + 100 = 160.000124 J. Wait also for a further boundary with
# no change, where every power gauge is exactly 0.
SEEN="$T/seen.json" tool wait_metrics "$METRICS" 10 \
  's["jobcarbon_job_energy_joules_total{cluster=\"c1\",job_id=\"77\",step=\"batch\",user=\"root\",account=\"vision\"}"] == "160.000124" and all(v == "0" for k, v in s.items() if k.startswith("jobcarbon_node_power_watts"))' \
  >"$T/metrics.prom" || fail "the job's energy was not seen"
ok "job energy 160.000124 J on /metrics"

# a. The golden file, with the values that vary run to run masked (their series stay).
sed -E 's/^((process_cpu_seconds_total|process_resident_memory_bytes|jobcarbon_sensor_read_duration_seconds)(\{[^}]*\})?) .*/\1 <varies>/' \
  "$T/metrics.prom" >"$T/masked.prom"
diff -u "$GOLDEN" "$T/masked.prom" >"$T/golden.diff" || { cat "$T/golden.diff" >&2; fail "/metrics differs from $GOLDEN"; }
ok "/metrics matches the golden file"
# The interval that carried package-0's 30 J lasted about one counter interval (1 s): its power
# was seen on /metrics for that interval. 10..90 W allows intervals of 0.33..3 s (a loaded CI).
pkg0_power=$(json "$T/seen.json" 'j["jobcarbon_node_power_watts{sensor=\"rapl\",channel=\"rapl:intel-rapl:0\",domain=\"cpu\",label=\"package-0\"}"]')
expect_eq "package-0 power of the advanced interval within 10..90 W (was $pkg0_power)" \
  "$("$PY" -c "print(10 <= $pkg0_power <= 90)")" True

# b. promtool on the real output.
if command -v promtool >/dev/null; then
  promtool check metrics <"$T/metrics.prom" >"$T/promtool.txt" 2>&1 || { cat "$T/promtool.txt" >&2; fail "promtool check metrics"; }
  [[ ! -s "$T/promtool.txt" ]] || { cat "$T/promtool.txt" >&2; fail "promtool check metrics has findings"; }
  ok "promtool check metrics: exit 0, no findings"
elif [[ "${CI:-}" == true ]]; then
  fail "promtool is not installed (CI=true): apt-get install prometheus"
else
  echo "SKIP: promtool check metrics: promtool is not installed (apt-get install prometheus)"
fi

# c. Prometheus' query API returns the job's exact joules (scraped within 30 s).
if [[ -n "$PROM_PORT" ]]; then
  "$PY" - "$PROM_PORT" >"$T/prom-query.txt" 2>&1 <<'EOF' || { cat "$T/prom-query.txt" "$T/prometheus.log" >&2; fail "Prometheus query"; }
import json, sys, time, urllib.parse, urllib.request
q = 'jobcarbon_job_energy_joules_total{job_id="77"}'
url = f"http://127.0.0.1:{sys.argv[1]}/api/v1/query?" + urllib.parse.urlencode({"query": q})
deadline = time.monotonic() + 30
last = None
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            last = json.load(r)
        res = last["data"]["result"]
        if len(res) == 1 and res[0]["value"][1] == "160.000124":
            m = res[0]["metric"]
            print(m["job"], m["instance"].startswith("127.0.0.1:"), m["user"], res[0]["value"][1])
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
print("last answer:", last)
sys.exit(1)
EOF
  expect_eq "Prometheus scraped the job's exact energy" "$(cat "$T/prom-query.txt")" "jobcarbond True root 160.000124"
else
  echo "SKIP: real Prometheus scrape: prometheus is not installed (apt-get install prometheus)"
fi

# d. Fuzz the socket and the HTTP endpoint. One Python process keeps 50 idle socket connections
# and 3 slowloris HTTP requests open while it checks that the agent still samples (GPU 1 +5 J,
# written any time: the GPU is the job's whole) and answers /metrics in under 1 s.
"$PY" - "$SOCK" "$PORT" "$GPU1_STATE" "$T/agent_tool.py" >"$T/fuzz.txt" 2>&1 <<'EOF' || { cat "$T/fuzz.txt" >&2; fail "fuzz"; }
import json, os, socket, sys, time, urllib.request
sock_path, port, gpu1_state, tool_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.argv = [tool_path, "none"]
tool = {}
exec(compile(open(tool_path).read().replace("\nmain()\n", "\n"), tool_path, "exec"), tool)

def connect():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock_path)
    return s

def reply_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf.decode()

def expect_error(what, payload, code):
    s = connect()
    s.sendall(payload)
    line = reply_line(s)
    s.close()
    r = json.loads(line)
    assert r["type"] == "error" and r["code"] == code, f"{what}: {line!r}"
    print(f"{what}: {code}: {r['message']}")

expect_error("garbage bytes", b"\x00\xff\xfe\x01garbage\n", "malformed")
expect_error("invalid JSON", b'{"v":1,"type":\n', "malformed")
expect_error("not an object", b"[1,2,3]\n", "malformed")
expect_error("wrong version", b'{"v":2,"type":"status"}\n', "unsupported_version")
start = {"v": 1, "type": "job_start", "cluster": "c1", "job_id": "78",
         "submit_time_us": 1790000000000000, "step": "batch", "user": "root", "uid": 0,
         "colour": "blue"}
expect_error("job_start with an unknown field", json.dumps(start).encode() + b"\n", "invalid_field")
expect_error("unknown type", b'{"v":1,"type":"reboot"}\n', "unknown_type")
expect_error("a reply sent to the agent", b'{"v":1,"type":"ok"}\n', "forbidden")

# Oversized: 100 KiB without a newline is answered once with too_long; the rest of the line up
# to its newline is dropped, and the same connection then works.
s = connect()
s.sendall(b"x" * (100 * 1024))
line = reply_line(s)
assert json.loads(line)["code"] == "too_long", line
s.sendall(b"y" * 1000 + b"\n" + b'{"v":1,"type":"status"}\n')
line = reply_line(s)
assert json.loads(line)["type"] == "status_reply", line
s.close()
print("oversized line: too_long once, then the connection works")

# Half-sent line, then the client closes its side: nothing is registered from it and the agent
# does not hang. docs/agent-protocol.md says such a line is dropped; the agent answers it with an
# error line saying "truncated" (under the code too_long: reported to the lead as a mismatch with
# the documentation). Either is accepted here; anything else is not.
s = connect()
s.sendall(b'{"v":1,"type":"status"')
s.shutdown(socket.SHUT_WR)
rest = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    rest += chunk
s.close()
print("half-sent line then close: reply", rest.decode().strip() or "(none)")
for l in rest.decode().splitlines():
    r = json.loads(l)
    assert r["type"] == "error" and "truncated" in r["message"], rest

# 50 idle connections, kept open, plus one that sent half a line; and HTTP abuse.
idle = [connect() for _ in range(50)]
half = connect()
half.sendall(b'{"v":1,"type":')

def http_raw(data, wait=3):
    c = socket.create_connection(("127.0.0.1", port), timeout=wait)
    try:
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError as e:  # a reset is an acceptable answer to garbage
        out = f"({e.__class__.__name__})".encode()
    finally:
        c.close()
    return out.split(b"\r\n", 1)[0].decode(errors="replace")

first = http_raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (256 * 1024) + b"\r\n\r\n")
assert not first.startswith("HTTP/1.1 200"), first
print("huge header:", first or "(closed)")
first = http_raw(b"\x16\x03\x01\x02\x00garbage garbage\r\n\r\n")
assert not first.startswith("HTTP/1.1 200"), first
print("garbage request line:", first or "(closed)")
slow = []
for _ in range(3):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    slow.append(c)

# Still sampling: GPU 1 +5 J is picked up (165.000124 J), and every /metrics fetch meanwhile
# takes under 1 s.
tool["apply"](gpu1_state + "+5000")
key = 'jobcarbon_job_energy_joules_total{cluster="c1",job_id="77",step="batch",user="root",account="vision"}'
deadline = time.monotonic() + 10
slowest = 0.0
while True:
    t0 = time.monotonic()
    body = tool["fetch"](f"http://127.0.0.1:{port}/metrics", timeout=5)[2]
    slowest = max(slowest, time.monotonic() - t0)
    if tool["samples"](body).get(key) == "165.000124":
        break
    assert time.monotonic() < deadline, "GPU 1's +5 J not picked up in 10 s"
    time.sleep(0.05)
assert slowest < 1.0, f"/metrics took {slowest:.3f} s"
s = connect()
s.sendall(b'{"v":1,"type":"status"}\n')
r = json.loads(reply_line(s))
assert [j["energy_uj"] for j in r["jobs"]] == [165000124], r
s.close()
print(f"still sampling: 165.000124 J with 50 idle connections open; slowest /metrics {slowest:.3f} s")
for c in idle + [half] + slow:
    c.close()
EOF
cat "$T/fuzz.txt"
ok "fuzzed socket and HTTP endpoint: errors answered, sampling went on"
kill -0 "$AGENT_PID" || fail "the agent died"

# e. job_end: the series leave /metrics, the ledger gets the record with the same energy.
tool send "$SOCK" "$(job_end_msg 77)" >"$T/end.txt"
expect_ended "job_end accepted" "$T/end.txt"
tool metrics "$METRICS" >"$T/after.prom"
expect_eq "no series of the job after its end" "$(grep -c 'job_id="77"' "$T/after.prom" || true)" 0
expect_contains "the family stays listed" "$T/after.prom" "# TYPE jobcarbon_job_energy_joules_total counter"
for _ in $(seq 100); do
  "$JOBCARBON" jobs --ledger "$LEDGER" --format json >"$T/jobs.json" 2>"$T/jobs.err" || true
  [[ "$(json "$T/jobs.json" 'len(j)' 2>/dev/null)" == 1 ]] && break
  sleep 0.1
done
expect_eq "the ledger holds one record" "$(json "$T/jobs.json" 'len(j)')" 1
"$JOBCARBON" show 77 --ledger "$LEDGER" --json >"$T/show.json"
expect_eq "its record: the energy last seen on /metrics (uJ), exit code" \
  "$(json "$T/jobs.json" '[(r["job_id"], r["node"], r["step"], r["energy_uj"], r["exit_code"]) for r in j]')" \
  "[('77', 'n1', 'batch', 165000124, 0)]"
# By domain: GPU 1's 100 + 5 J, the CPU packages' 30 + 20.000001 J and the DRAM's 4 + 6.000123 J
# (CPU share 1); GPU 0's 7 J while the job ran is the record's unallocated part.
expect_eq "its record by domain: charged gpu/cpu/dram, unallocated gpu (uJ)" \
  "$(json "$T/show.json" '[(c["gpu"], c["cpu"], c["dram"], r["report"]["energy_uj"]["unallocated"]["gpu"]) for r in j["records"] for c in [r["report"]["energy_uj"]["charged"]]]')" \
  "[(105000000, 50000001, 10000123, 7000000)]"
stop_agent
finish
