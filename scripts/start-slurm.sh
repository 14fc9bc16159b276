#!/usr/bin/env bash
# Starts a real Slurm cluster on this host for the tests (issue #5): munge (unless it runs),
# slurmctld and N emulated nodes (one slurmd -N nX each, own port), G fake GPUs per node as GRES
# (character devices, as gres.conf requires), and jobcarbon's job_submit.lua. Everything lives in
# DIR (configuration, state, logs, pids); nothing under /etc/slurm is touched. Facts behind the
# choices: /work/shared/notes/slurm-on-one-host.md (no systemd, Debian's Slurm 22.05).
#
# Usage: scripts/start-slurm.sh DIR [--nodes N] [--gpus G] [--port P] [--submit-settings FILE]
#          [--no-submit-hook] [--agent-sockets TEMPLATE] [--event-args ARGS] [--spank PLUGIN_SO]
#          [--cgroup]
#   --agent-sockets TEMPLATE: install deploy/slurm/prolog.sh as Prolog and Epilog, telling the node
#     agent at TEMPLATE (%n: the node's name, e.g. /tmp/x/%n/agent.sock) that jobs start and end
#   --event-args "ARGS": extra arguments for the Prolog's `jobcarbon slurm-event` (--config FILE)
#   --spank PLUGIN_SO: load jobcarbon's SPANK plugin (spank_jobcarbon.so: per-step records, srun's
#     stderr line) from DIR/plugstack.conf, with the same agent socket template and --config
#   --cgroup: job cgroups (proctrack/cgroup, task/cgroup,task/affinity, and jobacct_gather/cgroup,
#     which creates v1's cpuacct cgroups; cgroup.conf autodetect), so that the agents can split
#     CPU energy by job and step; job ids then start at P*1000 so that two clusters on this host
#     (both with a node n1) never share a /slurm_n1/uid_0/job_<id> cgroup
#        scripts/start-slurm.sh DIR --stop
#   then: export SLURM_CONF=DIR/slurm.conf
#   --port P: slurmctld's port; the nodes listen on P+1 ... P+N
#   --submit-settings FILE: the job_submit.lua settings file (default DIR/slurm-submit.conf,
#     created with defaults: jobcarbon on PATH, on_error = open)
# Needs root and the packages of scripts/install-deps.sh --test (slurmctld, slurmd, munge).
set -euo pipefail

DIR=${1:?usage: start-slurm.sh DIR [--nodes N] [--gpus G] [--port P] | DIR --stop}
shift
NODES=2 GPUS=2 PORT=6817 STOP=0 SETTINGS='' HOOK=1 AGENTS='' EVENT_ARGS='' SPANK='' CGROUP=0
while (($#)); do
  case $1 in
    --nodes) NODES=$2; shift ;;
    --gpus) GPUS=$2; shift ;;
    --port) PORT=$2; shift ;;
    --submit-settings) SETTINGS=$2; shift ;;
    --stop) STOP=1 ;;
    --no-submit-hook) HOOK=0 ;;
    --agent-sockets) AGENTS=$2; shift ;;
    --event-args) EVENT_ARGS=$2; shift ;;
    --spank) SPANK=$2; shift ;;
    --cgroup) CGROUP=1 ;;
    *) echo "start-slurm.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
SRC=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

stop_all() {
  [[ -f $DIR/pids ]] || return 0
  # Jobs first, so that no slurmstepd outlives its cluster.
  if [[ -f $DIR/slurm.conf ]]; then
    SLURM_CONF=$DIR/slurm.conf timeout 5 scancel --quiet --full --signal=KILL \
      $(SLURM_CONF=$DIR/slurm.conf timeout 5 squeue -h -o %i 2>/dev/null) 2>/dev/null || true
    for _ in $(seq 30); do
      [[ -z $(SLURM_CONF=$DIR/slurm.conf timeout 5 squeue -h -o %i 2>/dev/null) ]] && break
      sleep 0.1
    done
  fi
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$DIR/pids"
  for _ in $(seq 50); do
    local alive=0
    while read -r pid; do
      # A zombie (state Z) counts as stopped.
      if [[ -r /proc/$pid/stat ]] && [[ $(awk '{print $3}' "/proc/$pid/stat") != Z ]]; then alive=1; fi
    done <"$DIR/pids"
    ((alive)) || break
    sleep 0.1
  done
  while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$DIR/pids"
  rm -f "$DIR/pids"
}
if ((STOP)); then
  stop_all
  exit 0
fi
stop_all # a previous cluster in the same DIR

for cmd in slurmctld slurmd munged scontrol sinfo; do
  command -v "$cmd" >/dev/null || { echo "start-slurm.sh: $cmd is missing (scripts/install-deps.sh --test)" >&2; exit 1; }
done

# munge: one per host, shared with anything else that uses it; started only when not running.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if [[ ! -f /etc/munge/munge.key ]]; then mungekey --create; fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { echo "start-slurm.sh: munged does not answer" >&2; exit 1; }
fi

host=$(hostname -s)
# slurmd resolves its NodeHostname; a container's /etc/hosts may lack it.
if ! getent hosts "$host" >/dev/null; then echo "127.0.0.1 $host" >>/etc/hosts; fi

mkdir -p "$DIR/state" "$DIR/log" "$DIR/dev"
for ((n = 1; n <= NODES; n++)); do mkdir -p "$DIR/spool/n$n"; done
# Fake GPUs: gres.conf File= must be character devices; /dev/null's numbers (1, 3) do.
for ((g = 0; g < GPUS; g++)); do
  [[ -c $DIR/dev/nvidia$g ]] || mknod "$DIR/dev/nvidia$g" c 1 3
done
cpus=$(nproc)
gres_line=''
if ((GPUS > 0)); then gres_line="Gres=gpu:$GPUS"; fi
cat >"$DIR/slurm.conf" <<EOF
# Written by scripts/start-slurm.sh for the tests; see docs/slurm.md for a real cluster.
ClusterName=jctest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
$( ((CGROUP)) && printf 'ProctrackType=proctrack/cgroup\nTaskPlugin=task/cgroup,task/affinity\nJobAcctGatherType=jobacct_gather/cgroup\nFirstJobId=%s' $((PORT * 1000)) ||
  printf 'ProctrackType=proctrack/linuxproc\nTaskPlugin=task/affinity')
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
MailProg=/bin/true
ReturnToService=2
GresTypes=gpu
$( ((HOOK)) && echo "JobSubmitPlugins=lua" || echo "# JobSubmitPlugins: none (--no-submit-hook)")
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
$( [[ -n $AGENTS ]] && printf 'Prolog=%s\nEpilog=%s\nPrologFlags=Alloc' "$DIR/prolog.sh" "$DIR/prolog.sh")
$( [[ -n $SPANK ]] && echo "PlugStackConfig=$DIR/plugstack.conf")
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=n[1-$NODES] NodeHostname=$host NodeAddr=127.0.0.1 Port=[$((PORT + 1))-$((PORT + NODES))] CPUs=$cpus RealMemory=1024 $gres_line State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
if ((GPUS > 0)); then
  echo "NodeName=n[1-$NODES] Name=gpu File=$DIR/dev/nvidia[0-$((GPUS - 1))]" >"$DIR/gres.conf"
else
  : >"$DIR/gres.conf"
fi
SETTINGS=${SETTINGS:-$DIR/slurm-submit.conf}
if [[ ! -f $SETTINGS ]]; then
  cat >"$SETTINGS" <<EOF
jobcarbon = $(command -v jobcarbon || echo /usr/local/bin/jobcarbon)
config = /etc/jobcarbon/config.toml
timeout = 2
on_error = open
EOF
fi
# The hook, pointed at this cluster's settings file.
sed "s|^local SETTINGS_FILE = .*|local SETTINGS_FILE = \"$SETTINGS\"|" "$SRC/deploy/slurm/job_submit.lua" \
  >"$DIR/job_submit.lua"

if [[ -n $AGENTS ]]; then
  sed -e "s|^SOCKET_TEMPLATE=.*|SOCKET_TEMPLATE=\"$AGENTS\"|" \
    -e "s|^JOBCARBON=.*|JOBCARBON=$(command -v jobcarbon || echo /usr/local/bin/jobcarbon)|" \
    -e "s|^job=\$(scontrol|job=\$(SLURM_CONF=$DIR/slurm.conf scontrol|" \
    -e "s|^EXTRA_ARGS=.*|EXTRA_ARGS=\"$EVENT_ARGS\"|" \
    "$SRC/deploy/slurm/prolog.sh" >"$DIR/prolog.sh"
  chmod 0755 "$DIR/prolog.sh"
fi

if ((CGROUP)); then
  # v1 on these hosts (hybrid); autodetect picks what the host has.
  printf 'CgroupPlugin=autodetect\nConstrainCores=no\nConstrainRAMSpace=no\n' >"$DIR/cgroup.conf"
else
  rm -f "$DIR/cgroup.conf"
fi
if [[ -n $SPANK ]]; then
  [[ -f $SPANK ]] || { echo "start-slurm.sh: --spank $SPANK: no such file" >&2; exit 2; }
  # The plugin's arguments: the same agent sockets (%n: the node) and configuration (--config in
  # --event-args) as the Prolog's.
  spank_args="jobcarbon=$(command -v jobcarbon || echo /usr/local/bin/jobcarbon) notify=1"
  if [[ -n $AGENTS ]]; then spank_args+=" socket=$AGENTS"; fi
  read -r -a words <<<"$EVENT_ARGS"
  for ((w = 0; w < ${#words[@]}; w++)); do
    if [[ ${words[w]} == --config ]]; then spank_args+=" config=${words[w + 1]:-}"; fi
  done
  echo "optional $SPANK $spank_args" >"$DIR/plugstack.conf"
fi

export SLURM_CONF=$DIR/slurm.conf
: >"$DIR/pids"
setsid slurmctld -D -c -f "$SLURM_CONF" >"$DIR/log/slurmctld.out" 2>&1 &
echo $! >>"$DIR/pids"
for ((n = 1; n <= NODES; n++)); do
  setsid slurmd -D -N "n$n" -f "$SLURM_CONF" >"$DIR/log/slurmd-n$n.out" 2>&1 &
  echo $! >>"$DIR/pids"
done

fail() {
  echo "start-slurm.sh: $*" >&2
  tail -n 20 "$DIR"/log/*.log "$DIR"/log/*.out >&2 2>/dev/null || true
  stop_all
  exit 1
}
alive() {
  while read -r pid; do kill -0 "$pid" 2>/dev/null || return 1; done <"$DIR/pids"
}
deadline=$((SECONDS + 60))
until scontrol ping 2>/dev/null | grep -q 'UP'; do
  ((SECONDS < deadline)) || fail "slurmctld did not answer within 60 s"
  alive || fail "a Slurm daemon exited"
  sleep 0.2
done
until [[ $(sinfo -h -N -o '%t' 2>/dev/null | grep -c -E '^idle') -eq $NODES ]]; do
  ((SECONDS < deadline)) || fail "the nodes did not become idle within 60 s: $(sinfo -h -N -o '%N %t' 2>&1 | tr '\n' ' ')"
  alive || fail "a Slurm daemon exited"
  sleep 0.2
done
echo "slurm: $NODES node(s) idle, $GPUS fake GPU(s) each; export SLURM_CONF=$SLURM_CONF"
