#!/usr/bin/env bash
# GPU validation of jobcarbon on a machine with an NVIDIA GPU, PyTorch and (optionally) pynvml,
# without a package registry or Debian's libraries (docs/gpu-validation.md):
#   - latency of one call to nvmlDeviceGetTotalEnergyConsumption, nvmlDeviceGetPowerUsage and the
#     instant-power field value (nvmlDeviceGetFieldValues, NVML_FI_DEV_POWER_INSTANT = 186);
#   - how often the energy counter actually changes (tight polling, ~2 s);
#   - ResNet-50 trained on synthetic data on one GPU for ~2 minutes under `jobcarbon run --json`,
#     its GPU energy compared with NVML's counter read independently before and after (pynvml
#     when importable, else ctypes on libnvidia-ml.so.1).
# Prints a table ending in the verdict; exits 1 when the energies disagree. Under 5 minutes.
#
# Usage: bench/gpu/validate.sh [options] JOBCARBON
#   JOBCARBON          a bundle directory from make-bundle.sh (its jobcarbon.sh is run), the
#                      bundle's jobcarbon.sh, or a jobcarbon binary
#   --gpu N            NVML index of the GPU (default 0)
#   --seconds S        training time (default 120; --tiny: 2)
#   --interval S       jobcarbon's --interval (default: jobcarbon's own default)
#   --python PY        interpreter with PyTorch (default: python3 on PATH)
#   --backend B        auto (pynvml if importable), pynvml or ctypes
#   --out DIR          keep the JSON report, the log and validation.json there
#   --tiny             CI mode: the fake NVML (--nvml-lib, default build/tests/fake_nvml/
#                      libnvidia-ml.so.1) with a scenario whose counter advances 15 J every 50 ms
#                      (300 W), a few seconds of ResNet-50 on the CPU (a busy loop without
#                      PyTorch), NVML read through ctypes
#   --nvml-lib PATH    the NVML library for both readers (default: the one NVML loads)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TINY=0 GPU=0 SECONDS_=120 INTERVAL='' PY='' BACKEND=auto OUT='' NVML_LIB='' TARGET=''
while (($#)); do
  case $1 in
    --tiny) TINY=1 ;;
    --gpu) GPU=$2; shift ;;
    --seconds) SECONDS_=$2; shift ;;
    --interval) INTERVAL=$2; shift ;;
    --python) PY=$2; shift ;;
    --backend) BACKEND=$2; shift ;;
    --out) OUT=$2; shift ;;
    --nvml-lib) NVML_LIB=$2; shift ;;
    --jobcarbon) TARGET=$2; shift ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    -*) echo "validate.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) TARGET=$1 ;;
  esac
  shift
done
[[ -n $TARGET ]] || { echo "validate.sh: name the jobcarbon bundle or binary (see --help)" >&2; exit 2; }
if [[ -d $TARGET ]]; then TARGET=$TARGET/jobcarbon.sh; fi
[[ -x $TARGET ]] || { echo "validate.sh: $TARGET is not executable" >&2; exit 1; }
# A wrapper script is run through bash so that a bundle copied without its modes still runs.
if [[ $TARGET == *.sh ]]; then JOBCARBON_CMD=(bash "$TARGET"); else JOBCARBON_CMD=("$TARGET"); fi

T=$(mktemp -d "${TMPDIR:-/tmp}/jobcarbon-gpu-validate.XXXXXX")
trap 'rm -rf "$T"' EXIT
OUT=${OUT:-$T/out}
mkdir -p "$OUT"

EXTRA=()
if ((TINY)); then
  if [[ $SECONDS_ == 120 ]]; then SECONDS_=2; fi
  NVML_LIB=${NVML_LIB:-$SRC/build/tests/fake_nvml/libnvidia-ml.so.1}
  [[ -f $NVML_LIB ]] || { echo "validate.sh: no fake NVML at $NVML_LIB (make fake_nvml, or --nvml-lib)" >&2; exit 1; }
  # Debian's python3 sees Debian's python3-torch; a python3 first on PATH may not.
  if [[ -z $PY ]]; then
    if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi
  fi
  if [[ $BACKEND == auto ]]; then BACKEND=ctypes; fi
  # One GPU whose counter advances with time (trace_step_us) at 300 W: 15000 mJ every 50 ms, for
  # 3 minutes after each process's nvmlInit (each process has its own fake clock origin).
  "$PY" - "$T/scenario" <<'EOF'
import sys
steps = 3600
with open(sys.argv[1], "w") as f:
    f.write("gpu\nuuid GPU-7a1e0000-0000-4000-8000-000000000001\nname Fake H100 (validate --tiny)\n")
    f.write("energy_counter yes\ntrace_step_us 50000\npower_mw 300000\n")
    f.write("energy_trace " + " ".join(str(1000000 + 15000 * k) for k in range(steps)) + "\n")
EOF
  export FAKE_NVML_SCENARIO=$T/scenario
  EXTRA+=(--tiny --poll-seconds 1 --latency-seconds 0.2)
  # Nothing of this machine's configuration or ledger may leak into the run.
  export HOME=$T/home
  unset XDG_DATA_HOME XDG_CONFIG_HOME JOBCARBON_LEDGER CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER
  mkdir -p "$HOME"
else
  PY=${PY:-python3}
  "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA GPU visible to PyTorch")'
fi
if [[ -n $NVML_LIB ]]; then EXTRA+=(--nvml-lib "$NVML_LIB"); fi
if [[ -n $INTERVAL ]]; then EXTRA+=(--interval "$INTERVAL"); fi

"${JOBCARBON_CMD[@]}" --version >/dev/null || { echo "validate.sh: ${JOBCARBON_CMD[*]} does not run" >&2; exit 1; }
exec_rc=0
"$PY" "$HERE/validate.py" --jobcarbon "${JOBCARBON_CMD[@]}" --gpu "$GPU" --seconds "$SECONDS_" \
  --python "$PY" --backend "$BACKEND" --out "$OUT" "${EXTRA[@]}" || exec_rc=$?
exit "$exec_rc"
