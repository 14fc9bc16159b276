// Running test code as an unprivileged user. Tests run as root, who may read and write any file,
// so a "permission denied" path is only reached in a child process that dropped root.
#pragma once

#include <functional>
#include <string>

namespace jobcarbon::testing {

// What a child started by run_unprivileged sent back, and how it ended.
struct UnprivilegedRun {
  // What fn returned; "could not drop privileges", "pipe failed", "fork failed" or
  // "exception: <what>" when fn did not run to its end.
  std::string output;
  // The child's status as waitpid reports it (0: exited with 0, after writing all of output);
  // -1 when it could not be waited for.
  int wait_status = -1;
};

// Run fn in a forked child that has dropped root (supplementary groups cleared, then gid and uid
// 65534, "nobody") and return what it returned, passed back through a pipe. When the tests do not
// run as root the child keeps the caller's user. Blocks until the child exits.
UnprivilegedRun run_unprivileged(const std::function<std::string()>& fn);

}  // namespace jobcarbon::testing
