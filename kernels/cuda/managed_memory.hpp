// The CUDA backend's buffers: managed memory (cudaMallocManaged), which the kernels read on the
// device and the host reads after synchronize() (initialisation, checkpoints, tests), migrated
// page by page where it is touched. The passes touch it only on the device.
#pragma once
#include <memory_resource>

namespace parallax::kernels::cuda {

class ManagedMemory final : public std::pmr::memory_resource {
 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
};

}  // namespace parallax::kernels::cuda
