// What the kernels of kernels/cuda share: launch sizes and warp and block reductions.
#pragma once
#include <cuda_runtime.h>

#include <cfloat>

namespace parallax::kernels::cuda {

constexpr int kThreads = 256;
inline unsigned blocks_for(long n, int threads = kThreads) {
  const long b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 65535L * 32 ? (b > 0 ? b : 1) : 65535L * 32);
}

// Kernels that give each row a warp: rows per block of kThreads, and blocks for `rows` rows.
constexpr int kRowsPerBlock = kThreads / 32;
inline unsigned warp_row_blocks(long rows) { return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock); }

// Grid-stride loop over [0, n).
#define PARALLAX_FOR_EACH(i, n)                                                    \
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<long>(gridDim.x) * blockDim.x)

__device__ inline float warp_sum(float x) {
  for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
__device__ inline float warp_max(float x) {
  for (int o = 16; o > 0; o /= 2) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

// The sum (or max) of one value per thread of the block, returned to every thread; blockDim.x a
// multiple of 32, at most 1024.
template <bool Max>
__device__ inline float block_reduce(float x) {
  __shared__ float lanes[32];
  __shared__ float result;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  x = Max ? warp_max(x) : warp_sum(x);
  if (lane == 0) lanes[warp] = x;
  __syncthreads();
  if (warp == 0) {
    float y = lane < warps ? lanes[lane] : (Max ? -FLT_MAX : 0.0f);
    y = Max ? warp_max(y) : warp_sum(y);
    if (lane == 0) result = y;
  }
  __syncthreads();
  const float r = result;
  __syncthreads();  // lanes and result are reused by the next call
  return r;
}

}  // namespace parallax::kernels::cuda
