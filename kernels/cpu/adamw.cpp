#include "kernels/cpu/adamw.hpp"

#include <cmath>

namespace parallax::kernels {

void adamw_update(float* param, const float* grad, float* m, float* v, long n, int step, float lr, float beta1,
                  float beta2, float eps, float weight_decay) {
  const float bc1 = 1.0f - std::pow(beta1, static_cast<float>(step));
  const float bc2 = 1.0f - std::pow(beta2, static_cast<float>(step));
  const float step_size = lr / bc1;
  const float bc2_sqrt = std::sqrt(bc2);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; ++i) {
    param[i] *= 1.0f - lr * weight_decay;  // decoupled decay first, as torch does
    m[i] = beta1 * m[i] + (1.0f - beta1) * grad[i];
    v[i] = beta2 * v[i] + (1.0f - beta2) * grad[i] * grad[i];
    const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    param[i] -= step_size * m[i] / denom;
  }
}

}  // namespace parallax::kernels
