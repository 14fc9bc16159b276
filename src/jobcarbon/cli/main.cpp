// jobcarbon: the command-line front end. Parses arguments and hands each subcommand to its own
// file under cli/; holds no logic of its own.
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

int main(int argc, char** argv) {
  CLI::App app{"jobcarbon: energy and CO2 of AI training jobs", "jobcarbon"};
  app.set_version_flag("--version", JOBCARBON_VERSION);
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "jobcarbon: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
