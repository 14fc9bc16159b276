#!/usr/bin/env bash
# The enforcer's systemd unit (deploy/systemd/jobcarbon-enforcer.service) runs a command line that
# `jobcarbon enforce` accepts: its ExecStart (continuation lines joined), with the binary, the
# configuration and the state file pointed into this test, runs one round (--once) and writes
# nothing it should not. Plus the unit's structure (one per cluster: SlurmUser, SLURM_CONF,
# Restart, a state directory). The enforcer itself on a real cluster: slurm_enforce_test.sh.
source "$(dirname "$0")/lib.sh"
UNIT="$SRC/deploy/systemd/jobcarbon-enforcer.service"

# ExecStart with its backslash continuations joined, as systemd reads it.
exec_start=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$UNIT" | sed -n 's/^ExecStart=//p')
[[ -n $exec_start ]] || fail "no ExecStart in $UNIT"
read -r -a argv <<<"$exec_start"
expect_eq "ExecStart runs the installed jobcarbon" "${argv[0]} ${argv[1]}" "/usr/local/bin/jobcarbon enforce"
for key in 'User=slurm' 'Environment=SLURM_CONF=' 'Restart=always' 'StateDirectory=jobcarbon-enforcer'; do
  grep -q "^$key" "$UNIT" || fail "the unit has no $key line"
done
state_arg=$(printf '%s\n' "${argv[@]}" | grep -A1 -x -- '--state' | tail -1)
[[ $state_arg == /var/lib/jobcarbon-enforcer/* ]] || fail "--state $state_arg is not in the unit's StateDirectory"
ok "the unit: SlurmUser, SLURM_CONF, Restart=always, state file in its StateDirectory"

# The same arguments, pointed at this test: one round on a ledger without stop budgets (no squeue
# needed) must succeed and leave no state file behind (nothing was signalled or held).
printf 'ledger = "%s"\n' "$T/ledger.db" >"$T/config.toml"
"$JOBCARBON" budget set --ledger "$T/ledger.db" --account vision --year "$(date +%Y)" --limit 1t --policy deny >/dev/null
args=()
for a in "${argv[@]:2}"; do
  case $a in
    /etc/jobcarbon/config.toml) args+=("$T/config.toml") ;;
    /var/lib/jobcarbon-enforcer/*) args+=("$T/state/${a##*/}") ;;
    *) args+=("$a") ;;
  esac
done
"$JOBCARBON" enforce "${args[@]}" --once >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "jobcarbon enforce refused the unit's arguments"; }
[[ ! -e $T/state/state.json ]] || fail "a round that did nothing wrote a state file"
ok "jobcarbon enforce accepts the unit's arguments and runs a round ($(echo "${args[@]}" | tr -s ' '))"

# Bad input: a signal no job can catch, a ledger that is not there.
if "$JOBCARBON" enforce --once --signal KILL --ledger "$T/ledger.db" 2>"$T/kill.err"; then fail "--signal KILL accepted"; fi
expect_contains "--signal KILL is refused, naming it" "$T/kill.err" "--signal 'KILL': not a signal name a job can catch"
if "$JOBCARBON" enforce --once --ledger "$T/none/ledger.db" --state "$T/s2.json" 2>"$T/none.err"; then fail "a missing ledger gave exit 0"; fi
expect_contains "a ledger that cannot be read: nothing done, said why" "$T/none.err" "nothing done this round: "
expect_contains "naming the ledger" "$T/none.err" "$T/none/ledger.db"
# A damaged state file is moved aside and said, not trusted and not fatal.
mkdir -p "$T/st" && printf '{"version":1,"signalled":{"12":"soon"}' >"$T/st/state.json"
"$JOBCARBON" enforce --once --ledger "$T/ledger.db" --state "$T/st/state.json" 2>"$T/damaged.err" ||
  { cat "$T/damaged.err"; fail "a damaged state file stopped the enforcer"; }
expect_contains "a damaged state file is named" "$T/damaged.err" "$T/st/state.json: enforcer state: not a JSON object; moved to $T/st/state.json.damaged"
[[ -f $T/st/state.json.damaged ]] || fail "the damaged state file was not kept for a person to look at"
finish
