// parallax: predict, sweep, validate and run parallel training plans.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>

#include "cli/commands.hpp"
#include "models/experiment.hpp"

namespace {
// The status to exit with once a command is done. A run stopped by SIGTERM or SIGINT returns
// 128 + the signal once it has recorded what it did (and MPI is finalised): it then ends by that
// signal, as the shell and mpiexec expect of a program that was stopped (MPICH's mpiexec reports
// an exit status of 143 inconsistently, a death by the signal more reliably).
int finish(int status) {
  for (int signal : {SIGTERM, SIGINT})
    if (status == 128 + signal) {
      std::cout.flush();
      std::cerr.flush();
      std::fflush(nullptr);
      std::signal(signal, SIG_DFL);
      std::raise(signal);
    }
  return status;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Parallax: predict, sweep and run parallel LLM training plans", "parallax"};
  app.set_version_flag("--version", std::string(PARALLAX_VERSION));
  app.require_subcommand(1);
  std::map<CLI::App*, parallax::cli::Runner> runners;
  auto add = [&](const char* name, const char* help, parallax::cli::Runner (*make)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    runners[sub] = make(*sub);
  };
  add("predict", "Predict iteration time, throughput and memory of one configuration", parallax::cli::add_predict);
  add("sweep", "Search every valid parallel plan and rank them", parallax::cli::add_sweep);
  add("run", "Train the experiment's model and log measurements to HDF5", parallax::cli::add_run);
  add("validate", "Predict every row of a published-runs table and report the errors", parallax::cli::add_validate);
  add("bench", "Time the executor's GEMMs, kernels, collectives or point-to-point messages on this machine",
      parallax::cli::add_bench);
  add("calibrate", "Fit a system file to this machine's micro-benchmarks", parallax::cli::add_calibrate);
  add("compare", "Compare every measured run of a results file with its stored prediction, per phase",
      parallax::cli::add_compare);
  add("merge", "Add the runs, sweeps and benchmarks of results files to one", parallax::cli::add_merge);
  add("study", "Run a scaling study: plans of an experiment, locally or as a Slurm job array",
      parallax::cli::add_study);
  add("models", "List the model presets", parallax::cli::add_models);
  add("systems", "List the system presets", parallax::cli::add_systems);
  add("frameworks", "List the framework profiles (training.framework)", parallax::cli::add_frameworks);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "parallax: " << e.what() << "\n";
    return 2;
  }
  int status = 2;
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) status = run();
  } catch (const parallax::cli::ExitStatus& e) {
    status = e.code;
  } catch (const parallax::InputError& e) {
    std::cerr << "parallax: " << e.what() << "\n";
    status = 2;
  } catch (const std::exception& e) {
    std::cerr << "parallax: error: " << e.what() << "\n";
    status = 1;
  }
  return finish(status);
}
