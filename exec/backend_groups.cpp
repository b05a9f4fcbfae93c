#include "exec/backend_groups.hpp"

#include "kernels/cuda_module.hpp"

namespace parallax::exec {

BackendGroups::BackendGroups(MpiProcessGroups& mpi, kernels::Kernels& kernels) : mpi_(mpi) {
  if (kernels.name() == "cpu") return;
  std::string why;
  void* make = kernels::cuda_symbol("parallax_cuda_make_communicator", &why);
  if (!make) throw InputError("the CUDA backend: " + why);
  using Make = Communicator* (*)(Communicator&, kernels::Kernels&);
  Groups g = mpi.groups();
  for (Communicator* group : {&g.tp, &g.pp, &g.dp, &g.embedding})
    device_.emplace_back(reinterpret_cast<Make>(make)(*group, kernels));
}

Groups BackendGroups::groups() {
  Groups g = mpi_.groups();
  if (device_.empty()) return g;
  return {g.world, *device_[0], *device_[1], *device_[2], *device_[3]};
}

}  // namespace parallax::exec
