// Mixed precision's casts on the device: bf16 and fp16 bit patterns, rounded to nearest even
// (cuda_bf16.h and cuda_fp16.h's _rn conversions, as the CPU's kernels/cpu/half.cpp), and the
// unscaling of fp16 gradients with its inf/NaN check.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.hpp"

namespace parallax::kernels::cuda {

namespace {
__device__ inline std::uint16_t to_bits(float x, Half h) {
  return h == Half::bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(x)) : __half_as_ushort(__float2half_rn(x));
}
__device__ inline float from_bits(std::uint16_t b, Half h) {
  return h == Half::bf16 ? __bfloat162float(__ushort_as_bfloat16(b)) : __half2float(__ushort_as_half(b));
}

__global__ void to_16bit_kernel(std::uint16_t* out, const float* in, long n, Half h) {
  PARALLAX_FOR_EACH(i, n) out[i] = to_bits(in[i], h);
}
__global__ void from_16bit_kernel(float* out, const std::uint16_t* in, long n, Half h) {
  PARALLAX_FOR_EACH(i, n) out[i] = from_bits(in[i], h);
}
__global__ void round_kernel(float* x, long n, Half h) {
  PARALLAX_FOR_EACH(i, n) x[i] = from_bits(to_bits(x[i], h), h);
}
__global__ void unscale_kernel(float* x, long n, float inv_scale, int* flag) {
  PARALLAX_FOR_EACH(i, n) {
    const float y = x[i] * inv_scale;
    x[i] = y;
    if (!isfinite(y)) *flag = 1;
  }
}
}  // namespace

void cast_to_16bit(std::uint16_t* out, const float* in, long n, Half h, cudaStream_t s) {
  if (n > 0) to_16bit_kernel<<<blocks_for(n), kThreads, 0, s>>>(out, in, n, h);
}

void cast_from_16bit(float* out, const std::uint16_t* in, long n, Half h, cudaStream_t s) {
  if (n > 0) from_16bit_kernel<<<blocks_for(n), kThreads, 0, s>>>(out, in, n, h);
}

void round_to_16bit(float* x, long n, Half h, cudaStream_t s) {
  if (n > 0) round_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, n, h);
}

void unscale_and_flag(float* x, long n, float inv_scale, int* flag, cudaStream_t s) {
  if (n > 0) unscale_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, n, inv_scale, flag);
}

}  // namespace parallax::kernels::cuda
