// `jobcarbon status`: the jobs the node agent meters on this node now, with their energy and CO2
// so far (an ordinary user sees their own jobs; root and the Slurm user see all).
#pragma once

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register `status [--socket PATH] [--config FILE] [--json]`. Exit status 0 with the table (or
// JSON); 1 when no agent runs on this node or it refused, with a message naming the socket.
void add_status_command(CLI::App& app);

}  // namespace jobcarbon::cli
