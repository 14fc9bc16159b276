#!/usr/bin/env bash
# jobcarbon run on fixture roots where the command itself advances the hardware counters: the
# energy reported must equal the exact counter delta, to the microjoule — across a RAPL wrap, for
# NVML GPUs through the fake library, and split between the job and `unallocated` exactly.
source "$(dirname "$0")/lib.sh"

# --- RAPL package across its wrap, exclusive: the job is charged the whole delta.
root=$(fixture intel-1socket-near-wrap)
pkg="$root/class/powercap/intel-rapl:0/energy_uj"
core="$root/class/powercap/intel-rapl:0:0/energy_uj"
start_core=$(cat "$core")
"$JOBCARBON" run --exclusive --intensity 0.296 --json "$T/wrap.json" --ledger "$T/ledger.db" \
  --powercap-root "$root/class/powercap" --hwmon-root "$T/none" --nvml-lib "$T/no-nvml.so" \
  -- sh -c "echo 262143000000 > '$pkg'; sleep 0.3; echo 5000000 > '$pkg'; echo $((start_core + 777)) > '$core'" \
  2>"$T/wrap.txt"
# 262140328850 → 262143000000 → (wrap at 262143328850) → 5000000
expect_eq "package energy across the wrap (uJ)" "$(json "$T/wrap.json" "j['domains_uj']['cpu']")" \
  $((262143328850 - 262140328850 + 5000000))
expect_eq "charged = machine when exclusive" "$(json "$T/wrap.json" "j['energy_uj'] == j['machine_energy_uj']")" True
expect_eq "core subzone shown, not added" \
  "$(json "$T/wrap.json" "[(c['energy_uj'], c['additive']) for c in j['channels'] if c['label'].endswith('core')]")" \
  "[(777, False)]"
expect_eq "wrap counted" "$(json "$T/wrap.json" "[c['wraps'] for c in j['channels'] if c['domain']=='cpu']")" "[1]"
# This machine has no DRAM zone: memory is estimated, so the run is measured + estimated.
expect_eq "method" "$(json "$T/wrap.json" "j['method'], j['domain_method']['dram']")" "('mixed', None)"
expect_eq "memory estimated" "$(json "$T/wrap.json" "j['domain_method']['estimated_memory'].startswith('estimate')")" True
expect_contains "report says how the CPU was measured" "$T/wrap.txt" "hardware energy counter (rapl)"

# --- two sockets with DRAM, shared machine: job + unallocated = machine, per domain, exactly.
root=$(fixture intel-2socket-dram)
cmd=""
declare -A delta
for z in intel-rapl:0 intel-rapl:0:0 intel-rapl:1 intel-rapl:1:0; do
  f="$root/class/powercap/$z/energy_uj"
  d=$((RANDOM * 1000 + 123))
  delta[$z]=$d
  cmd+="echo $(($(cat "$f") + d)) > '$f'; "
done
"$JOBCARBON" run --intensity 0.5 --json "$T/shared.json" --ledger "$T/ledger.db" \
  --powercap-root "$root/class/powercap" --hwmon-root "$T/none" --nvml-lib "$T/no-nvml.so" \
  -- sh -c "$cmd" 2>"$T/shared.txt"
expect_eq "machine CPU packages (uJ)" "$(json "$T/shared.json" "j['machine_energy_uj'] - 0")" \
  $((delta[intel-rapl:0] + delta[intel-rapl:0:0] + delta[intel-rapl:1] + delta[intel-rapl:1:0]))
expect_eq "job + unallocated = machine" \
  "$(json "$T/shared.json" "j['energy_uj'] + j['unallocated_energy_uj'] == j['machine_energy_uj']")" True
expect_eq "no estimate where RAPL measures" "$(json "$T/shared.json" "j['domains_uj']['estimated_cpu']")" 0

# --- NVML: two GPUs advanced by the command through state files; CUDA_VISIBLE_DEVICES=1 gives the
# job GPU 1 only; GPU 0's energy is unallocated.
mkdir -p "$T/nvml"
echo "1000000 250000" > "$T/nvml/gpu0.state"
echo "2000000 300000" > "$T/nvml/gpu1.state"
cat > "$T/nvml/scenario" <<SCEN
gpu
uuid GPU-aaaaaaaa-0000-0000-0000-000000000000
name NVIDIA H100 80GB HBM3
state_file gpu0.state
gpu
uuid GPU-bbbbbbbb-0000-0000-0000-000000000000
name NVIDIA H100 80GB HBM3
state_file gpu1.state
SCEN
advance="echo '1004000 250000' > '$T/nvml/g0' && mv '$T/nvml/g0' '$T/nvml/gpu0.state';"
advance+="echo '2123456 300000' > '$T/nvml/g1' && mv '$T/nvml/g1' '$T/nvml/gpu1.state'"
FAKE_NVML_SCENARIO="$T/nvml/scenario" CUDA_VISIBLE_DEVICES=1 \
  "$JOBCARBON" run --intensity 0.3 --json "$T/gpu.json" --ledger "$T/ledger.db" \
  --powercap-root "$T/none" --hwmon-root "$T/none" --nvml-lib "$FAKE_NVML" \
  -- sh -c "$advance" 2>"$T/gpu.txt"
expect_eq "GPU 1 charged its exact delta (uJ)" "$(json "$T/gpu.json" "j['domains_uj']['gpu']")" 123456000
expect_eq "GPU 0 left unallocated (J)" "$(json "$T/gpu.json" "j['unallocated_domains']['gpu']")" 4.0
expect_eq "the job's GPU is named" "$(json "$T/gpu.json" "j['gpus']")" \
  "['NVIDIA H100 80GB HBM3 (GPU-bbbbbbbb-0000-0000-0000-000000000000)']"
expect_contains "text report names NVML counters" "$T/gpu.txt" "hardware energy counter (nvml)"

# --- a node-level meter (POWER9 "System") with its components (two chips) and a GPU: the total is
# the node's, the components are a breakdown of it, never added on top.
root=$(fixture power9-ibmpowernv)
hw="$root/class/hwmon/hwmon0"
cmd="echo $(($(cat "$hw/energy7_input") + 1000000000)) > '$hw/energy7_input';"
cmd+="echo $(($(cat "$hw/energy1_input") + 300000000)) > '$hw/energy1_input';"
cmd+="echo $(($(cat "$hw/energy4_input") + 200000000)) > '$hw/energy4_input';"
cmd+="echo '1100000 250000' > '$T/nvml/g0' && mv '$T/nvml/g0' '$T/nvml/gpu0.state'"
echo "1000000 250000" > "$T/nvml/gpu0.state"
FAKE_NVML_SCENARIO="$T/nvml/scenario" \
  "$JOBCARBON" run --exclusive --intensity 0.3 --json "$T/node.json" --ledger "$T/ledger.db" \
  --powercap-root "$T/none" --hwmon-root "$root/class/hwmon" --nvml-lib "$FAKE_NVML" \
  -- sh -c "$cmd" 2>"$T/node.txt"
expect_eq "total is the node meter's delta" "$(json "$T/node.json" "j['energy_uj'], j['machine_energy_uj']")" \
  "(1000000000, 1000000000)"
expect_eq "components are a breakdown: cpu, gpu, rest of node" \
  "$(json "$T/node.json" "j['domains_uj']['cpu'], j['domains_uj']['gpu'], j['domains_uj']['node']")" \
  "(500000000, 100000000, 400000000)"
expect_eq "nothing estimated under a node meter" "$(json "$T/node.json" "j['method']")" measured

# --- a GPU without the energy counter (power sampled and integrated, flagged as such) and a GPU
# that is lost mid-run (what it used before is kept; the errors are reported).
mkdir -p "$T/nvml2"
echo "0 200000" > "$T/nvml2/old.state"
echo "5000000 300000" > "$T/nvml2/lost.state"
cat > "$T/nvml2/scenario" <<SCEN
gpu
uuid GPU-cccccccc-0000-0000-0000-000000000000
name Tesla P100-PCIE-16GB
energy_counter no
state_file old.state
gpu
uuid GPU-dddddddd-0000-0000-0000-000000000000
name NVIDIA A100-SXM4-40GB
state_file lost.state
SCEN
lose="sleep 0.5; echo '5070000 300000' > '$T/nvml2/l' && mv '$T/nvml2/l' '$T/nvml2/lost.state'; sleep 0.3;"
lose+="echo lost > '$T/nvml2/l' && mv '$T/nvml2/l' '$T/nvml2/lost.state'; sleep 0.6"
FAKE_NVML_SCENARIO="$T/nvml2/scenario" \
  "$JOBCARBON" run --intensity 0.3 --interval 0.1 --json "$T/gpu2.json" --ledger "$T/ledger.db" \
  --powercap-root "$T/none" --hwmon-root "$T/none" --nvml-lib "$FAKE_NVML" -- sh -c "$lose" 2>"$T/gpu2.txt"
expect_eq "power-only GPU is sampled power" \
  "$(json "$T/gpu2.json" "[c['method'] for c in j['channels'] if 'P100' in c['label']]")" "['sampled power']"
expect_eq "200 W for the run's duration, within 5 %" \
  "$(json "$T/gpu2.json" "abs([c['energy_j'] for c in j['channels'] if 'P100' in c['label']][0] / (200 * j['duration_s']) - 1) < 0.05")" True
expect_eq "lost GPU keeps what it used before" \
  "$(json "$T/gpu2.json" "[(c['energy_uj'], c['read_errors'] > 0, c['last_error']) for c in j['channels'] if 'A100' in c['label']]")" \
  "[(70000000, True, 'nvmlDeviceGetTotalEnergyConsumption: GPU is lost (NVML error 15)')]"
expect_contains "report flags the sampled GPU" "$T/gpu2.txt" "sampled power (nvml)"

# --- every run above is in the ledger.
"$JOBCARBON" jobs --ledger "$T/ledger.db" --format json > "$T/jobs.json"
expect_eq "five runs in the ledger" "$(json "$T/jobs.json" "len(j)")" 5
finish
