# shellcheck shell=bash
# What the Slurm e2e tests share (sourced after lib.sh): one jobcarbond per emulated node, each on
# its own copy of the fixture sensors (RAPL) and its own fake NVML GPUs, so that no energy is
# counted twice between nodes that live on one host. Not a test itself.
#
#   start_node_agents LEDGER CGROUP_ROOT GPUS "EXTRA TOML" NODE...
#     for each NODE: $T/nodes/NODE/{sysfs,nvml,agent.toml,agent.sock,agent.log}, GPUs
#     GPU-NODE-0000-0000-0000-00000000000<g> (state files nvml/gpu<g>.state, 1000 J to start),
#     node-name NODE, cluster jctest, intensity 0.4, counters every 0.5 s; CGROUP_ROOT "fixture"
#     gives each node an empty cgroup tree of its own, else the path (/sys/fs/cgroup). The
#     agents' pids are appended to the array `agents`; returns when every socket is there.

start_node_agents() {
  local ledger=$1 cgroup=$2 gpus=$3 extra=$4 n g N root
  shift 4
  for n in "$@"; do
    N="$T/nodes/$n"
    mkdir -p "$N/nvml"
    cp -a "$FIXTURES/intel-2socket-dram/." "$N/sysfs/"
    : >"$N/nvml/scenario"
    for ((g = 0; g < gpus; g++)); do
      echo "1000000 250000" >"$N/nvml/gpu$g.state"
      printf 'gpu\nuuid GPU-%s-0000-0000-0000-00000000000%d\nname NVIDIA H100 80GB HBM3\nstate_file gpu%d.state\n' \
        "$n" "$g" "$g" >>"$N/nvml/scenario"
    done
    root=$cgroup
    [[ $root == fixture ]] && root="$N/cgroup"
    cat >"$N/agent.toml" <<EOT
intensity = 0.4
agent-socket = "$N/agent.sock"
state-dir = "$N/state"
metrics-address = "none"
counter-interval = 0.5
powercap-root = "$N/sysfs/class/powercap"
hwmon-root = "$N/no-hwmon"
nvml-lib = "$FAKE_NVML"
cgroup-root = "$root"
node-name = "$n"
cluster = "jctest"
ledger = "$ledger"
$extra
EOT
    FAKE_NVML_SCENARIO="$N/nvml/scenario" "$JOBCARBOND" --config "$N/agent.toml" 2>"$N/agent.log" &
    agents+=($!)
  done
  for n in "$@"; do
    for _ in $(seq 50); do [[ -S $T/nodes/$n/agent.sock ]] && break; sleep 0.1; done
    [[ -S $T/nodes/$n/agent.sock ]] || { cat "$T/nodes/$n/agent.log"; fail "the agent of $n did not start"; }
  done
}

# write_advance_script: $T/advance.sh MILLIJOULES, run inside a job or step, adds to the fake
# energy counter of the GPU Slurm gave it (SLURM_STEP_GPUS, else SLURM_JOB_GPUS) on the node it
# runs on (SLURMD_NODENAME), atomically (tmp + mv) as the fake NVML expects.
write_advance_script() {
  cat >"$T/advance.sh" <<EOT
#!/bin/sh
g=\${SLURM_STEP_GPUS:-\$SLURM_JOB_GPUS}
f=$T/nodes/\$SLURMD_NODENAME/nvml/gpu\$g.state
read e p <"\$f"
echo "\$((e + \$1)) \$p" >"\$f.tmp" && mv "\$f.tmp" "\$f"
EOT
  chmod 755 "$T/advance.sh"
}

# wait_records LEDGER JOB N: wait (40 s at most) until LEDGER holds N records of JOB; keep them
# all in $T/records.json. On time-out: the Slurm and agent logs, then fail.
wait_records() {
  local deadline=$((SECONDS + 40)) out
  while :; do
    out=$("$JOBCARBON" jobs --ledger "$1" --format json 2>/dev/null || echo '[]')
    if [[ $("$PY" -c 'import json,sys; print(sum(r["job_id"] == sys.argv[1] for r in json.loads(sys.argv[2])))' "$2" "$out") -ge $3 ]]; then
      printf '%s' "$out" >"$T/records.json"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      grep -h jobcarbon "$CLUSTER"/log/slurmd-n*.log >&2
      cat "$T"/nodes/*/agent.log >&2
      fail "job $2: $3 record(s) not in the ledger within 40 s"
    fi
    sleep 0.3
  done
}

# require_slurm_and_postgres: what every Slurm test needs before it starts anything — Slurm and
# munge installed, root (to start them), a private PostgreSQL server possible (pg_private.sh,
# sourced before this file). Skips outside CI, fails under CI=true (skip_unless_ci).
require_slurm_and_postgres() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    skip_unless_ci "Slurm or munge is not installed (scripts/install-deps.sh --test installs them)"
  fi
  if [[ $(id -u) != 0 ]]; then skip_unless_ci "starting Slurm and munge needs root"; fi
  local why
  why=$(pg_private_missing)
  if [[ -n $why ]]; then skip_unless_ci "$why"; fi
}
