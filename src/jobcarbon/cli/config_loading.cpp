#include <jobcarbon/cli/config_loading.hpp>

#include <cstdlib>

namespace jobcarbon::cli {

Settings load_settings(const std::string& explicit_file) {
  const char* home = std::getenv("HOME");
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const auto defaults = default_config_paths(home ? home : "", xdg ? xdg : "");
  std::optional<std::filesystem::path> file;
  if (!explicit_file.empty()) file = explicit_file;
  return load_configured_settings(file, defaults);
}

}  // namespace jobcarbon::cli
