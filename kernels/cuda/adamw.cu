// torch's AdamW step (decoupled weight decay first, bias corrections), as kernels/cpu/adamw.cpp.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.hpp"

namespace parallax::kernels::cuda {

namespace {
__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, long n, float lr, float beta1,
                             float beta2, float eps, float weight_decay, float step_size, float bc2_sqrt) {
  PARALLAX_FOR_EACH(i, n) {
    float p = param[i] * (1.0f - lr * weight_decay);
    const float g = grad[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
  }
}
}  // namespace

void adamw_update(float* param, const float* grad, float* m, float* v, long n, int step, float lr, float beta1,
                  float beta2, float eps, float weight_decay, cudaStream_t s) {
  if (n <= 0) return;
  const float bc1 = 1.0f - std::pow(beta1, static_cast<float>(step));
  const float bc2 = 1.0f - std::pow(beta2, static_cast<float>(step));
  adamw_kernel<<<blocks_for(n), kThreads, 0, s>>>(param, grad, m, v, n, lr, beta1, beta2, eps, weight_decay, lr / bc1,
                                                  std::sqrt(bc2));
}

}  // namespace parallax::kernels::cuda
