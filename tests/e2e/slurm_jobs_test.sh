#!/usr/bin/env bash
# Slurm jobs measured by the node agents (issue #5): a real Slurm cluster on this host with two
# emulated nodes, each with its own jobcarbond reading its own fixture sensors (RAPL copy, two fake
# NVML GPUs), registered by the Prolog/Epilog (deploy/slurm/prolog.sh). A 1-GPU job is recorded
# with its user, account, node and GPU, charged exactly its GPU's counter delta; a 2-node job has
# one record per node, each its own node's delta, summing to the job's total. The ledger is on
# PostgreSQL: a private server of this test (pg_private.sh), written by the agents and read by the
# submission hook and `jobcarbon jobs/show`.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pg_private.sh"
source "$(dirname "$0")/slurm_lib.sh"
: "${JOBCARBOND:?JOBCARBOND must name the jobcarbond binary}"

require_slurm_and_postgres

CLUSTER="$T/slurm"
PG="$T/pg"
cd "$T" # jobs without -o write slurm-N.out where sbatch runs
agents=()
cleanup() {
  bash "$SRC/scripts/start-slurm.sh" "$CLUSTER" --stop
  for a in "${agents[@]}"; do kill "$a" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg_private_stop "$PG" || true
  rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T" # slurmd's jobs and the postgres user enter it
pg_port=$(free_port)
pg_private_start "$PG" "$pg_port" || fail "the private PostgreSQL server did not start"
L=$(pg_private_url "$pg_port")
ok "the ledger is a private PostgreSQL server ($L)"
export PATH="$(dirname "$JOBCARBON"):$PATH"

# --- one agent per emulated node, each on its own fixture sensors; one shared ledger.
start_node_agents "$L" fixture 2 "" n1 n2

printf 'ledger = "%s"\nintensity = 0.4\n' "$L" >"$T/jobcarbon.toml"
"$JOBCARBON" budget set --ledger "$L" --account vision --year "$(date +%Y)" --limit 2t >/dev/null
printf 'jobcarbon = %s\nconfig = %s\ntimeout = 5\non_error = open\n' "$JOBCARBON" "$T/jobcarbon.toml" >"$T/submit.conf"
bash "$SRC/scripts/start-slurm.sh" "$CLUSTER" --nodes 2 --gpus 2 --port "$(free_port)" \
  --submit-settings "$T/submit.conf" --agent-sockets "$T/nodes/%n/agent.sock" --event-args "--config $T/jobcarbon.toml" >"$T/start.log" 2>&1 ||
  { cat "$T/start.log"; fail "the Slurm cluster did not start"; }
export SLURM_CONF="$CLUSTER/slurm.conf"

write_advance_script

# --- 1. a 1-GPU job on n1: sleep so that the Prolog's registration is read before the advance.
job=$(sbatch --parsable -A Vision -w n1 --gres=gpu:1 -t 5 -o "$T/job1.out" \
  --wrap "sleep 1.2; $T/advance.sh 123456; sleep 1.2")
wait_records "$L" "$job" 1
r="[r for r in j if r['job_id'] == '$job'][0]"
expect_eq "recorded for its user, account, node and step" \
  "$(json "$T/records.json" "($r['user'], $r['account'], $r['node'], $r['step'], $r['cluster'])")" \
  "('root', 'vision', 'n1', 'job', 'jctest')"
expect_eq "with its GPU" "$(json "$T/records.json" "($r['gpu_count'], $r['gpu_model'])")" "(1, 'NVIDIA H100 80GB HBM3')"
expect_eq "charged exactly its GPU's counter delta (uJ)" "$(json "$T/records.json" "$r['domains_uj']['gpu']")" 123456000
# The user reads the job's energy, CO2 and the account's budget at the end of its output.
for _ in $(seq 50); do grep -q 'jobcarbon: details' "$T/job1.out" 2>/dev/null && break; sleep 0.1; done
expect_contains "the job's output ends with its energy and CO2" "$T/job1.out" "jobcarbon: job $job on n1: "
expect_contains "with equivalents" "$T/job1.out" "household-days"
# (this job counts once its record is in the ledger, which may be just after the Epilog reads it)
grep -Eq "^jobcarbon: budget: Account vision has used (0 kg|13\.7 mg) of its 2000 kg CO2 budget for $(date +%Y) \(0%, running jobs included\)\.$" "$T/job1.out" ||
  { cat "$T/job1.out" >&2; fail "the account's budget standing for the year is not at the end of the output"; }
ok "and the account's budget standing for the year"

# --- 2. a 2-node job: one record per node, each that node's delta, summing to the job's total.
job=$(sbatch --parsable -A vision -N 2 --gres=gpu:1 -t 5 -o "$T/job2.out" \
  --wrap "sleep 1.2; srun -N 2 sh -c 'if [ \$SLURMD_NODENAME = n1 ]; then $T/advance.sh 5000; else $T/advance.sh 7000; fi'; sleep 1.2")
wait_records "$L" "$job" 2
expect_eq "one record per node, each its own node's GPU delta (uJ)" \
  "$(json "$T/records.json" "sorted((r['node'], r['domains_uj']['gpu']) for r in j if r['job_id'] == '$job')")" \
  "[('n1', 5000000), ('n2', 7000000)]"
"$JOBCARBON" show "$job" --ledger "$L" >"$T/show.txt"
expect_contains "jobcarbon show lists both nodes" "$T/show.txt" "n2"
finish
