#include "kernels/cpu/embedding.hpp"

namespace parallax::kernels {

void embedding_forward(float* out, const int* tokens, const float* wte, const float* wpe, int B, int T, int C) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      float* o = out + (static_cast<long>(b) * T + t) * C;
      const float* e = wte + static_cast<long>(tokens[b * T + t]) * C;
      const float* p = wpe + static_cast<long>(t) * C;
      for (int i = 0; i < C; ++i) o[i] = e[i] + p[i];
    }
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int* tokens, int B, int T, int C) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      const float* d = dout + (static_cast<long>(b) * T + t) * C;
      float* de = dwte + static_cast<long>(tokens[b * T + t]) * C;
      float* dp = dwpe + static_cast<long>(t) * C;
      for (int i = 0; i < C; ++i) {
        de[i] += d[i];
        dp[i] += d[i];
      }
    }
}

}  // namespace parallax::kernels
