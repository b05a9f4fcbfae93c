#include "kernels/cpu/layernorm.hpp"

#include <cmath>

namespace parallax::kernels {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C) {
  const float eps = 1e-5f;
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

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C) {
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
      dbias[i] += dy[i];
      dweight[i] += xhat * dy[i];
      dx[i] += s * (dnorm - dnorm_mean - xhat * dnorm_xhat_mean);
    }
  }
}

}  // namespace parallax::kernels
