#include "kernels/cpu/crossentropy.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace parallax::kernels {

// Row by row over the rank's threads: any thread count gives the same bits.
void crossentropy_row_max(float* max, const float* logits, int N, int Vl, int valid) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* row = logits + static_cast<long>(n) * Vl;
    float m = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < valid; ++i) m = row[i] > m ? row[i] : m;
    max[n] = m;
  }
}

void crossentropy_exp_sum(float* sum, float* logits, const float* max, int N, int Vl, int valid) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    float* row = logits + static_cast<long>(n) * Vl;
    double s = 0;
    for (int i = 0; i < valid; ++i) {
      row[i] = std::exp(row[i] - max[n]);
      s += row[i];
    }
    for (int i = valid; i < Vl; ++i) row[i] = 0.0f;
    sum[n] = static_cast<float>(s);
  }
}

void crossentropy_normalize(float* losses, float* logits, const float* sum, const int* targets, int begin, int N,
                            int Vl, int valid) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    float* row = logits + static_cast<long>(n) * Vl;
    const float inv = 1.0f / sum[n];
    for (int i = 0; i < valid; ++i) row[i] *= inv;
    const int t = targets[n] - begin;
    losses[n] = t >= 0 && t < valid ? -std::log(row[t]) : 0.0f;
  }
}

void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int begin, int N,
                           int Vl, int valid) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* p = probs + static_cast<long>(n) * Vl;
    float* d = dlogits + static_cast<long>(n) * Vl;
    for (int i = 0; i < valid; ++i) d[i] = p[i] * dloss;
    for (int i = valid; i < Vl; ++i) d[i] = 0.0f;
    const int t = targets[n] - begin;
    if (t >= 0 && t < valid) d[t] -= dloss;
  }
}

void crossentropy_forward(float* losses, float* logits, const int* targets, int N, int V, int Vp) {
  std::vector<float> max(N), sum(N);
  crossentropy_row_max(max.data(), logits, N, Vp, V);
  crossentropy_exp_sum(sum.data(), logits, max.data(), N, Vp, V);
  crossentropy_normalize(losses, logits, sum.data(), targets, 0, N, Vp, V);
}

}  // namespace parallax::kernels
