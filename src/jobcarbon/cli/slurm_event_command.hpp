// `jobcarbon slurm-event start|end`: what Slurm's Prolog and Epilog run on each node (issue #5,
// docs/slurm.md): the job's identity from Slurm's environment (SLURM_JOB_ID, SLURM_JOB_USER,
// SLURM_JOB_UID, SLURM_JOB_ACCOUNT, SLURM_JOB_GPUS, SLURM_CLUSTER_NAME, SLURM_JOB_EXIT_CODE) sent
// to the node agent as job_start / job_end. It never fails the prolog (a failing prolog drains the
// node): problems are printed on stderr (slurmd's log) and the exit status is 0.
#pragma once

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register `slurm-event start|end --submit-time EPOCH [--socket PATH] [--config FILE]
// [--exclusive]`.
void add_slurm_event_command(CLI::App& app);

}  // namespace jobcarbon::cli
