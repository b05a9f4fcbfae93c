// The token and position embeddings (a vocabulary slice [begin, begin + rows) on this rank, as
// kernels/cpu/embedding.cpp). The backward adds each token's gradient into its row with atomics:
// the order of the additions into a row that several tokens share is not fixed.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.hpp"

namespace parallax::kernels::cuda {

namespace {
__global__ void embedding_forward_kernel(float* out, const int* tokens, const float* wte, int begin, int rows,
                                         const float* wpe, int BT, int T, int C) {
  PARALLAX_FOR_EACH(i, static_cast<long>(BT) * C) {
    const long n = i / C;
    const int c = static_cast<int>(i % C), t = static_cast<int>(n % T), row = tokens[n] - begin;
    const float e = row >= 0 && row < rows ? wte[static_cast<long>(row) * C + c] : 0.0f;
    out[i] = e + (wpe ? wpe[static_cast<long>(t) * C + c] : 0.0f);
  }
}

__global__ void embedding_backward_kernel(float* dwte, int begin, int rows, float* dwpe, const float* dout,
                                          const int* tokens, int BT, int T, int C) {
  PARALLAX_FOR_EACH(i, static_cast<long>(BT) * C) {
    const long n = i / C;
    const int c = static_cast<int>(i % C), t = static_cast<int>(n % T), row = tokens[n] - begin;
    if (row >= 0 && row < rows) atomicAdd(dwte + static_cast<long>(row) * C + c, dout[i]);
    if (dwpe) atomicAdd(dwpe + static_cast<long>(t) * C + c, dout[i]);
  }
}

__global__ void add_positions_kernel(float* out, const float* wpe, long first, long tokens, int T, int C) {
  PARALLAX_FOR_EACH(i, tokens * C) out[i] += wpe[((first + i / C) % T) * C + i % C];
}
}  // namespace

void embedding_forward(float* out, const int* tokens, const float* wte, int begin, int rows, const float* wpe, int B,
                       int T, int C, cudaStream_t s) {
  const long n = static_cast<long>(B) * T * C;
  embedding_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(out, tokens, wte, begin, rows, wpe, B * T, T, C);
}

void embedding_backward(float* dwte, int begin, int rows, float* dwpe, const float* dout, const int* tokens, int B,
                        int T, int C, cudaStream_t s) {
  const long n = static_cast<long>(B) * T * C;
  embedding_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(dwte, begin, rows, dwpe, dout, tokens, B * T, T, C);
}

void add_positions(float* out, const float* wpe, long first, long tokens, int T, int C, cudaStream_t s) {
  if (tokens > 0) add_positions_kernel<<<blocks_for(tokens * C), kThreads, 0, s>>>(out, wpe, first, tokens, T, C);
}

}  // namespace parallax::kernels::cuda
