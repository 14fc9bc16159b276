#!/usr/bin/env bash
# README command 1: installs what is needed, builds, and measures a real small training run
# (a CNN on the handwritten-digits set shipped with scikit-learn, on CPU) under `jobcarbon run`.
# Usage: scripts/demo.sh [--quick]   (--quick: one short epoch, as CI runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
if [[ "${1:-}" == "--quick" ]]; then quick=(--quick); fi
bash scripts/install-deps.sh
bash scripts/build.sh
build_dir=${JOBCARBON_BUILD_DIR:-build}
out_dir=${JOBCARBON_DEMO_DIR:-$(mktemp -d /tmp/jobcarbon-demo.XXXXXX)}
echo "==> jobcarbon run -- /usr/bin/python3 examples/train_digits.py ${quick[*]}"
echo "    (report on stderr; JSON in ${out_dir}/report.json; ledger in ${out_dir}/ledger.db)"
"${build_dir}/jobcarbon" run --json "${out_dir}/report.json" --ledger "${out_dir}/ledger.db" -- \
  /usr/bin/python3 examples/train_digits.py --checkpoint "${out_dir}/digits.ckpt" "${quick[@]}"
"${build_dir}/jobcarbon" jobs --ledger "${out_dir}/ledger.db"
