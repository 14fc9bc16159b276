// Whether the tests run in CI: there a missing service (PostgreSQL, promtool) fails a test that
// may skip itself elsewhere, so a skip can never hide a missing install step.
#pragma once

#include <cstdlib>
#include <string_view>

namespace jobcarbon::testing {

// Return true when the environment says CI=true.
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

}  // namespace jobcarbon::testing
