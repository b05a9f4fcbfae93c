// Device work space of the CUDA backend: named slots, each grown (never shrunk) to the largest
// size asked of it, so that the passes allocate nothing once the first step has run.
#pragma once
#include <cuda_runtime.h>

#include <array>
#include <cstddef>

namespace parallax::kernels::cuda {

enum class Slot {
  q,
  k,
  v,
  heads,
  dq,
  dk,
  dv,  // attention's per-head copies
  scores,
  dscores,
  dropped,  // attention's [B, NH, T, T] buffers
  gemm_a,
  gemm_b,
  gemm_workspace,  // 16-bit copies of a GEMM's operands; cuBLASLt's work space
  rows,
  partials,
  norm,
  flag,  // LayerNorm's products, column-sum partials, norm and overflow results
  count
};

class Scratch {
 public:
  explicit Scratch(cudaStream_t stream) : stream_(stream) {}
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  // At least `bytes` of slot s (a grown slot's old contents are gone).
  void* get(Slot s, std::size_t bytes);
  template <class T>
  T* get(Slot s, long n) {
    return static_cast<T*>(get(s, sizeof(T) * static_cast<std::size_t>(n > 0 ? n : 1)));
  }
  std::size_t bytes() const;  // held in all slots

 private:
  struct Buffer {
    void* data = nullptr;
    std::size_t bytes = 0;
  };
  cudaStream_t stream_;
  std::array<Buffer, static_cast<std::size_t>(Slot::count)> slots_{};
};

}  // namespace parallax::kernels::cuda
