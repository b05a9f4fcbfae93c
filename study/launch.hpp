// Launching a study's plans: one after another on this machine under mpiexec, or as Slurm job
// arrays (one array task per plan, grouped by the nodes and tasks they need).
#pragma once
#include <string>
#include <vector>

#include "exec/stop_signals.hpp"
#include "study/study_dir.hpp"

namespace parallax::study {

// A plan to launch and how many runs it still needs.
struct Task {
  int index = 0;  // in the manifest: the array task's id
  PlanEntry plan;
  int runs = 1;
};

// Whether the job (job=ID, through squeue) or the process (pid=PID@HOST, on this host) of a
// status line still runs; true when that cannot be known (no squeue, another host).
bool job_alive(const std::string& job);

// The commands of one run of a plan on this machine.
std::vector<std::string> local_command(const std::string& dir, const Manifest& m, const PlanEntry& plan);

// Runs the tasks one after another; a failed plan is marked and the next one runs. Returns 0
// when every run finished, 1 when some failed, 128 + the signal when `stop` caught one (the
// running plan marked interrupted, the rest left pending).
int run_local(const std::string& dir, const Manifest& m, const std::vector<Task>& tasks, const exec::StopSignals& stop);

// The job-array scripts for the tasks, one per (nodes, tasks per node), each with its tasks.
struct ArrayScript {
  std::vector<Task> tasks;
  std::string text;
};
std::vector<ArrayScript> slurm_scripts(const std::string& dir, const Manifest& m, const std::vector<Task>& tasks);

// Writes each script under DIR/slurm/, submits it with sbatch and marks its plans submitted;
// returns the job ids. InputError when sbatch refuses one (the plans of the scripts submitted
// before stay submitted).
std::vector<std::string> submit(const std::string& dir, const std::vector<ArrayScript>& scripts);

}  // namespace parallax::study
