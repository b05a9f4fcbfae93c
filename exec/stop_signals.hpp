// SIGTERM (what Slurm sends at the time limit, and mpiexec passes on) and SIGINT, caught so that
// a run stops at the next step boundary — its steps recorded, the run marked interrupted —
// instead of dying between two writes. While an object lives, the signals set a flag that
// received() reads; the previous handlers come back when it goes. The flag is the process's one
// piece of global state: a signal handler can reach nothing else.
#pragma once
#include <csignal>

namespace parallax::exec {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int received() const;  // the signal's number, or 0

 private:
  struct sigaction previous_term_ {
  }, previous_int_{};
};

}  // namespace parallax::exec
