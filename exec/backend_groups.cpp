#include "exec/backend_groups.hpp"

#ifdef PARALLAX_HAVE_CUDA
#include "exec/nccl_communicator.hpp"
#include "kernels/cuda/cuda_kernels.hpp"
#endif

namespace parallax::exec {

BackendGroups::BackendGroups(MpiProcessGroups& mpi, kernels::Kernels& kernels) : mpi_(mpi) {
  if (kernels.name() == "cpu") return;
#ifdef PARALLAX_HAVE_CUDA
  const cudaStream_t compute = dynamic_cast<kernels::cuda::CudaKernels&>(kernels).stream();
  Groups g = mpi.groups();
  for (Communicator* group : {&g.tp, &g.pp, &g.dp, &g.embedding})
    device_.push_back(std::make_unique<NcclCommunicator>(*group, compute));
#else
  throw std::logic_error("BackendGroups: a " + kernels.name() + " backend in a build without CUDA");
#endif
}

Groups BackendGroups::groups() {
  Groups g = mpi_.groups();
  if (device_.empty()) return g;
  return {g.world, *device_[0], *device_[1], *device_[2], *device_[3]};
}

}  // namespace parallax::exec
