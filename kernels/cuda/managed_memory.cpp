#include "kernels/cuda/managed_memory.hpp"

#include <new>

#include "kernels/cuda/cuda_check.hpp"

namespace parallax::kernels::cuda {

// cudaMallocManaged aligns to 256 bytes at least, more than any element type asks.
void* ManagedMemory::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (alignment > 256) throw std::bad_alloc();
  void* p = nullptr;
  if (cudaMallocManaged(&p, bytes > 0 ? bytes : 1) != cudaSuccess) {
    cudaGetLastError();
    throw std::bad_alloc();
  }
  return p;
}

// A buffer may still be read by a kernel in flight: the device finishes first.
void ManagedMemory::do_deallocate(void* p, std::size_t, std::size_t) {
  cudaDeviceSynchronize();
  cudaFree(p);
}

}  // namespace parallax::kernels::cuda
