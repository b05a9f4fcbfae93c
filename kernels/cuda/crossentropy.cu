// Vocabulary-parallel softmax cross-entropy in the three steps of kernels/kernels.hpp, one
// block per row of Vl logits (`valid` of them real tokens), and its gradient.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.hpp"

namespace parallax::kernels::cuda {

namespace {
__global__ void row_max_kernel(float* max, const float* logits, int Vl, int valid) {
  const float* row = logits + static_cast<long>(blockIdx.x) * Vl;
  float m = -INFINITY;
  for (int i = threadIdx.x; i < valid; i += blockDim.x) m = fmaxf(m, row[i]);
  m = block_reduce<true>(m);
  if (threadIdx.x == 0) max[blockIdx.x] = valid > 0 ? m : -INFINITY;
}

__global__ void exp_sum_kernel(float* sum, float* logits, const float* max, int Vl, int valid) {
  float* row = logits + static_cast<long>(blockIdx.x) * Vl;
  const float m = max[blockIdx.x];
  float s = 0;
  for (int i = threadIdx.x; i < Vl; i += blockDim.x) {
    const float e = i < valid ? expf(row[i] - m) : 0.0f;
    row[i] = e;
    s += e;
  }
  s = block_reduce<false>(s);
  if (threadIdx.x == 0) sum[blockIdx.x] = s;
}

__global__ void normalize_kernel(float* losses, float* logits, const float* sum, const int* targets, int begin, int Vl,
                                 int valid) {
  float* row = logits + static_cast<long>(blockIdx.x) * Vl;
  const float inv = 1.0f / sum[blockIdx.x];
  for (int i = threadIdx.x; i < valid; i += blockDim.x) row[i] *= inv;
  __syncthreads();
  if (threadIdx.x == 0) {
    const int t = targets[blockIdx.x] - begin;
    losses[blockIdx.x] = t >= 0 && t < valid ? -logf(row[t]) : 0.0f;
  }
}

__global__ void backward_kernel(float* dlogits, const float* probs, const int* targets, float dloss, int begin, int Vl,
                                int valid) {
  const long at = static_cast<long>(blockIdx.x) * Vl;
  const int t = targets[blockIdx.x] - begin;
  for (int i = threadIdx.x; i < Vl; i += blockDim.x)
    dlogits[at + i] = i < valid ? (probs[at + i] - (i == t ? 1.0f : 0.0f)) * dloss : 0.0f;
}
}  // namespace

void crossentropy_row_max(float* max, const float* logits, int N, int Vl, int valid, cudaStream_t s) {
  if (N > 0) row_max_kernel<<<N, 1024, 0, s>>>(max, logits, Vl, valid);
}

void crossentropy_exp_sum(float* sum, float* logits, const float* max, int N, int Vl, int valid, cudaStream_t s) {
  if (N > 0) exp_sum_kernel<<<N, 1024, 0, s>>>(sum, logits, max, Vl, valid);
}

void crossentropy_normalize(float* losses, float* logits, const float* sum, const int* targets, int begin, int N,
                            int Vl, int valid, cudaStream_t s) {
  if (N > 0) normalize_kernel<<<N, 1024, 0, s>>>(losses, logits, sum, targets, begin, Vl, valid);
}

void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int begin, int N,
                           int Vl, int valid, cudaStream_t s) {
  if (N > 0) backward_kernel<<<N, 1024, 0, s>>>(dlogits, probs, targets, dloss, begin, Vl, valid);
}

}  // namespace parallax::kernels::cuda
