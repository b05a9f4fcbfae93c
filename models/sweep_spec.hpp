// The `[sweep]` section of the experiment file (contract §1): every key is a list of
// candidates (each value counted once, at most 256 of them), a key left out means every valid
// value.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "models/experiment.hpp"

namespace parallax {

struct SweepSpec {
  std::vector<int> gpus;  // device counts; empty = the experiment's system.gpus
  std::optional<std::vector<int>> tp, pp, dp, micro_batch, vpp;
  // Global batches (sequences) to try at every device count; empty: training.global_batch
  // (scaled under weak_scaling, which a list excludes).
  std::optional<std::vector<int>> global_batch;
  std::optional<std::vector<Schedule>> schedule;
  std::optional<std::vector<Recompute>> recompute;
  std::optional<std::vector<bool>> sequence_parallel, distributed_optimizer;
  // ZeRO stages to try where dp > 1: 0 nothing sharded, 1 the optimizer state, 2 and the
  // gradients, 3 and the weights (FSDP); an alternative to listing distributed_optimizer.
  std::optional<std::vector<int>> zero_stage;
  bool tp_across_nodes = false;  // let tp exceed a node (default: tp within one node)
  // Weak scaling: the global batch grows with the device count (training.global_batch is the
  // batch at system.gpus devices); otherwise it is fixed (strong scaling).
  bool weak_scaling = false;
};

// Reads [sweep] from the experiment file (with --set overrides) and checks each listed value
// against the model: InputError names the key and value when no plan could use it.
SweepSpec load_sweep_spec_file(const std::string& path, const std::vector<std::string>& overrides,
                               const Experiment& base);
SweepSpec load_sweep_spec_text(const std::string& text, const std::string& source,
                               const std::vector<std::string>& overrides, const Experiment& base);

}  // namespace parallax
