#include "kernels/cpu/residual.hpp"

namespace parallax::kernels {

void residual_forward(float* out, const float* a, const float* b, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void residual_backward(float* da, float* db, const float* dout, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; ++i) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}

}  // namespace parallax::kernels
