// Checkpoints in the contract's HDF5 form: one float32 dataset per parameter at the root,
// named as nanoGPT's state_dict and in torch layout, whole (never sharded) and with the
// vocabulary unpadded; AdamW state under optimizer/exp_avg/<name> and
// optimizer/exp_avg_sq/<name>; step and config in attributes; each tensor's CRC-32 in its
// attribute crc32, checked when it is loaded. Written through a staged file (synced, read back
// and checked, then renamed), so a crash or a full disk never leaves a torn checkpoint. Any layout loads any
// checkpoint: each rank reads the whole tensors it holds a slice of and keeps its slice.
#pragma once
#include <string>
#include <vector>

#include "exec/communicator.hpp"
#include "exec/gpt.hpp"

namespace parallax::exec {

struct OptimizerState {
  std::vector<float> m, v;  // same layout as the rank's parameters
  int step = 0;             // optimizer steps taken
};

// Collective over `world`, whose ranks are placed as parallel.tp/pp/dp say (TP fastest, then
// DP, then PP): the DP-rank-0 slices of every tensor (and of `optimizer`, when given: every
// rank's full local state) are gathered to rank 0, which writes the file.
void save_checkpoint(const std::string& path, const Gpt& model, const OptimizerState* optimizer,
                     const std::string& config_json, Communicator& world, const ParallelConfig& parallel);
// One process holding the whole model.
void save_checkpoint(const std::string& path, const Gpt& model, const OptimizerState* optimizer,
                     const std::string& config_json);
// Loads this rank's slices of the weights into `model` (InputError for a missing tensor or a
// shape that does not match the model), and of the optimizer state when `optimizer` is given
// and the file holds it. Returns the step stored in the file (0 for a weights-only file).
int load_checkpoint(const std::string& path, Gpt& model, OptimizerState* optimizer);

}  // namespace parallax::exec
