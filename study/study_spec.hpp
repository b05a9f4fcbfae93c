// The `[study]` section of an experiment file (interfaces §5): which plans a scaling study runs,
// how many steps and repeats, and how they are launched (locally under mpiexec, or as a Slurm
// job array).
#pragma once
#include <string>
#include <vector>

#include "models/experiment.hpp"

namespace parallax::study {

struct SlurmSettings {
  std::string partition, account, time;   // left out of the script when empty
  int gpus_per_node = 0;                  // written as --gpus-per-node when given
  std::vector<std::string> extra_sbatch;  // more #SBATCH lines, each as written after "#SBATCH "
  std::string launch = "srun";            // "srun" (srun --mpi=pmi2) or "mpiexec" (inside the allocation)
};

// A plan of the study: the knobs it sets over the experiment, as TOML keys (section.key) and
// values written as TOML ("4", "true", "\"full\"").
struct PlanKnobs {
  std::vector<std::pair<std::string, std::string>> keys;
};

struct StudySpec {
  std::vector<PlanKnobs> plans;  // explicit plans, or
  int top_k = 0;                 // the sweep's best K per device count
  bool weak_scaling = false;     // the global batch grows with the device count (the sweep's rule)
  int steps = 0;                 // 0: the experiment's training.steps
  int repeats = 1;
  std::string launcher = "local";  // or "slurm"
  SlurmSettings slurm;
};

// Reads [study] from an experiment file's text; InputError names the key for anything wrong.
// A plan is a table of knobs (gpus, tp, pp, dp, vpp, schedule, micro_batch, global_batch,
// recompute, sequence_parallel, distributed_optimizer) or a plan name as the sweep prints it
// ("t2p1d4m2", "t2p4d1m1v2").
StudySpec load_study_spec_text(const std::string& text, const std::string& source);

}  // namespace parallax::study
