// The entry points of the CUDA module (kernels/cuda_module.hpp): what the executable looks up
// by name once it has loaded libparallax_cuda.so.
#include "exec/nccl_communicator.hpp"
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/device.hpp"

using namespace parallax;

extern "C" {

int parallax_cuda_device_count(std::string* why_none) {
  const int n = kernels::cuda::device_count();
  if (n == 0 && why_none) *why_none = kernels::cuda::no_device_reason();
  return n;
}

int parallax_cuda_select_device(int node_rank) { return kernels::cuda::select_device(node_rank); }

// Owned by the caller.
kernels::Kernels* parallax_cuda_make_kernels(Precision precision) { return new kernels::cuda::CudaKernels(precision); }

// NCCL over `group`'s ranks, ordered against the kernels' stream; owned by the caller.
exec::Communicator* parallax_cuda_make_communicator(exec::Communicator& group, kernels::Kernels& kernels) {
  return new exec::NcclCommunicator(group, dynamic_cast<kernels::cuda::CudaKernels&>(kernels).stream());
}
}
