#include "kernels/cuda/device.hpp"

#include "kernels/cuda/cuda_check.hpp"

namespace parallax::kernels::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // the query's error is the answer, not a fault to report later
    return 0;
  }
  return n;
}

std::string no_device_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  cudaGetLastError();
  if (e != cudaSuccess) return cudaGetErrorString(e);
  return n == 0 ? "no CUDA device is visible" : "";
}

int select_device(int node_rank) {
  const int n = device_count();
  if (n == 0) throw std::runtime_error("no CUDA device: " + no_device_reason());
  const int device = node_rank % n;
  check(cudaSetDevice(device), "cudaSetDevice");
  return device;
}

std::string device_name(int device) {
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
  return p.name;
}

}  // namespace parallax::kernels::cuda
