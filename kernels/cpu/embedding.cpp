#include "kernels/cpu/embedding.hpp"

namespace parallax::kernels {

void embedding_forward(float* out, const int* tokens, const float* wte, int begin, int rows, const float* wpe, int B,
                       int T, int C) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      float* o = out + (static_cast<long>(b) * T + t) * C;
      const int row = tokens[b * T + t] - begin;
      const float* e = row >= 0 && row < rows ? wte + static_cast<long>(row) * C : nullptr;
      const float* p = wpe ? wpe + static_cast<long>(t) * C : nullptr;
      for (int i = 0; i < C; ++i) o[i] = (e ? e[i] : 0.0f) + (p ? p[i] : 0.0f);
    }
}

void embedding_backward(float* dwte, int begin, int rows, float* dwpe, const float* dout, const int* tokens, int B,
                        int T, int C) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      const float* d = dout + (static_cast<long>(b) * T + t) * C;
      const int row = tokens[b * T + t] - begin;
      if (row >= 0 && row < rows) {
        float* de = dwte + static_cast<long>(row) * C;
        for (int i = 0; i < C; ++i) de[i] += d[i];
      }
      if (dwpe) {
        float* dp = dwpe + static_cast<long>(t) * C;
        for (int i = 0; i < C; ++i) dp[i] += d[i];
      }
    }
}

void add_positions(float* out, const float* wpe, long first, long tokens, int T, int C) {
  for (long i = 0; i < tokens; ++i) {
    const float* w = wpe + ((first + i) % T) * C;
    float* o = out + i * C;
    for (int c = 0; c < C; ++c) o[c] += w[c];
  }
}

}  // namespace parallax::kernels
