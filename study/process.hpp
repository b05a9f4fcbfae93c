// Starting a program and waiting for it, with its output appended to a log or captured.
#pragma once
#include <string>
#include <vector>

#include "exec/stop_signals.hpp"

namespace parallax::study {

struct ProcessResult {
  int status = 0;      // the exit status, or 128 + the signal that ended it
  std::string output;  // stdout and stderr, when captured
};

// Runs argv (found on PATH) with stdout and stderr appended to `log` (captured when `log` is
// empty). A signal that `stop` catches meanwhile is passed on to the program, once; the result
// is then what the program did with it. InputError when the program cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& log,
                          const exec::StopSignals* stop = nullptr);

}  // namespace parallax::study
