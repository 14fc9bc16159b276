// `jobcarbon slurm-event start|end`: what Slurm's Prolog and Epilog run on each node (issue #5,
// docs/slurm.md): the job's identity from Slurm's environment (SLURM_JOB_ID, SLURM_JOB_USER,
// SLURM_JOB_UID, SLURM_JOB_ACCOUNT, SLURM_JOB_GPUS, SLURM_CLUSTER_NAME, SLURM_JOB_EXIT_CODE) sent
// to the node agent as job_start / job_end with step "job". `step-start|step-end`: what the SPANK
// plugin (src/slurm_plugin, docs/slurm.md, "Steps") runs in slurmstepd for each step: the same
// identity with the step's name (the agent makes it a sub-record of the job's registration) and,
// at the end, one line for the user on stdout (the step's energy and CO2 on this node). It never
// fails the prolog or the step (a failing prolog drains the node): problems are printed on stderr
// (slurmd's log) and the exit status is 0.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register `slurm-event start|end --submit-time EPOCH [--socket PATH] [--config FILE]
// [--exclusive] [--notify-file FILE]` and `slurm-event step-start --step NAME [--pid PID]
// [--task-pid PID]`, `slurm-event step-end --step NAME [--exit-code N]` (for steps the submit
// time defaults to the one the agent knows the job by).
void add_slurm_event_command(CLI::App& app);

// Return the cgroup of step STEP ("0", "batch") of Slurm job JOB_ID that holds a task whose cgroup
// is TASK_CGROUP — v1 "/slurm_n1/uid_0/job_7/step_0/task_0" and v2
// "/system.slice/n1_slurmstepd.scope/job_7/step_0/user/task_0" give ".../job_7/step_0" — or
// nullopt when TASK_CGROUP is not inside that step's cgroup (no job cgroups: proctrack/linuxproc).
std::optional<std::string> slurm_step_cgroup(std::string_view task_cgroup, std::string_view job_id,
                                             std::string_view step);

}  // namespace jobcarbon::cli
