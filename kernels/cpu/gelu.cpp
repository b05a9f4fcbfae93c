#include "kernels/cpu/gelu.hpp"

#include <cmath>

namespace parallax::kernels {

namespace {
constexpr float kScale = 0.7978845608028654f;  // sqrt(2/pi)
}

void gelu_forward(float* out, const float* inp, long n) {
  for (long i = 0; i < n; ++i) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + std::tanh(kScale * (x + 0.044715f * x * x * x)));
  }
}

void gelu_backward(float* dinp, const float* inp, const float* dout, long n) {
  for (long i = 0; i < n; ++i) {
    const float x = inp[i];
    const float u = kScale * (x + 0.044715f * x * x * x);
    const float t = std::tanh(u);
    const float sech2 = 1.0f - t * t;
    const float local = 0.5f * (1.0f + t) + 0.5f * x * sech2 * kScale * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] += local * dout[i];
  }
}

}  // namespace parallax::kernels
