// `jobcarbon sensors`: every sensor kind looked for, its channels, and why any is unavailable.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include <jobcarbon/sensors/registry.hpp>

namespace jobcarbon::cli {

// Return the listing as text (pure: tests call it on fixture discoveries).
std::string render_sensors(const sensors::Discovery& d);

// Register the `sensors` subcommand.
void add_sensors_command(CLI::App& app);

}  // namespace jobcarbon::cli
