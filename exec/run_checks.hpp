// What `parallax run` refuses before it starts: plans the executor does not run, and training
// settings outside the ranges PyTorch's AdamW and Megatron's scheduler accept. Throws
// InputError naming the key.
#pragma once
#include "models/experiment.hpp"

namespace parallax::exec {

void check_runnable(const Experiment& e, int ranks);  // `ranks`: how many mpiexec started

}  // namespace parallax::exec
