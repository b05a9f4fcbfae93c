// The GPUs of this process: how many it sees, and the one a rank takes (one GPU per MPI rank,
// picked by its rank among the ranks of its node, as torchrun's LOCAL_RANK picks).
#pragma once
#include <string>

namespace parallax::kernels::cuda {

// The GPUs the CUDA runtime offers; 0 where it has none or no driver to reach them.
int device_count();
// Why there is no GPU to run on: the runtime's answer, for a one-line error.
std::string no_device_reason();
// Makes GPU node_rank % count this thread's device; returns its index.
int select_device(int node_rank);
std::string device_name(int device);

}  // namespace parallax::kernels::cuda
