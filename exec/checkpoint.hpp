// Checkpoints in the contract's HDF5 form: one float32 dataset per parameter at the root,
// named as nanoGPT's state_dict and in torch layout, the vocabulary unpadded; AdamW state
// under optimizer/exp_avg/<name> and optimizer/exp_avg_sq/<name>; step, config and data
// position in attributes. Written to a temporary name and renamed, so a crash never leaves a
// torn checkpoint.
#pragma once
#include <string>
#include <vector>

#include "exec/gpt.hpp"

namespace parallax::exec {

struct OptimizerState {
  std::vector<float> m, v;  // same layout as the parameters
  int step = 0;             // optimizer steps taken
};

void save_checkpoint(const std::string& path, const Gpt& model, const OptimizerState* optimizer,
                     const std::string& config_json);
// Loads the weights into `model` (InputError for a missing tensor or a shape that does not
// match the model), and the optimizer state when `optimizer` is given and the file holds it.
// Returns the step stored in the file (0 for a weights-only file).
int load_checkpoint(const std::string& path, Gpt& model, OptimizerState* optimizer);

}  // namespace parallax::exec
