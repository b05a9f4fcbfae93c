// The groups a trainer talks through on a backend: the MPI groups themselves (cpu), or NCCL
// communicators over them for the tensor-, pipeline- and data-parallel and embedding groups
// (cuda), ordered against the backend's compute stream. The world stays on MPI: what it carries
// is host scalars (the loss, the gradient norm, the overflow check) and checkpoints.
#pragma once
#include <memory>
#include <vector>

#include "exec/process_groups.hpp"
#include "kernels/kernels.hpp"

namespace parallax::exec {

class BackendGroups {
 public:
  BackendGroups(MpiProcessGroups& mpi, kernels::Kernels& kernels);
  Groups groups();

 private:
  MpiProcessGroups& mpi_;
  std::vector<std::unique_ptr<Communicator>> device_;  // tp, pp, dp, embedding; empty on the CPU
};

}  // namespace parallax::exec
