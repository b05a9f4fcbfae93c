#include "kernels/cpu/crossentropy.hpp"

#include <cmath>

namespace parallax::kernels {

void crossentropy_forward(float* losses, float* logits, const int* targets, int N, int V, int Vp) {
  for (int n = 0; n < N; ++n) {
    float* row = logits + static_cast<long>(n) * Vp;
    float max = row[0];
    for (int i = 1; i < V; ++i) max = row[i] > max ? row[i] : max;
    double sum = 0;
    for (int i = 0; i < V; ++i) {
      row[i] = std::exp(row[i] - max);
      sum += row[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int i = 0; i < V; ++i) row[i] *= inv;
    for (int i = V; i < Vp; ++i) row[i] = 0.0f;
    losses[n] = -std::log(row[targets[n]]);
  }
}

void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int N, int V, int Vp) {
  for (int n = 0; n < N; ++n) {
    const float* p = probs + static_cast<long>(n) * Vp;
    float* d = dlogits + static_cast<long>(n) * Vp;
    for (int i = 0; i < V; ++i) d[i] = p[i] * dloss;
    d[targets[n]] -= dloss;
    for (int i = V; i < Vp; ++i) d[i] = 0.0f;
  }
}

}  // namespace parallax::kernels
