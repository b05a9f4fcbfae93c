// The learning rate of a step: nanoGPT's linear warm-up (lr*(it+1)/(warmup+1)), then cosine,
// linear or constant decay to min_lr over the run's remaining steps; equal step by step to
// PyTorch's LinearLR warm-up followed by CosineAnnealingLR or LinearLR (tests/torch_parity.py).
#pragma once
#include "models/experiment.hpp"

namespace parallax::exec {

double learning_rate(const TrainingConfig& t, int step_index);  // step_index counts from 0

}  // namespace parallax::exec
