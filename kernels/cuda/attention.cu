// The element-wise parts of causal attention around its batched GEMMs (llm.c's layout): heads
// split out of fused QKV and merged back, the causal softmax with each row's log-sum-exp, the
// probabilities' dropout (the counters of kernels/kernels.hpp) and the softmax's backward. One
// warp per row of T scores.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.hpp"

namespace parallax::kernels::cuda {

namespace {
// Element (b, h, t, i) of [B, NH, T, hs] and its place in a [B, T, width] row layout at column offset.
__device__ inline long row_index(long e, int NH, int T, int hs, int width, int offset) {
  const int i = static_cast<int>(e % hs);
  const long r = e / hs;
  const int t = static_cast<int>(r % T);
  const long bh = r / T;
  const int h = static_cast<int>(bh % NH), b = static_cast<int>(bh / NH);
  return (static_cast<long>(b) * T + t) * width + offset + h * hs + i;
}

__global__ void split_heads_kernel(float* q, float* k, float* v, const float* qkv, int B, int T, int C, int NH) {
  const int hs = C / NH;
  PARALLAX_FOR_EACH(e, static_cast<long>(B) * T * C) {
    const long at = row_index(e, NH, T, hs, 3 * C, 0);
    q[e] = qkv[at];
    k[e] = qkv[at + C];
    v[e] = qkv[at + 2 * C];
  }
}

__global__ void merge_heads_add_kernel(float* dqkv, const float* dq, const float* dk, const float* dv, int B, int T,
                                       int C, int NH) {
  const int hs = C / NH;
  PARALLAX_FOR_EACH(e, static_cast<long>(B) * T * C) {
    const long at = row_index(e, NH, T, hs, 3 * C, 0);
    dqkv[at] += dq[e];
    dqkv[at + C] += dk[e];
    dqkv[at + 2 * C] += dv[e];
  }
}

__global__ void heads_to_rows_kernel(float* out, const float* y, int B, int T, int C, int NH) {
  PARALLAX_FOR_EACH(e, static_cast<long>(B) * T * C) out[row_index(e, NH, T, C / NH, C, 0)] = y[e];
}

__global__ void rows_to_heads_kernel(float* y, const float* out, int B, int T, int C, int NH) {
  PARALLAX_FOR_EACH(e, static_cast<long>(B) * T * C) y[e] = out[row_index(e, NH, T, C / NH, C, 0)];
}

// Row r = bh * T + t: exp(s - lse) for j <= t, 0 above; the log-sum-exp computed when `find`.
__global__ void softmax_kernel(float* scores, float* lse, int rows, int T, bool find) {
  const int r = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= rows) return;
  const int t = r % T;
  float* row = scores + static_cast<long>(r) * T;
  float l = 0;
  if (find) {
    float m = -INFINITY;
    for (int j = lane; j <= t; j += 32) m = fmaxf(m, row[j]);
    m = warp_max(m);
    float sum = 0;
    for (int j = lane; j <= t; j += 32) sum += expf(row[j] - m);
    l = m + logf(warp_sum(sum));
    if (lane == 0) lse[r] = l;
  } else {
    l = lse[r];
  }
  for (int j = lane; j < T; j += 32) row[j] = j <= t ? expf(row[j] - l) : 0.0f;
}

// Counter of probability (t, j) of this rank's head h of sample b.
__device__ inline std::uint64_t probability_counter(const Dropout& d, int b, int h, int t, int j, int T) {
  return d.first + ((static_cast<std::uint64_t>(b) * d.heads + d.first_head + h) * T + t) * T + j;
}

__global__ void drop_kernel(float* dropped, const float* P, Dropout d, int NH, int T, long n) {
  PARALLAX_FOR_EACH(e, n) {
    const int j = static_cast<int>(e % T), t = static_cast<int>((e / T) % T);
    const long bh = e / (static_cast<long>(T) * T);
    dropped[e] = P[e] * d.factor(probability_counter(d, static_cast<int>(bh / NH), static_cast<int>(bh % NH), t, j, T));
  }
}

__global__ void softmax_backward_kernel(float* dP, const float* P, const float* dout, const float* out, Dropout d,
                                        int B, int NH, int T, int C, float scale) {
  const int r = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= B * NH * T) return;
  const int t = r % T, bh = r / T, h = bh % NH, b = bh / NH, hs = C / NH;
  const long at = (static_cast<long>(b) * T + t) * C + h * hs;
  float D = 0;  // rowsum(dO * O) of this head
  for (int i = lane; i < hs; i += 32) D += dout[at + i] * out[at + i];
  D = warp_sum(D);
  float* dp = dP + static_cast<long>(r) * T;
  const float* p = P + static_cast<long>(r) * T;
  for (int j = lane; j < T; j += 32) {
    if (j > t) {
      dp[j] = 0.0f;
      continue;
    }
    const float g = d.active() ? dp[j] * d.factor(probability_counter(d, b, h, t, j, T)) : dp[j];
    dp[j] = p[j] * (g - D) * scale;
  }
}
}  // namespace

void split_heads(float* q, float* k, float* v, const float* qkv, int B, int T, int C, int NH, cudaStream_t s) {
  split_heads_kernel<<<blocks_for(static_cast<long>(B) * T * C), kThreads, 0, s>>>(q, k, v, qkv, B, T, C, NH);
}

void merge_heads_add(float* dqkv, const float* dq, const float* dk, const float* dv, int B, int T, int C, int NH,
                     cudaStream_t s) {
  merge_heads_add_kernel<<<blocks_for(static_cast<long>(B) * T * C), kThreads, 0, s>>>(dqkv, dq, dk, dv, B, T, C, NH);
}

void heads_to_rows(float* out, const float* y, int B, int T, int C, int NH, cudaStream_t s) {
  heads_to_rows_kernel<<<blocks_for(static_cast<long>(B) * T * C), kThreads, 0, s>>>(out, y, B, T, C, NH);
}

void rows_to_heads(float* y, const float* out, int B, int T, int C, int NH, cudaStream_t s) {
  rows_to_heads_kernel<<<blocks_for(static_cast<long>(B) * T * C), kThreads, 0, s>>>(y, out, B, T, C, NH);
}

void causal_softmax(float* scores, float* lse, int BH, int T, cudaStream_t s) {
  const int rows = BH * T;
  softmax_kernel<<<warp_row_blocks(rows), kThreads, 0, s>>>(scores, lse, rows, T, true);
}

void causal_probabilities(float* scores, const float* lse, int BH, int T, cudaStream_t s) {
  const int rows = BH * T;
  softmax_kernel<<<warp_row_blocks(rows), kThreads, 0, s>>>(scores, const_cast<float*>(lse), rows, T, false);
}

void drop_probabilities(float* dropped, const float* P, const Dropout& d, int B, int NH, int T, cudaStream_t s) {
  const long n = static_cast<long>(B) * NH * T * T;
  drop_kernel<<<blocks_for(n), kThreads, 0, s>>>(dropped, P, d, NH, T, n);
}

void softmax_backward(float* dP, const float* P, const float* dout, const float* out, const Dropout& d, int B, int NH,
                      int T, int C, float scale, cudaStream_t s) {
  const int rows = B * NH * T;
  softmax_backward_kernel<<<warp_row_blocks(rows), kThreads, 0, s>>>(dP, P, dout, out, d, B, NH, T, C, scale);
}

}  // namespace parallax::kernels::cuda
