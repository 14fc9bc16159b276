#!/usr/bin/env bash
# `jobcarbon run` with a node agent on the machine: the run registers with jobcarbond instead of
# reading the sensors (one reader per node), its report is the agent's, the record is written
# once (by the agent), a run inside a job the agent meters is a sub-record of that job, and an
# ordinary user may register only their own processes.
source "$(dirname "$0")/lib.sh"
: "${JOBCARBOND:?JOBCARBOND must name the jobcarbond binary}"

root=$(fixture intel-1socket-near-wrap)
pkg="$root/class/powercap/intel-rapl:0/energy_uj"
sock="$T/agent.sock"
cat >"$T/agent.toml" <<EOF
intensity = 0.5
pue = 1.5
agent-socket = "$sock"
state-dir = "$T/state"
metrics-address = "none"
counter-interval = 0.2
journal-interval = 0
running-update-interval = 1
powercap-root = "$root/class/powercap"
hwmon-root = "$T/none"
nvml-lib = "$T/no-nvml.so"
node-name = "n1"
cluster = "c1"
ledger = "$T/agent.db"
EOF
"$JOBCARBOND" --config "$T/agent.toml" 2>"$T/agent.log" &
agent=$!
trap 'kill $agent 2>/dev/null; wait $agent 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do [[ -S "$sock" ]] && break; sleep 0.1; done
[[ -S "$sock" ]] || { cat "$T/agent.log"; fail "the agent did not start"; }

# --- an exclusive run as root: charged the exact counter delta, by the agent.
start=$(cat "$pkg")
"$JOBCARBON" run --exclusive --agent-socket "$sock" --ledger "$T/own.db" --json "$T/run.json" \
  -- sh -c "sleep 0.3; echo $((start + 4000000)) > '$pkg'; sleep 0.3" 2>"$T/run.txt"
expect_eq "charged the exact package delta (uJ)" "$(json "$T/run.json" "j['domains_uj']['cpu']")" 4000000
expect_contains "the report says the agent measured it" "$T/run.txt" "measured by the node agent (jobcarbond)"
expect_contains "and that the agent keeps the record" "$T/run.txt" "recorded by the node agent in its ledger"
"$JOBCARBON" jobs --ledger "$T/agent.db" --format json >"$T/agent-jobs.json"
expect_eq "the agent's ledger holds the run once" \
  "$(json "$T/agent-jobs.json" "[(r['job_id'] == '$(json "$T/run.json" "j['job_id']")', r['domains_uj']['cpu'], r['energy_uj'] == $(json "$T/run.json" "j['energy_uj']")) for r in j]")" \
  "[(True, 4000000, True)]"
"$JOBCARBON" jobs --ledger "$T/own.db" --format json >"$T/own-jobs.json"
expect_eq "the run's own ledger does not count it again" "$(json "$T/own-jobs.json" "len(j)")" 0

# --- a run inside a job the agent meters (registered by its processes: a batch shell) is a
# sub-record: its share of that job, no record of its own; the job's record has all the energy.
cat >"$T/send.py" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
print(s.makefile().readline().strip())
EOF
now_us() { "$PY" -c 'import time; print(int(time.time() * 1e6))'; }
key='"cluster":"c1","job_id":"500","submit_time_us":'$(now_us)',"step":"batch"'
start=$(cat "$pkg")
burn="import time; t=time.time()
while time.time() - t < 0.6: pass
open('$pkg', 'w').write('$((start + 6000000))')
t=time.time()
while time.time() - t < 0.3: pass"
(
  # This subshell is the batch job's root process; the experiment below is its descendant.
  batch=$BASHPID # (read here: inside $(...) it would be the substitution's own pid)
  reply=$("$PY" "$T/send.py" "$sock" "{\"v\":1,\"type\":\"job_start\",$key,\"user\":\"root\",\"uid\":0,\"account\":\"vision\",\"exclusive\":true,\"pids\":[$batch]}")
  [[ "$reply" == '{"v":1,"type":"ok"}' ]] || fail "batch job registration: $reply"
  "$JOBCARBON" run --agent-socket "$sock" --ledger "$T/own.db" --json "$T/sub.json" \
    -- "$PY" -c "$burn" 2>"$T/sub.txt"
  "$PY" "$T/send.py" "$sock" "{\"v\":1,\"type\":\"job_end\",$key,\"exit_code\":0,\"end_time_us\":$(now_us)}" >"$T/end.json"
)
expect_contains "the experiment is a sub-record of job 500" "$T/sub.txt" "an experiment inside job 500"
expect_contains "not charged again" "$T/sub.txt" "part of job 500's record"
sub=$(json "$T/sub.json" "j['energy_uj']")
expect_eq "the experiment's share is part of the job's energy" \
  "$(json "$T/end.json" "0 < $sub <= sum(j['domains_uj'].values()) and j['domains_uj']['cpu'] == 6000000")" True
"$JOBCARBON" jobs --ledger "$T/agent.db" --format json >"$T/agent-jobs.json"
expect_eq "the ledger holds job 500 once, with all its energy, and no record for the experiment" \
  "$(json "$T/agent-jobs.json" "sorted((r['job_id'] == '500', r['domains_uj']['cpu']) for r in j)")" \
  "[(False, 4000000), (True, 6000000)]"

# --- an ordinary user registers their own processes: no GPUs, account or whole node may be
# claimed (the run still works: it is charged by CPU time), and status shows them only their jobs.
chmod 755 "$T"
mkdir -m 777 "$T/nobody"
setpriv --reuid=65534 --regid=65534 --clear-groups \
  "$JOBCARBON" run --agent-socket "$sock" --no-ledger --account vision --json "$T/nobody/user.json" \
  -- sleep 0.3 2>"$T/user.txt" || { cat "$T/user.txt"; fail "run as nobody"; }
expect_contains "an ordinary user's run is metered by the agent" "$T/user.txt" "measured by the node agent"
"$JOBCARBON" jobs --ledger "$T/agent.db" --format json >"$T/agent-jobs.json"
expect_eq "recorded without the account it could not claim" \
  "$(json "$T/agent-jobs.json" "[r['account'] for r in j if r['user'] == 'nobody']")" "['']"

# --- a running job's provisional usage reaches the ledger about every running-update-interval,
# so budgets see it; the final record replaces it.
key='"cluster":"c1","job_id":"600","submit_time_us":'$(now_us)',"step":"batch"'
sleep 30 &
long=$!
"$PY" "$T/send.py" "$sock" "{\"v\":1,\"type\":\"job_start\",$key,\"user\":\"root\",\"uid\":0,\"account\":\"vision\",\"exclusive\":true,\"pids\":[$long]}" >/dev/null
start=$(cat "$pkg")
echo $((start + 2000000)) >"$pkg"
running=0
for _ in $(seq 50); do
  running=$("$JOBCARBON" jobs --running --ledger "$T/agent.db" --format json |
    "$PY" -c 'import json,sys; print(sum(r["energy_uj"] for r in json.load(sys.stdin) if r["job_id"] == "600"))')
  [[ $running -ge 2000000 ]] && break
  sleep 0.2
done
expect_eq "the running job's usage so far is in the ledger" "$((running >= 2000000))" 1
"$PY" "$T/send.py" "$sock" "{\"v\":1,\"type\":\"job_end\",$key,\"exit_code\":0,\"end_time_us\":$(now_us)}" >/dev/null
kill $long
expect_eq "and leaves the running list when the job ends" \
  "$("$JOBCARBON" jobs --running --ledger "$T/agent.db" --format json | "$PY" -c 'import json,sys; print([r["job_id"] for r in json.load(sys.stdin)])')" "[]"

# --- with no agent listening the run measures itself, as before.
"$JOBCARBON" run --agent-socket "$T/nowhere.sock" --ledger "$T/own.db" --json "$T/self.json" \
  --powercap-root "$root/class/powercap" --hwmon-root "$T/none" --nvml-lib "$T/no-nvml.so" \
  -- true 2>"$T/self.txt"
expect_eq "measured by itself without an agent" "$(json "$T/self.json" "'node agent' in j['scope']")" False
expect_eq "and recorded in its own ledger" "$("$JOBCARBON" jobs --ledger "$T/own.db" --format json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')" 1
finish
