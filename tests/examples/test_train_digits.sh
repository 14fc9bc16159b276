#!/usr/bin/env bash
# Tests examples/train_digits.py, the demo workload: a --quick run, a checkpoint on SIGUSR1 in the
# middle of training and a bit-for-bit identical resume, a checkpoint on SIGTERM during start-up,
# a rerun of a finished job, and a corrupt checkpoint. About 10 s on 2 idle cores (most of it is
# importing torch, ~3 s per run).
# Usage: tests/examples/test_train_digits.sh   (PYTHON overrides /usr/bin/python3)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
script=${here}/../../examples/train_digits.py
py=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d /tmp/test_train_digits.XXXXXX)
bg_pid=
cleanup() {
  if [[ -n "${bg_pid}" ]]; then kill -KILL "${bg_pid}" 2>/dev/null || true; fi
  rm -rf "${tmp}"
}
trap cleanup EXIT

# Hand-checked constants: 1797 images, 20% (359) held out, so 1438 training images per epoch,
# in batches of 32 (44 full batches and one of 30).
train_images=1438
batch_size=32

fail() {
  echo "FAIL: $*" >&2
  for f in "${tmp}"/*.out; do
    [[ -e "$f" ]] && { echo "--- ${f##*/}" >&2; cat "$f" >&2; }
  done
  exit 1
}
pass() { echo "ok: $*"; }

# expect_line FILE REGEX: FILE has a line matching the extended regex REGEX.
expect_line() { grep -Eq -- "$2" "$1" || fail "${1##*/}: no line matching /$2/"; }

# last_line_is FILE TEXT
last_line_is() {
  local last
  last=$(tail -n 1 "$1")
  [[ "${last}" == "$2" ]] || fail "${1##*/}: last line is '${last}', expected '$2'"
}

# run NAME ARGS...: run the script in the foreground; its output goes to $tmp/NAME.out, its exit
# status to $rc.
run() {
  local name=$1
  shift
  rc=0
  timeout 120 "${py}" "${script}" "$@" >"${tmp}/${name}.out" 2>&1 || rc=$?
}

# start NAME ARGS...: run the script in the background (pid in $bg_pid). No `timeout` wrapper
# here: the signals must reach Python itself; wait_for and finish bound the time instead.
start() {
  local name=$1
  shift
  "${py}" "${script}" "$@" >"${tmp}/${name}.out" 2>&1 &
  bg_pid=$!
}

# wait_for NAME REGEX: wait (up to 60 s) until the background run prints a line matching REGEX.
wait_for() {
  local i
  for ((i = 0; i < 1200; i++)); do
    grep -Eq -- "$2" "${tmp}/$1.out" && return 0
    kill -0 "${bg_pid}" 2>/dev/null || fail "$1 exited before printing /$2/"
    sleep 0.05
  done
  fail "$1: no line matching /$2/ within 60 s"
}

# finish: wait (up to 60 s) for the background run; its exit status goes to $rc.
finish() {
  local i
  for ((i = 0; i < 1200; i++)); do
    kill -0 "${bg_pid}" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "${bg_pid}" 2>/dev/null && fail "still running 60 s after the signal"
  rc=0
  wait "${bg_pid}" || rc=$?
  bg_pid=
}

# epoch_result FILE EPOCH TOTAL: the "epoch E/T ..." line without its wall time.
epoch_result() { grep -E "^epoch $2/$3 " "$1" | sed 's/ time .*//'; }

# 1. --quick: one epoch, a sensible result, the work line last (and in $JOBCARBON_WORK_FILE, as
# `jobcarbon run` sets it), a final checkpoint.
JOBCARBON_WORK_FILE="${tmp}/work" run quick --quick --checkpoint "${tmp}/quick.ckpt"
((rc == 0)) || fail "quick run exited ${rc}"
expect_line "${tmp}/quick.out" "^epoch 1/1 loss [0-9.]+ train_acc [0-9.]+ test_acc [0-9.]+ samples ${train_images} time "
acc=$(grep -E '^epoch 1/1 ' "${tmp}/quick.out" | sed -E 's/.* test_acc ([0-9.]+) .*/\1/')
# One epoch reaches about 0.77 test accuracy; chance is 0.10. 0.5 shows the network learns.
awk -v a="${acc}" 'BEGIN { exit !(a >= 0.5) }' || fail "quick run test_acc ${acc} < 0.5"
expect_line "${tmp}/quick.out" "^checkpoint saved to ${tmp}/quick.ckpt$"
last_line_is "${tmp}/quick.out" "work: ${train_images} samples"
[[ -s "${tmp}/quick.ckpt" ]] || fail "no checkpoint after the quick run"
[[ "$(cat "${tmp}/work")" == "${train_images} training images" ]] ||
  fail "JOBCARBON_WORK_FILE holds '$(cat "${tmp}/work" 2>/dev/null)', expected '${train_images} training images'"
pass "--quick trains one epoch (test_acc ${acc}) and prints 'work: ${train_images} samples'"

# 2. A finished job rerun does nothing (a requeued job must not train twice).
run rerun --quick --checkpoint "${tmp}/quick.ckpt"
((rc == 0)) || fail "rerun exited ${rc}"
expect_line "${tmp}/rerun.out" "^resumed from ${tmp}/quick.ckpt at epoch 1: training already complete"
last_line_is "${tmp}/rerun.out" "work: 0 samples"
pass "rerun of a finished job does no work"

# 3. SIGUSR1 in the middle of training: checkpoint at the next batch boundary, exit 0.
start usr1 --epochs 1000 --checkpoint "${tmp}/usr1.ckpt"
wait_for usr1 '^epoch 1/1000 '
kill -USR1 "${bg_pid}"
finish
((rc == 0)) || fail "run stopped by SIGUSR1 exited ${rc}, expected 0"
expect_line "${tmp}/usr1.out" "^SIGUSR1 received: stopping at epoch [0-9]+, batch [0-9]+$"
read -r epoch batch < <(sed -nE 's/^SIGUSR1 received: stopping at epoch ([0-9]+), batch ([0-9]+)$/\1 \2/p' \
  "${tmp}/usr1.out")
((epoch >= 2)) || fail "stopped at epoch ${epoch}, but epoch 1 had already finished"
expect_line "${tmp}/usr1.out" "^checkpoint saved to ${tmp}/usr1.ckpt$"
last_line_is "${tmp}/usr1.out" "work: $(((epoch - 1) * train_images + batch * batch_size)) samples"
[[ -s "${tmp}/usr1.ckpt" ]] || fail "no checkpoint after SIGUSR1"
[[ ! -e "${tmp}/usr1.ckpt.tmp" ]] || fail "temporary checkpoint file left behind"
pass "SIGUSR1 saved a checkpoint at epoch ${epoch}, batch ${batch} and exited 0"

# 4. The rerun resumes there, and the epoch it finishes is identical to an uninterrupted run's.
run resume --epochs "${epoch}" --checkpoint "${tmp}/usr1.ckpt"
((rc == 0)) || fail "resumed run exited ${rc}"
expect_line "${tmp}/resume.out" "^resumed from ${tmp}/usr1.ckpt at epoch ${epoch}, batch ${batch}$"
last_line_is "${tmp}/resume.out" "work: $((train_images - batch * batch_size)) samples"
run reference --epochs "${epoch}" --checkpoint "${tmp}/reference.ckpt"
((rc == 0)) || fail "reference run exited ${rc}"
resumed=$(epoch_result "${tmp}/resume.out" "${epoch}" "${epoch}")
reference=$(epoch_result "${tmp}/reference.out" "${epoch}" "${epoch}")
[[ -n "${reference}" && "${resumed}" == "${reference}" ]] ||
  fail "resumed run ended with '${resumed}', uninterrupted run with '${reference}'"
pass "resume from epoch ${epoch}, batch ${batch} matches an uninterrupted run: ${reference}"

# 5. SIGTERM during start-up (while torch is imported): checkpoint before the first batch.
start term --quick --checkpoint "${tmp}/term.ckpt"
wait_for term '^train_digits: pid '
kill -TERM "${bg_pid}"
finish
((rc == 0)) || fail "run stopped by SIGTERM exited ${rc}, expected 0"
expect_line "${tmp}/term.out" "^SIGTERM received: stopping at epoch 1, batch 0$"
expect_line "${tmp}/term.out" "^checkpoint saved to ${tmp}/term.ckpt$"
last_line_is "${tmp}/term.out" "work: 0 samples"
pass "SIGTERM during start-up saved a checkpoint before the first batch"

# 6. A corrupt checkpoint is an error naming the file, never a silent restart from scratch.
echo "not a checkpoint" >"${tmp}/bad.ckpt"
run bad --quick --checkpoint "${tmp}/bad.ckpt"
((rc == 2)) || fail "corrupt checkpoint: exit ${rc}, expected 2"
expect_line "${tmp}/bad.out" "cannot resume from ${tmp}/bad.ckpt: "
pass "a corrupt checkpoint is refused with exit 2"

echo "all train_digits tests passed"
