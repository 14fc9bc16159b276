#!/usr/bin/env bash
# Budgets at submission on a real Slurm cluster (issue #5): slurmctld + two emulated nodes on this
# host (scripts/start-slurm.sh) with deploy/slurm/job_submit.lua calling `jobcarbon budget check`.
# An over-budget job is refused with the message (with -A and with #SBATCH -A), a warn account's
# job runs and the user sees the warning, an account without a budget is not in the way, and a
# ledger that is down (its PostgreSQL server stopped) or a check that hangs follows the site's
# fail-open / fail-closed rule; once the server is back, the check works again. The ledger is a
# private PostgreSQL server of this test (pg_private.sh), so that it can be stopped.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pg_private.sh"
source "$(dirname "$0")/slurm_lib.sh"

require_slurm_and_postgres

CLUSTER="$T/slurm"
PG="$T/pg"
cd "$T" # jobs without -o write slurm-N.out where sbatch runs
trap 'bash "$SRC/scripts/start-slurm.sh" "$CLUSTER" --stop; pg_private_stop "$PG" || true; rm -rf "$T"' EXIT
chmod 755 "$T" # slurmd's jobs and the postgres user enter it
pg_port=$(free_port)
pg_private_start "$PG" "$pg_port" || fail "the private PostgreSQL server did not start"
L=$(pg_private_url "$pg_port")
ok "the ledger is a private PostgreSQL server ($L)"
cat >"$T/jobcarbon.toml" <<EOF
ledger = "$L"
intensity = 0.5
EOF
settings="$T/slurm-submit.conf"
write_settings() { # ON_ERROR JOBCARBON TIMEOUT
  cat >"$settings" <<EOF
jobcarbon = $2
config = $T/jobcarbon.toml
timeout = $3
on_error = $1
contact = hpc-support@example.org
EOF
}
write_settings open "$JOBCARBON" 5
"$JOBCARBON" budget set --ledger "$L" --account vision --year "$(date +%Y)" --limit 1g --policy deny >/dev/null
"$JOBCARBON" budget set --ledger "$L" --account nlp --year "$(date +%Y)" --limit 500g --warn-at 1% --policy warn >/dev/null

bash "$SRC/scripts/start-slurm.sh" "$CLUSTER" --nodes 2 --gpus 2 --port "$(free_port)" \
  --submit-settings "$settings" >"$T/start.log" 2>&1 || { cat "$T/start.log"; fail "the Slurm cluster did not start"; }
export SLURM_CONF="$CLUSTER/slurm.conf"
ok "a Slurm cluster with 2 nodes runs ($(sinfo -h -o '%D nodes %t'))"

# --- deny: -A on the command line, and #SBATCH -A in the script.
if sbatch -A vision --gres=gpu:1 -t 60 --wrap 'true' >"$T/deny1.out" 2>"$T/deny1.err"; then
  fail "an over-budget job with -A was accepted"
fi
expect_contains "refused with the account, used and limit" "$T/deny1.err" "Account vision has used 0 kg of its 1 g CO2 budget"
expect_contains "and who to ask" "$T/deny1.err" "(ask hpc-support@example.org)"
printf '#!/bin/sh\n#SBATCH -A vision\n#SBATCH --gres=gpu:1\n#SBATCH -t 60\ntrue\n' >"$T/job.sh"
if sbatch "$T/job.sh" >"$T/deny2.out" 2>"$T/deny2.err"; then fail "an over-budget job with #SBATCH -A was accepted"; fi
expect_contains "#SBATCH -A is checked too" "$T/deny2.err" "Account vision has used"
if SBATCH_ACCOUNT=vision sbatch --gres=gpu:1 -t 60 --wrap 'true' >/dev/null 2>"$T/deny3.err"; then
  fail "an over-budget job with SBATCH_ACCOUNT was accepted"
fi
expect_contains "SBATCH_ACCOUNT is checked too" "$T/deny3.err" "Account vision has used"
# srun and salloc create their allocations through the same hook.
if timeout 20 srun -A vision --gres=gpu:1 -t 60 true >/dev/null 2>"$T/deny4.err"; then fail "an over-budget srun was accepted"; fi
expect_contains "srun is checked and refused with the message" "$T/deny4.err" "Account vision has used 0 kg of its 1 g CO2 budget"
if timeout 20 salloc -A vision --gres=gpu:1 -t 60 true >/dev/null 2>"$T/deny5.err"; then fail "an over-budget salloc was accepted"; fi
expect_contains "salloc is checked and refused with the message" "$T/deny5.err" "Account vision has used 0 kg of its 1 g CO2 budget"

# --- warn: accepted, the warning shown, the job runs.
sbatch -A nlp --gres=gpu:1 -t 60 -o "$T/nlp.out" --wrap 'echo ran' >"$T/warn.out" 2>"$T/warn.err" ||
  { cat "$T/warn.err"; fail "a warn account's job was refused"; }
expect_contains "the warning is shown at submission" "$T/warn.err" "Warning: Account nlp has used 0 kg of its 0.5 kg CO2 budget"
job=$(grep -o '[0-9]\+' "$T/warn.out")
deadline=$((SECONDS + 30))
until [[ -s $T/nlp.out ]] && [[ -z $(squeue -h -j "$job" 2>/dev/null) ]]; do
  ((SECONDS < deadline)) || fail "job $job did not finish: $(squeue 2>&1)"
  sleep 0.2
done
expect_eq "the warned job ran" "$(cat "$T/nlp.out")" ran

# --- no budget: nothing in the way.
sbatch -A physics -t 5 --wrap 'true' >/dev/null 2>"$T/allow.err" || { cat "$T/allow.err"; fail "an account without a budget was refused"; }
ok "an account without a budget is accepted"

# --- 6. the ledger is down (its server stopped): fail open (the default) accepts the job — one
# that the check would refuse — and slurmctld's log says so, with the reason; fail closed refuses
# even a job that the check would allow, saying why.
pg_private_stop "$PG" || fail "the private PostgreSQL server did not stop"
if "$PG_PRIVATE_BIN/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then fail "the ledger's server still answers"; fi
ok "the ledger's server is stopped"
sbatch -A vision --gres=gpu:1 -t 60 --wrap 'true' >/dev/null 2>"$T/open.err" || { cat "$T/open.err"; fail "fail open refused a job"; }
ok "fail open: accepted while the ledger is down"
expect_contains "and slurmctld's log says so" "$CLUSTER/log/slurmctld.log" "accepted without a budget check (fail open), account vision"
expect_contains "with the reason: the ledger's server cannot be reached" "$CLUSTER/log/slurmctld.log" \
  "accepted without a budget check (fail open), account vision: $L: cannot connect"
write_settings closed "$JOBCARBON" 5
if sbatch -A vision -t 5 --wrap 'true' >/dev/null 2>"$T/closed.err"; then fail "fail closed accepted a job"; fi
expect_contains "fail closed: refused, saying why" "$T/closed.err" "the CO2 budget of account vision cannot be checked"
expect_contains "and naming the unreachable ledger" "$T/closed.err" "$L: cannot connect"
expect_contains "and who to ask" "$T/closed.err" "(ask hpc-support@example.org)"
if sbatch -A physics -t 5 --wrap 'true' >/dev/null 2>"$T/closed2.err"; then fail "fail closed accepted a job of an account without a budget"; fi
ok "fail closed: even an account without a budget is refused while the ledger is down"

# --- the server is back: the check works again (still fail closed, so an accepted job was checked).
pg_private_restart "$PG" || fail "the private PostgreSQL server did not restart"
if sbatch -A vision --gres=gpu:1 -t 60 --wrap 'true' >/dev/null 2>"$T/back.err"; then fail "an over-budget job was accepted after the ledger came back"; fi
expect_contains "ledger back: a deny account is refused again, with its budget" "$T/back.err" "Account vision has used 0 kg of its 1 g CO2 budget"
sbatch -A physics -t 5 --wrap 'true' >/dev/null 2>"$T/back2.err" || { cat "$T/back2.err"; fail "after the ledger came back, fail closed still refused an account without a budget"; }
ok "ledger back: an account without a budget is accepted under fail closed"

# --- a slow ledger: jobcarbon gives up at the timeout (exit 3) and the rule applies (here: open).
write_settings open "$JOBCARBON" 0.001
sbatch -A vision -t 5 --wrap 'true' >/dev/null 2>"$T/slow.err" || { cat "$T/slow.err"; fail "a timed-out check refused the job under fail open"; }
expect_contains "a check that times out is logged with the reason" "$CLUSTER/log/slurmctld.log" "no decision within 0.001 s"

# --- a check that hangs outright is killed 2 s after the timeout, and the rule applies.
printf '#!/bin/sh\nsleep 30\n' >"$T/hang.sh"
chmod 755 "$T/hang.sh"
write_settings open "$T/hang.sh" 1
start=$SECONDS
sbatch -A vision -t 5 --wrap 'true' >/dev/null 2>"$T/hang.err" || { cat "$T/hang.err"; fail "a hung check refused the job under fail open"; }
expect_eq "a hung check is killed after timeout + 2 s" "$(((SECONDS - start) <= 5))" 1
expect_contains "and logged" "$CLUSTER/log/slurmctld.log" "no answer within 3 s"
finish
