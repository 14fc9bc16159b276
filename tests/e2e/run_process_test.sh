#!/usr/bin/env bash
# jobcarbon run as a process supervisor: exit codes as a shell reports them, signals passed on
# to the command, a record even when the command is killed, CPU time of daemonised descendants
# charged, the live line only on a terminal.
source "$(dirname "$0")/lib.sh"
common=(--intensity 0.3 --ledger "$T/ledger.db" --powercap-root "$T/none" --hwmon-root "$T/none"
        --nvml-lib "$T/no-nvml.so")

status() { set +e; "$@"; local s=$?; set -e; echo "$s"; }

expect_eq "exit status of the command" "$(status "$JOBCARBON" run "${common[@]}" -q -- sh -c 'exit 3')" 3
expect_eq "true exits 0" "$(status "$JOBCARBON" run "${common[@]}" -q -- true)" 0
expect_eq "killed by SIGKILL: 128+9" \
  "$(status "$JOBCARBON" run "${common[@]}" --json "$T/killed.json" -q -- sh -c 'kill -9 $$')" 137
expect_eq "a killed command still gets its report" "$(json "$T/killed.json" "j['exit_code']")" 137
expect_eq "command not found: 127" \
  "$(status "$JOBCARBON" run "${common[@]}" -- no-such-command-here 2>"$T/nf.txt")" 127
expect_contains "not-found message" "$T/nf.txt" "no-such-command-here: command not found"
expect_eq "not executable: 126" "$(status "$JOBCARBON" run "${common[@]}" -- /etc/hostname 2>/dev/null)" 126

# Signals sent to jobcarbon reach the command: a checkpoint handler saves and exits 0.
cat > "$T/ckpt.py" <<'PY'
import signal, sys, time
def save(signum, frame):
    open(sys.argv[1], "w").write(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGUSR1, save)
signal.signal(signal.SIGTERM, save)
open(sys.argv[1] + ".ready", "w").close()
time.sleep(30)
sys.exit(5)
PY
for sig in USR1 TERM; do
  rm -f "$T/ckpt.out" "$T/ckpt.out.ready"
  "$JOBCARBON" run "${common[@]}" --json "$T/sig.json" -q -- "$PY" "$T/ckpt.py" "$T/ckpt.out" &
  pid=$!
  for _ in $(seq 100); do [[ -e "$T/ckpt.out.ready" ]] && break; sleep 0.1; done
  kill -s "$sig" "$pid"
  set +e
  wait "$pid"
  s=$?
  set -e
  expect_eq "SIG$sig passed on; the command's status returned" "$s" 0
  expect_eq "the command's handler saw SIG$sig" "$(cat "$T/ckpt.out")" "SIG$sig"
done

# A daemonised grandchild (double fork + setsid, re-parented away from its parent) burning CPU
# is charged: jobcarbon is a child subreaper. The command waits for it to finish first.
cat > "$T/daemon.py" <<'PY'
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        end = time.process_time() + 1.0
        while time.process_time() < end:
            pass
        open(sys.argv[1], "w").close()
        os._exit(0)
    os._exit(0)
os.wait()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
time.sleep(0.2)
PY
"$JOBCARBON" run "${common[@]}" --json "$T/daemon.json" -q -- "$PY" "$T/daemon.py" "$T/daemon.done"
expect_eq "daemonised grandchild's CPU time charged (>= 0.9 s)" \
  "$(json "$T/daemon.json" "j['cpu_time_s'] >= 0.9")" True
expect_eq "estimated CPU energy charged for it" \
  "$(json "$T/daemon.json" "j['domains']['estimated_cpu'] > 0 and j['method'] == 'estimated'")" True

# The live line appears on a terminal only.
script -qec "'$JOBCARBON' run ${common[*]} -- sleep 2.5" "$T/tty.log" >/dev/null
expect_contains "live line on a terminal" "$T/tty.log" "jobcarbon 0:00:0"
"$JOBCARBON" run "${common[@]}" -- sleep 1.5 2>"$T/notty.txt"
if grep -qF "jobcarbon 0:00:0" "$T/notty.txt"; then fail "live line written to a file"; fi
ok "no live line when stderr is not a terminal"
finish
