#include "kernels/cuda/scratch.hpp"

#include "kernels/cuda/cuda_check.hpp"

namespace parallax::kernels::cuda {

Scratch::~Scratch() {
  cudaStreamSynchronize(stream_);
  for (auto& b : slots_) cudaFree(b.data);
}

// A slot that grows is freed once the kernels queued on the stream, which may read it, are done.
void* Scratch::get(Slot s, std::size_t bytes) {
  Buffer& b = slots_[static_cast<std::size_t>(s)];
  if (bytes <= b.bytes) return b.data;
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  check(cudaFree(b.data), "cudaFree");
  b = {};
  check(cudaMalloc(&b.data, bytes), "cudaMalloc (work space)");
  b.bytes = bytes;
  return b.data;
}

std::size_t Scratch::bytes() const {
  std::size_t n = 0;
  for (const auto& b : slots_) n += b.bytes;
  return n;
}

}  // namespace parallax::kernels::cuda
