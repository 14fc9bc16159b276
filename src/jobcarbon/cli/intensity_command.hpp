// `jobcarbon intensity [QUERY] [--dataset NAME] [--json]`: lists and searches the grid carbon
// intensity table, so a user can find the zone id or country code to pass to `run`.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <jobcarbon/carbon/intensity_table.hpp>

namespace jobcarbon::cli {

// What the command was asked for.
struct IntensityQuery {
  std::string query;       // zone id, ISO code or part of a name; empty lists everything
  std::string dataset;     // only this dataset; empty for all
  bool json = false;       // JSON instead of the aligned table
  std::string table_file;  // a table that replaces the embedded one; empty for the embedded
};

// Return ROWS as an aligned table (zone, name, dataset, year, kg/kWh, basis, source), the
// default dataset of each zone marked with '*', followed by the credit line each source's licence
// asks for. Pure: tests compare its output.
std::string render_intensity_table(const std::vector<carbon::IntensityRow>& rows);

// Return ROWS as a JSON array of objects with every column of the table.
std::string render_intensity_json(const std::vector<carbon::IntensityRow>& rows);

// Return the command's output for QUERY on TABLE. Throws std::runtime_error for an unknown
// dataset (listing the datasets) and for a query that matches nothing (listing close matches).
std::string run_intensity_query(const carbon::IntensityTable& table, const IntensityQuery& query);

// Register the `intensity` subcommand.
void add_intensity_command(CLI::App& app);

}  // namespace jobcarbon::cli
