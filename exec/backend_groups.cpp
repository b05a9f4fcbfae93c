#include "exec/backend_groups.hpp"

#include "kernels/cuda_module.hpp"

namespace parallax::exec {

BackendGroups::BackendGroups(MpiProcessGroups& mpi, kernels::Kernels& kernels) : mpi_(mpi) {
  if (kernels.name() == "cpu") return;
  auto* make =
      kernels::cuda_function<Communicator*(Communicator&, kernels::Kernels&)>("parallax_cuda_make_communicator");
  Groups g = mpi.groups();
  for (Communicator* group : {&g.tp, &g.pp, &g.dp, &g.embedding}) device_.emplace_back(make(*group, kernels));
}

Groups BackendGroups::groups() {
  Groups g = mpi_.groups();
  if (device_.empty()) return g;
  return {g.world, *device_[0], *device_[1], *device_[2], *device_[3]};
}

}  // namespace parallax::exec
