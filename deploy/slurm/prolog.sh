#!/bin/sh
# jobcarbon's Slurm Prolog and Epilog (one script; slurm.conf: Prolog= and Epilog= both point at
# it, PrologFlags=Alloc so that it runs on every node of the allocation when the job starts).
# It tells this node's jobcarbond that the job starts or ends here; the agent measures the node
# and writes one record per node for the job (docs/slurm.md). It never fails: a failing prolog
# drains the node, so problems only go to slurmd's log.
JOBCARBON=${JOBCARBON:-/usr/local/bin/jobcarbon}
# The agent's socket; %n is replaced by the node name (several emulated nodes on one host).
SOCKET_TEMPLATE=""
# Extra arguments for `jobcarbon slurm-event` (e.g. --config FILE naming the ledger, for the budget
# line at the end of the job's output).
EXTRA_ARGS=""
event=start
[ -n "${SLURM_SCRIPT_CONTEXT:-}" ] && case $SLURM_SCRIPT_CONTEXT in epilog*) event=end ;; esac
[ "$(basename "$0")" = epilog.sh ] && event=end
[ "${1:-}" = end ] && event=end
[ -n "${SLURM_JOB_EXIT_CODE:-}" ] && event=end
# The job's submit time is part of its key in the ledger (Slurm reuses job ids).
job=$(scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null)
submit=$(printf '%s' "$job" | sed -n 's/.* SubmitTime=\([^ ]*\) .*/\1/p')
epoch=$(date -d "$submit" +%s 2>/dev/null || echo 0)
set -- slurm-event "$event" --submit-time "$epoch"
# At the end, the job's energy, CO2 and budget standing go to the end of its output file (written
# as the job's user; a link there is not followed).
stdout=$(printf '%s' "$job" | sed -n 's/.* StdOut=\([^ ]*\).*/\1/p')
if [ "$event" = end ] && [ -n "$stdout" ]; then set -- "$@" --notify-file "$stdout"; fi
if [ -n "$SOCKET_TEMPLATE" ]; then
  set -- "$@" --socket "$(printf '%s' "$SOCKET_TEMPLATE" | sed "s/%n/${SLURMD_NODENAME:-}/g")"
fi
# shellcheck disable=SC2086 # EXTRA_ARGS is a list of words
"$JOBCARBON" "$@" $EXTRA_ARGS 2>&1 | sed 's/^/jobcarbon prolog: /' >&2
exit 0
