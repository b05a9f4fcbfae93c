// LayerNorm over the last dimension (eps 1e-5, as kernels/cpu/layernorm.cpp), one warp per row;
// the backward accumulates.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.hpp"

namespace parallax::kernels::cuda {

namespace {
__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int N, int C) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const float* x = inp + static_cast<long>(row) * C;
  float sum = 0;
  for (int i = lane; i < C; i += 32) sum += x[i];
  const float m = warp_sum(sum) / C;
  float var = 0;
  for (int i = lane; i < C; i += 32) var += (x[i] - m) * (x[i] - m);
  const float s = rsqrtf(warp_sum(var) / C + 1e-5f);
  float* y = out + static_cast<long>(row) * C;
  for (int i = lane; i < C; i += 32) y[i] = (x[i] - m) * s * weight[i] + bias[i];
  if (lane == 0) mean[row] = m, rstd[row] = s;
}

// dx += s * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat)), dnorm = weight * dy; and the
// per-row products xhat * dy whose column sums are dweight.
__global__ void layernorm_backward_kernel(float* dinp, float* xhat_dy, const float* dout, const float* inp,
                                          const float* weight, const float* mean, const float* rstd, int N, int C) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const long at = static_cast<long>(row) * C;
  const float m = mean[row], s = rstd[row];
  float dnorm_sum = 0, dnorm_xhat_sum = 0;
  for (int i = lane; i < C; i += 32) {
    const float xhat = (inp[at + i] - m) * s, dnorm = weight[i] * dout[at + i];
    dnorm_sum += dnorm;
    dnorm_xhat_sum += dnorm * xhat;
  }
  const float dnorm_mean = warp_sum(dnorm_sum) / C, dnorm_xhat_mean = warp_sum(dnorm_xhat_sum) / C;
  for (int i = lane; i < C; i += 32) {
    const float xhat = (inp[at + i] - m) * s, dy = dout[at + i];
    dinp[at + i] += s * (weight[i] * dy - dnorm_mean - xhat * dnorm_xhat_mean);
    xhat_dy[at + i] = xhat * dy;
  }
}
}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C, cudaStream_t s) {
  if (N > 0) layernorm_forward_kernel<<<warp_row_blocks(N), kThreads, 0, s>>>(out, mean, rstd, inp, weight, bias, N, C);
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C, float* work,
                        float* partials, cudaStream_t s) {
  if (N <= 0) return;
  layernorm_backward_kernel<<<warp_row_blocks(N), kThreads, 0, s>>>(dinp, work, dout, inp, weight, mean, rstd, N, C);
  add_column_sums(dbias, dout, N, C, partials, s);
  add_column_sums(dweight, work, N, C, partials, s);
}

}  // namespace parallax::kernels::cuda
