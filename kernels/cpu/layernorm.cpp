#include "kernels/cpu/layernorm.hpp"

#include <algorithm>
#include <cmath>

namespace parallax::kernels {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C) {
  const float eps = 1e-5f;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + static_cast<long>(n) * C;
    float m = 0;
    for (int i = 0; i < C; ++i) m += x[i];
    m /= C;
    float v = 0;
    for (int i = 0; i < C; ++i) v += (x[i] - m) * (x[i] - m);
    v /= C;
    const float s = 1.0f / std::sqrt(v + eps);
    float* y = out + static_cast<long>(n) * C;
    for (int i = 0; i < C; ++i) y[i] = (x[i] - m) * s * weight[i] + bias[i];
    mean[n] = m;
    rstd[n] = s;
  }
}

// The input's gradient row by row over the rank's threads; the parameters' gradients column
// block by column block, each summed over the rows in order: any thread count gives the same bits.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C) {
  constexpr int block = 64;
#pragma omp parallel for schedule(static)
  for (int first = 0; first < C; first += block)
    for (int n = 0; n < N; ++n) {
      const float* dy = dout + static_cast<long>(n) * C;
      const float* x = inp + static_cast<long>(n) * C;
      for (int i = first; i < std::min(C, first + block); ++i) {
        dbias[i] += dy[i];
        dweight[i] += (x[i] - mean[n]) * rstd[n] * dy[i];
      }
    }
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* dy = dout + static_cast<long>(n) * C;
    const float* x = inp + static_cast<long>(n) * C;
    float* dx = dinp + static_cast<long>(n) * C;
    const float m = mean[n], s = rstd[n];
    // dnorm = dy * weight; dx = s * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat))
    float dnorm_mean = 0, dnorm_xhat_mean = 0;
    for (int i = 0; i < C; ++i) {
      const float xhat = (x[i] - m) * s;
      const float dnorm = weight[i] * dy[i];
      dnorm_mean += dnorm;
      dnorm_xhat_mean += dnorm * xhat;
    }
    dnorm_mean /= C;
    dnorm_xhat_mean /= C;
    for (int i = 0; i < C; ++i) {
      const float xhat = (x[i] - m) * s;
      const float dnorm = weight[i] * dy[i];
      dx[i] += s * (dnorm - dnorm_mean - xhat * dnorm_xhat_mean);
    }
  }
}

}  // namespace parallax::kernels
