#!/usr/bin/env bash
# The `stop` policy on a real Slurm cluster (issue #5, test 4), with the ledger on PostgreSQL: an account whose running job
# crosses its CO2 limit while it runs (no job of the account has ended yet: the crossing is the
# running job's provisional usage, written by the node agent). The enforcer (`jobcarbon enforce`)
# sends USR1 to the batch shell, the training script (examples/train_digits.py) saves its
# checkpoint, the job is cancelled after the grace period and its record is still written; the
# account's pending job is held, a new submission is refused; once the limit is raised, the held
# job is released and the resubmitted training resumes from its checkpoint.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pg_private.sh"
source "$(dirname "$0")/slurm_lib.sh"
: "${JOBCARBOND:?JOBCARBOND must name the jobcarbond binary}"

require_slurm_and_postgres
if ! "$PY" -c 'import torch' 2>/dev/null; then
  skip_unless_ci "python3-torch is not installed (scripts/install-deps.sh installs it)"
fi

CLUSTER="$T/slurm"
cd "$T"
pids=()
agents=()
cleanup() {
  for p in "${pids[@]}" "${agents[@]}"; do kill "$p" 2>/dev/null || true; done
  bash "$SRC/scripts/start-slurm.sh" "$CLUSTER" --stop
  pg_private_stop "$T/pg" || true
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"
export PATH="$(dirname "$JOBCARBON"):$PATH"
# The ledger: a PostgreSQL server (a private one for this test, as on a cluster).
pg_port=$(free_port)
pg_private_start "$T/pg" "$pg_port" || fail "the private PostgreSQL server did not start"
LEDGER=$(pg_private_url "$pg_port")
year=$(date +%Y)

# --- one node, one fake GPU, its agent writing running jobs' usage every second.
start_node_agents "$LEDGER" fixture 1 "running-update-interval = 1" n1
N="$T/nodes/n1"

printf 'ledger = "%s"\nintensity = 0.4\n' "$LEDGER" >"$T/jobcarbon.toml"
"$JOBCARBON" budget set --ledger "$LEDGER" --account vision --year "$year" --limit 2kg --policy stop >/dev/null
printf 'jobcarbon = %s\nconfig = %s\ntimeout = 5\non_error = open\ncontact = hpc-support@example.org\n' \
  "$JOBCARBON" "$T/jobcarbon.toml" >"$T/submit.conf"
bash "$SRC/scripts/start-slurm.sh" "$CLUSTER" --nodes 1 --gpus 1 --port "$(free_port)" \
  --submit-settings "$T/submit.conf" --agent-sockets "$T/nodes/%n/agent.sock" \
  --event-args "--config $T/jobcarbon.toml" >"$T/start.log" 2>&1 ||
  { cat "$T/start.log"; fail "the Slurm cluster did not start"; }
export SLURM_CONF="$CLUSTER/slurm.conf"

# The enforcer, as on a controller: every second, 6 s of grace.
"$JOBCARBON" enforce --ledger "$LEDGER" --interval 1 --grace 6 --state "$T/enforcer/state.json" \
  2>"$T/enforcer.log" &
pids+=($!)

# The training job: the batch shell passes USR1 on to the training script, which saves its
# checkpoint and exits; then the job goes on (post-processing that ignores the budget), so the
# enforcer must cancel it after the grace period.
cat >"$T/train.sh" <<EOT
#!/bin/bash
#SBATCH -A vision
#SBATCH --gres=gpu:1
#SBATCH -t 10
$PY $SRC/examples/train_digits.py --epochs 60 --threads 1 --checkpoint $T/digits.ckpt &
trainer=\$!
trap 'echo "batch shell: got USR1"; kill -USR1 \$trainer' USR1
wait \$trainer
wait \$trainer
echo "training exited with \$?"
exec sleep 600
EOT
job=$(sbatch --parsable -o "$T/train1.out" "$T/train.sh") || fail "the training job was refused"
# A second job of the account, pending behind the first (the node's one GPU is taken).
pending=$(sbatch --parsable -A vision --gres=gpu:1 -t 5 -o "$T/second.out" --wrap 'echo second job ran')

wait_for() { # SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || { cat "$T/enforcer.log" "$N/agent.log" >&2; fail "$what: not within the time"; }
    sleep 0.2
  done
}
wait_for 40 "training started" grep -qs '^epoch 2/' "$T/train1.out"
# 10 kWh on the job's GPU while it runs: 4 kg at 0.4 kg/kWh, over the 2 kg limit.
read -r e p <"$N/nvml/gpu0.state"
echo "$((e + 36000000000)) $p" >"$N/nvml/gpu0.state.tmp" && mv "$N/nvml/gpu0.state.tmp" "$N/nvml/gpu0.state"

wait_for 20 "the checkpoint signal" grep -qs 'batch shell: got USR1' "$T/train1.out"
expect_contains "the enforcer says why it signalled" "$T/enforcer.log" \
  "account vision used 0 kg + 4 kg running of its 2 kg CO2 budget: sent SIGUSR1 to job $job (user root)"
wait_for 20 "the checkpoint" grep -qs "checkpoint saved to $T/digits.ckpt" "$T/train1.out"
[[ -s $T/digits.ckpt ]] || fail "no checkpoint file"
ok "USR1 reached the training script, which saved its checkpoint"
wait_for 10 "the pending job held" sh -c "squeue -h -j $pending -o %r | grep -qs JobHeld"
ok "the account's pending job is held ($(squeue -h -j "$pending" -o %r))"
if sbatch -A vision -t 5 --wrap true >/dev/null 2>"$T/refused.err"; then fail "a submission over a stop budget was accepted"; fi
expect_contains "new submissions are refused" "$T/refused.err" "Account vision has used 4 kg (of which 4 kg by running jobs) of its 2 kg CO2 budget"

# Cancelled after the grace period; its record is still written, with all of its energy.
wait_for 30 "the cancel" grep -qs "cancelled job $job" "$T/enforcer.log"
wait_for 30 "the job's end" sh -c "! squeue -h -j $job -t RUNNING,COMPLETING | grep -qs ."
signal_at=$(grep -m1 "sent SIGUSR1 to job $job" "$T/enforcer.log" | cut -d' ' -f3)
cancel_at=$(grep -m1 "cancelled job $job" "$T/enforcer.log" | cut -d' ' -f3)
gap=$(( $(date -d "$cancel_at" +%s) - $(date -d "$signal_at" +%s) ))
((gap >= 6 && gap <= 15)) || fail "cancelled $gap s after the signal (grace 6 s)"
ok "cancelled $gap s after the checkpoint signal (grace 6 s)"
wait_records "$LEDGER" "$job" 1
expect_eq "the cancelled job's record holds its GPU energy (uJ)" \
  "$(json "$T/records.json" "[r['domains_uj']['gpu'] for r in j if r['job_id'] == '$job'][0]")" 36000000000000

# The limit is raised: the held job is released and runs; the training, resubmitted, resumes.
# (Whether or not the ledger learned power from the cancelled job — 10 kWh in seconds on one
# fake GPU, when it ran 10 s or more — a power no GPU can draw is not used for the estimate:
# the resubmission is estimated from the GPU table. A clean CI run once refused it at 228 kg.)
"$JOBCARBON" budget set --ledger "$LEDGER" --account vision --year "$year" --limit 100kg --policy stop >/dev/null
wait_for 30 "the held job released and run" grep -qs 'second job ran' "$T/second.out"
expect_contains "the enforcer released it" "$T/enforcer.log" "released job $pending"
sed -i 's/^exec sleep 600$/true/' "$T/train.sh"
job2=$(sbatch --parsable -o "$T/train2.out" "$T/train.sh") || { cat "$T/train2.out"; fail "the resubmitted job was refused"; }
wait_for 60 "the resubmitted training" grep -qs '^training exited with 0' "$T/train2.out"
expect_contains "the resubmitted job resumes from its checkpoint" "$T/train2.out" "resumed from $T/digits.ckpt at epoch"
grep -qs '^epoch 1/60 ' "$T/train2.out" && fail "the resubmitted job started again from epoch 1"
expect_contains "and completes the training" "$T/train2.out" "epoch 60/60"
finish
