// Reductions whose order is fixed, so that a run repeats to the bit: the squared norm (fp64
// partial sums, as the CPU's kernels/cpu/grad_norm.cpp sums in fp64) and column sums of a
// row-major matrix (a bias's or a LayerNorm parameter's gradient).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.hpp"

namespace parallax::kernels::cuda {

namespace {
// Each block's sum of squares into partial[block]; then one block adds them in order.
__global__ void squares_kernel(double* partial, const float* x, long n) {
  __shared__ double lanes[kThreads];
  double sum = 0;
  PARALLAX_FOR_EACH(i, n) sum += static_cast<double>(x[i]) * x[i];
  lanes[threadIdx.x] = sum;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) lanes[threadIdx.x] += lanes[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = lanes[0];
}
__global__ void sum_partials_kernel(double* out, int blocks) {
  double sum = 0;
  for (int b = 0; b < blocks; ++b) sum += out[1 + b];
  out[0] = sum;
}

// Block (x, y): columns [32x, 32x + 32) over the rows of row block y, 8 threads per column.
__global__ void column_partials_kernel(float* partials, const float* in, int N, int C) {
  __shared__ float lanes[8][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  const int rows = (N + kColumnSumBlocks - 1) / kColumnSumBlocks;
  const int first = blockIdx.y * rows, last = min(N, first + rows);
  float sum = 0;
  if (c < C)
    for (int r = first + threadIdx.y; r < last; r += 8) sum += in[static_cast<long>(r) * C + c];
  lanes[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float total = 0;
    for (int i = 0; i < 8; ++i) total += lanes[i][threadIdx.x];
    partials[static_cast<long>(blockIdx.y) * C + c] = total;
  }
}
__global__ void column_totals_kernel(float* out, const float* partials, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float total = 0;
  for (int b = 0; b < kColumnSumBlocks; ++b) total += partials[static_cast<long>(b) * C + c];
  out[c] += total;
}

__global__ void fill_rows_kernel(float* out, const float* bias, int N, int C) {
  PARALLAX_FOR_EACH(i, static_cast<long>(N) * C) out[i] = bias[i % C];
}
}  // namespace

void sum_of_squares(double* out, const float* x, long n, cudaStream_t s) {
  squares_kernel<<<kNormPartials, kThreads, 0, s>>>(out + 1, x, n);
  sum_partials_kernel<<<1, 1, 0, s>>>(out, kNormPartials);
}

void add_column_sums(float* out, const float* in, int N, int C, float* partials, cudaStream_t s) {
  if (N <= 0 || C <= 0) return;
  column_partials_kernel<<<dim3((C + 31) / 32, kColumnSumBlocks), dim3(32, 8), 0, s>>>(partials, in, N, C);
  column_totals_kernel<<<(C + kThreads - 1) / kThreads, kThreads, 0, s>>>(out, partials, C);
}

void fill_rows(float* out, const float* bias, int N, int C, cudaStream_t s) {
  fill_rows_kernel<<<blocks_for(static_cast<long>(N) * C), kThreads, 0, s>>>(out, bias, N, C);
}

}  // namespace parallax::kernels::cuda
