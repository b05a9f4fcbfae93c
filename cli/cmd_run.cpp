// `parallax run`: argv to exec::run_training (exec/run.hpp).
#include <mpi.h>

#include <memory>

#include "cli/commands.hpp"
#include "exec/mpi_communicator.hpp"
#include "exec/run.hpp"
#include "models/experiment.hpp"

namespace parallax::cli {

Runner add_run(CLI::App& app) {
  auto args = std::make_shared<exec::RunRequest>();
  app.add_option("experiment", args->experiment, "Experiment TOML file")->required();
  app.add_option("--set", args->sets, "Override a key: section.key=value (repeatable)");
  app.add_option("--out", args->out, "HDF5 results file to add the measured run to")->required();
  return [args] {
    exec::MpiSession mpi;
    exec::MpiCommunicator world(MPI_COMM_WORLD);
    const bool leader = world.rank() == 0;
    try {
      return exec::run_training(*args, world);
    } catch (const InputError&) {
      if (!leader) throw ExitStatus{2};  // every rank finds the same fault; rank 0 says it
      throw;
    } catch (const std::exception& err) {
      if (world.size() == 1) throw;
      exec::abort_job(world, err);  // a fault on one rank only, during the set-up
    }
  };
}

}  // namespace parallax::cli
