// Loading the configuration files the way every subcommand does: --config FILE alone, else
// /etc/jobcarbon/config.toml then the user's file.
#pragma once

#include <string>

#include <jobcarbon/cli/settings.hpp>

namespace jobcarbon::cli {

// Return the configured settings: the explicit file when explicit_file is not empty, else the
// default files that exist (read from HOME and XDG_CONFIG_HOME). Throws like load_settings_file.
Settings load_settings(const std::string& explicit_file);

}  // namespace jobcarbon::cli
