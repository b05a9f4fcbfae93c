// Element-wise kernels: GeLU (tanh approximation, as kernels/cpu/gelu.cpp), residual additions,
// accumulation, scaling, dropout (the counters of kernels/dropout.hpp, so the CPU's masks).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.hpp"

namespace parallax::kernels::cuda {

namespace {
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)

__global__ void gelu_forward_kernel(float* out, const float* inp, long n) {
  PARALLAX_FOR_EACH(i, n) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanhf(kGeluScale * (x + 0.044715f * x * x * x)));
  }
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, long n) {
  PARALLAX_FOR_EACH(i, n) {
    const float x = inp[i];
    const float t = tanhf(kGeluScale * (x + 0.044715f * x * x * x));
    const float local = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] += local * dout[i];
  }
}

__global__ void residual_forward_kernel(float* out, const float* a, const float* b, long n) {
  PARALLAX_FOR_EACH(i, n) out[i] = a[i] + b[i];
}

__global__ void residual_backward_kernel(float* da, float* db, const float* dout, long n) {
  PARALLAX_FOR_EACH(i, n) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}

__global__ void accumulate_kernel(float* out, const float* in, long n) { PARALLAX_FOR_EACH(i, n) out[i] += in[i]; }

__global__ void scale_kernel(float* x, long n, float factor) { PARALLAX_FOR_EACH(i, n) x[i] *= factor; }

__global__ void dropout_kernel(float* x, long n, Dropout d) { PARALLAX_FOR_EACH(i, n) x[i] *= d.factor(d.first + i); }
}  // namespace

void gelu_forward(float* out, const float* inp, long n, cudaStream_t s) {
  gelu_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(out, inp, n);
}

void gelu_backward(float* dinp, const float* inp, const float* dout, long n, cudaStream_t s) {
  gelu_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(dinp, inp, dout, n);
}

void residual_forward(float* out, const float* a, const float* b, long n, cudaStream_t s) {
  residual_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(out, a, b, n);
}

void residual_backward(float* da, float* db, const float* dout, long n, cudaStream_t s) {
  residual_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(da, db, dout, n);
}

void accumulate(float* out, const float* in, long n, cudaStream_t s) {
  if (n > 0) accumulate_kernel<<<blocks_for(n), kThreads, 0, s>>>(out, in, n);
}

void scale(float* x, long n, float factor, cudaStream_t s) {
  if (n > 0) scale_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, n, factor);
}

void dropout(float* x, long n, const Dropout& d, cudaStream_t s) {
  if (d.active() && n > 0) dropout_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, n, d);
}

}  // namespace parallax::kernels::cuda
