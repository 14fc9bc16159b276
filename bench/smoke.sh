#!/usr/bin/env bash
# Run one benchmark in its smoke mode for CTest: pass when the command exits 0 AND its output
# (stdout and stderr) matches the pattern, i.e. it ran and printed its table. Timings are never
# checked: CI machines are too noisy for that.
# Usage: bench/smoke.sh EXTENDED_REGEX -- COMMAND [ARGS...]
set -euo pipefail
if (($# < 3)) || [[ $2 != -- ]]; then
  echo "usage: smoke.sh REGEX -- COMMAND [ARGS...]" >&2
  exit 2
fi
pattern=$1
shift 2
log=$(mktemp "${TMPDIR:-/tmp}/jobcarbon-smoke.XXXXXX")
trap 'rm -f "$log"' EXIT
rc=0
"$@" >"$log" 2>&1 || rc=$?
cat "$log"
if ((rc != 0)); then
  echo "smoke: '$*' exited $rc" >&2
  exit 1
fi
grep -Eq -- "$pattern" "$log" || { echo "smoke: output does not match /$pattern/" >&2; exit 1; }
echo "smoke: ok"
