#!/usr/bin/env bash
# Slurm steps measured by the node agents (issue #5): a real Slurm cluster on this host with two
# emulated nodes and job cgroups (proctrack/cgroup), each node with its own jobcarbond on its own
# fixture sensors (RAPL copy, two fake NVML GPUs). The Prolog/Epilog register each job on each
# node (step "job"); the SPANK plugin (spank_jobcarbon.so) registers each step, which the agent
# makes a sub-record of the job. A batch job with two srun steps: the ledger holds one charged
# record (the job's, with its GPU's exact counter delta, once) and, apart, the steps' records
# (batch, 0, 1, with their exit codes) whose shares never add up to more than the job's energy;
# each srun step's line reaches the job's output through srun's stderr. An srun with its own
# allocation on two nodes prints a line per node on its stderr, and has a step record per node.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pg_private.sh"
source "$(dirname "$0")/slurm_lib.sh"
: "${JOBCARBOND:?JOBCARBOND must name the jobcarbond binary}"

require_slurm_and_postgres
PLUGIN="$BUILD/src/slurm_plugin/spank_jobcarbon.so"
if [[ ! -f $PLUGIN ]]; then
  [[ -f /usr/include/slurm/spank.h ]] && fail "$PLUGIN is not built (make spank_jobcarbon)"
  skip_unless_ci "slurm/spank.h is missing (libslurm-dev), so spank_jobcarbon.so is not built"
fi
if [[ ! -d /sys/fs/cgroup/freezer && ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
  skip_unless_ci "no cgroup file system for Slurm's job cgroups"
fi

CLUSTER="$T/slurm"
cd "$T" || exit 1 # jobs without -o write slurm-N.out where sbatch runs
agents=()
cleanup() {
  bash "$SRC/scripts/start-slurm.sh" "$CLUSTER" --stop
  pg_private_stop "$T/pg" || true
  for a in "${agents[@]}"; do kill "$a" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"
PATH="$(dirname "$JOBCARBON"):$PATH"
export PATH
pg_port=$(free_port)
pg_private_start "$T/pg" "$pg_port" || fail "the private PostgreSQL server did not start"
L=$(pg_private_url "$pg_port")

# --- one agent per emulated node on its own fixture sensors, reading the host's cgroups (the
# jobs' and steps' CPU time); one shared ledger.
start_node_agents "$L" /sys/fs/cgroup 2 "" n1 n2

printf 'ledger = "%s"\nintensity = 0.4\n' "$L" >"$T/jobcarbon.toml"
bash "$SRC/scripts/start-slurm.sh" "$CLUSTER" --nodes 2 --gpus 2 --port "$(free_port)" --no-submit-hook \
  --cgroup --spank "$PLUGIN" --agent-sockets "$T/nodes/%n/agent.sock" \
  --event-args "--config $T/jobcarbon.toml" >"$T/start.log" 2>&1 ||
  { cat "$T/start.log"; fail "the Slurm cluster did not start"; }
export SLURM_CONF="$CLUSTER/slurm.conf"
expect_contains "plugstack.conf loads the plugin with the agents' sockets" "$CLUSTER/plugstack.conf" \
  "optional $PLUGIN jobcarbon=$JOBCARBON notify=1 socket=$T/nodes/%n/agent.sock config=$T/jobcarbon.toml"

write_advance_script

# step_uj FILE JOB STEP NODE: the energy (µJ, from the line's Wh) of that step's line in FILE.
step_uj() {
  "$PY" - "$@" <<'EOF'
import re, sys
path, job, step, node = sys.argv[1:]
pat = re.compile(r"jobcarbon: step %s\.%s on %s: ([0-9.e+-]+) (k?Wh), " % (re.escape(job), re.escape(step), node))
found = [m for m in map(pat.search, open(path, errors="replace")) if m]
if len(found) != 1:
    sys.exit("%d lines for step %s.%s on %s in %s" % (len(found), job, step, node, path))
value, unit = found[0].groups()
print(round(float(value) * (3.6e12 if unit == "kWh" else 3.6e9)))
EOF
}

# --- 1. a batch job with two srun steps on n1.
job=$(sbatch --parsable -A vision -w n1 -n1 --gres=gpu:1 -t 5 -o "$T/steps.out" \
  --wrap "sleep 0.6; srun -n1 $T/advance.sh 5000; sleep 0.6; srun -n1 sh -c '$T/advance.sh 7000; exit 3'; sleep 0.6")
wait_records "$L" "$job" 1
sleep 1 # a second record, if any were written, would be there by now
wait_records "$L" "$job" 1
expect_eq "one record in the ledger: the job's on n1, charged once" \
  "$(json "$T/records.json" "[(r['node'], r['step']) for r in j if r['job_id'] == '$job']")" "[('n1', 'job')]"
expect_eq "holding its GPU's exact counter delta (uJ)" \
  "$(json "$T/records.json" "[r['domains_uj']['gpu'] for r in j if r['job_id'] == '$job']")" "[12000000]"
"$JOBCARBON" show "$job" --ledger "$L" --json >"$T/show.json"
expect_eq "jobcarbon show's total is that delta, not more" "$(json "$T/show.json" "j['totals']['domains_uj']['gpu']")" 12000000
job_uj=$(json "$T/records.json" "[r['energy_uj'] for r in j if r['job_id'] == '$job'][0]")
# Each step's share, as the plugin logged it on the node (slurmd's log): by CPU time, read from
# the job's and the steps' cgroups.
log="$CLUSTER/log/slurmd-n1.log"
for _ in $(seq 30); do grep -q "jobcarbon: step $job.batch on n1" "$log" && break; sleep 0.1; done
declare -A line_uj
for s in batch 0 1; do
  line_uj[$s]=$(step_uj "$log" "$job" "$s" n1) || { grep -h jobcarbon "$CLUSTER"/log/slurmd-n*.log >&2; fail "step $s of job $job: no line"; }
  ok "step $s of job $job on n1: one line in slurmd's log, ${line_uj[$s]} uJ"
done
# The ledger keeps the steps apart from the job's record (never in its totals), each with its
# exact share and exit code (step 1's task exited with 3), as the plugin's lines said.
expect_eq "the ledger has the job's steps on n1: batch, 0, 1" \
  "$(json "$T/show.json" "sorted((s['node'], s['step'], s['exit_code']) for s in j['steps'])")" \
  "[('n1', '0', 0), ('n1', '1', 3), ('n1', 'batch', 0)]"
"$PY" - "$T/show.json" "$job_uj" "${line_uj[batch]}" "${line_uj[0]}" "${line_uj[1]}" <<'EOF' || fail "the ledger's steps do not match"
import json, sys
j = json.load(open(sys.argv[1]))
job_uj = int(sys.argv[2])
shown = dict(zip(["batch", "0", "1"], map(int, sys.argv[3:])))
steps = {s["step"]: s["energy_uj"] for s in j["steps"]}
# A step's cgroup is read a moment after the job's: 1 % is allowed for what ran in between.
if not 0 < sum(steps.values()) <= job_uj:
    sys.exit("steps %s add up to more than the job's %d uJ" % (steps, job_uj))
for s, uj in steps.items():  # the lines round to four digits
    if abs(uj - shown[s]) > max(1, uj) * 1e-3:
        sys.exit("step %s: %d uJ in the ledger, %d uJ on its line" % (s, uj, shown[s]))
EOF
ok "the ledger's step records are the lines' shares, adding up to at most the job's"
# The user reads each srun step's line in the job's output (srun's stderr); the batch step has
# the Epilog's lines there instead.
for _ in $(seq 50); do grep -q 'jobcarbon: details' "$T/steps.out" 2>/dev/null && break; sleep 0.1; done
expect_contains "step 0's line is in the job's output" "$T/steps.out" "jobcarbon: step $job.0 on n1: "
expect_contains "step 1's line too" "$T/steps.out" "jobcarbon: step $job.1 on n1: "
expect_contains "naming the job's record" "$T/steps.out" "its share of job $job's record; jobcarbon show $job)"
expect_contains "and the Epilog's job lines follow" "$T/steps.out" "jobcarbon: job $job on n1: "
if grep -q "step $job.batch" "$T/steps.out"; then fail "the batch step's line is in the job's output"; fi
ok "no line for the batch step in the job's output"

# --- 2. srun with its own allocation on both nodes: a line per node on its stderr.
srun -A vision -N2 --gres=gpu:1 -t 5 sh -c "sleep 0.3; if [ \$SLURMD_NODENAME = n1 ]; then $T/advance.sh 3000; else $T/advance.sh 4000; fi; sleep 0.6" \
  >"$T/srun.out" 2>"$T/srun.err" || { cat "$T/srun.err"; fail "srun failed"; }
expect_contains "srun's stderr has the step's line for n1" "$T/srun.err" " on n1: "
expect_contains "and for n2" "$T/srun.err" " on n2: "
job2=$(sed -n 's/^jobcarbon: step \([0-9]*\)\.0 on n1: .*/\1/p' "$T/srun.err")
[[ -n $job2 ]] || fail "no job id in srun's line: $(cat "$T/srun.err")"
wait_records "$L" "$job2" 2
expect_eq "the job has a record per node, each its node's GPU delta (uJ)" \
  "$(json "$T/records.json" "sorted((r['node'], r['step'], r['domains_uj']['gpu']) for r in j if r['job_id'] == '$job2')")" \
  "[('n1', 'job', 3000000), ('n2', 'job', 4000000)]"
"$JOBCARBON" show "$job2" --ledger "$L" --json >"$T/show2.json"
expect_eq "and its step 0 on each node, apart" \
  "$(json "$T/show2.json" "sorted((s['node'], s['step']) for s in j['steps'])")" "[('n1', '0'), ('n2', '0')]"
for n in n1 n2; do
  uj=$(json "$T/show2.json" "[s['energy_uj'] for s in j['steps'] if s['node'] == '$n'][0]")
  line=$(step_uj "$T/srun.err" "$job2" 0 "$n")
  rec=$(json "$T/records.json" "[r['energy_uj'] for r in j if r['job_id'] == '$job2' and r['node'] == '$n'][0]")
  "$PY" -c "import sys; sys.exit(0 if 0 < $uj <= $rec and abs($uj - $line) <= $uj*1e-3 else 1)" ||
    fail "step 0 on $n: $uj uJ (line: $line uJ), the job's $rec uJ there"
  ok "step $job2.0 on $n: $uj uJ as its line says, at most the job's $rec uJ there"
done
finish
