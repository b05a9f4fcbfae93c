// The training driver of `parallax run`: the rank's process groups (TP fastest, then DP, then
// PP), BLAS threads shared among a node's ranks, the trainer, Megatron-style log lines, and
// the measured run in the results file (rank 0 writes; every step is flushed).
#pragma once
#include <exception>
#include <string>
#include <vector>

#include "exec/mpi_communicator.hpp"

namespace parallax::exec {

struct RunRequest {
  std::string experiment;         // TOML path
  std::vector<std::string> sets;  // section.key=value overrides
  std::string out;                // results file the run is added to
};

// Trains on the ranks of `world`. Returns the exit status: 0, or 2 when rank 0 refused the
// set-up (and said why). Bad input found alike on every rank throws InputError.
int run_training(const RunRequest& request, MpiCommunicator& world);

// Ends every rank of the job after a fault on this one, saying which rank and what (status 2
// for bad input, 1 otherwise).
[[noreturn]] void abort_job(const MpiCommunicator& world, const std::exception& err);

}  // namespace parallax::exec
