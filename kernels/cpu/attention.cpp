#include "kernels/cpu/attention.hpp"

#include <cblas.h>  // OpenBLAS sgemm for QK^T, PV and their gradients

#include <cmath>
#include <limits>

namespace parallax::kernels {

namespace {

// Row t of the probabilities from the scaled scores and the row's log-sum-exp: exp(s - lse) on
// the causal triangle. The forward and the backward's recomputation both use it, so that the
// probabilities a pass keeps and those it recomputes are the same to the bit.
void causal_probabilities(float* row, float lse, int t, int T) {
  for (int j = 0; j <= t; ++j) row[j] = std::exp(row[j] - lse);
  for (int j = t + 1; j < T; ++j) row[j] = 0.0f;
}

// Scaled scores of one head, causal rows softmaxed in place; fills lse[t]. Rows (here and in the
// backward) go over the rank's threads: any thread count gives the same bits.
void softmax_causal(float* scores, float* lse, int T) {
#pragma omp parallel for schedule(dynamic, 16)
  for (int t = 0; t < T; ++t) {
    float* row = scores + static_cast<long>(t) * T;
    float max = -std::numeric_limits<float>::infinity();
    for (int j = 0; j <= t; ++j) max = row[j] > max ? row[j] : max;
    float sum = 0;
    for (int j = 0; j <= t; ++j) sum += std::exp(row[j] - max);
    lse[t] = max + std::log(sum);
    causal_probabilities(row, lse[t], t, T);
  }
}

// Counter of probability (t, 0) of head h of sample b (kernels/kernels.hpp), and row t of the
// probabilities after dropout.
std::uint64_t dropout_row(const Dropout& d, int b, int h, int t, int T) {
  return d.first + ((static_cast<std::uint64_t>(b) * d.heads + d.first_head + h) * T + t) * T;
}
void drop_probabilities(float* dropped, const float* P, const Dropout& d, int b, int h, int T) {
#pragma omp parallel for schedule(dynamic, 16)
  for (int t = 0; t < T; ++t) {
    const std::uint64_t first = dropout_row(d, b, h, t, T);
    for (int j = 0; j < T; ++j)
      dropped[static_cast<long>(t) * T + j] = P[static_cast<long>(t) * T + j] * d.factor(first + j);
  }
}

}  // namespace

void attention_forward(float* out, float* lse, float* probs, const float* qkv, float* scratch, int B, int T, int C,
                       int NH, const Dropout& dropout) {
  const int hs = C / NH;
  const int C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const float* q = qkv + static_cast<long>(b) * T * C3 + h * hs;
      const float* k = q + C;
      const float* v = q + 2 * C;
      float* P = probs ? probs + (static_cast<long>(b) * NH + h) * T * T : scratch;
      // S = scale * Q K^T (the upper triangle is masked by the softmax)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, C3, k, C3, 0.0f, P, T);
      softmax_causal(P, lse + (static_cast<long>(b) * NH + h) * T, T);
      const float* kept = P;
      if (dropout.active()) {
        float* dropped = scratch + static_cast<long>(T) * T;
        drop_probabilities(dropped, P, dropout, b, h, T);
        kept = dropped;
      }
      // O = dropout(P) V
      float* o = out + static_cast<long>(b) * T * C + h * hs;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, kept, T, v, C3, 0.0f, o, C);
    }
}

void attention_backward(float* dqkv, const float* dout, const float* out, const float* qkv, const float* lse,
                        const float* probs, float* scratch, int B, int T, int C, int NH, const Dropout& dropout) {
  const int hs = C / NH;
  const int C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  float* dP = scratch + static_cast<long>(T) * T;
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const long base = static_cast<long>(b) * T * C3 + h * hs;
      const float *q = qkv + base, *k = q + C, *v = q + 2 * C;
      float *dq = dqkv + base, *dk = dq + C, *dv = dq + 2 * C;
      const float* o = out + static_cast<long>(b) * T * C + h * hs;
      const float* dO = dout + static_cast<long>(b) * T * C + h * hs;
      const float* l = lse + (static_cast<long>(b) * NH + h) * T;
      const float* P = probs ? probs + (static_cast<long>(b) * NH + h) * T * T : scratch;
      if (!probs) {  // recompute P = exp(scale * Q K^T - lse) on the causal triangle
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, C3, k, C3, 0.0f, scratch, T);
#pragma omp parallel for schedule(dynamic, 16)
        for (int t = 0; t < T; ++t) causal_probabilities(scratch + static_cast<long>(t) * T, l[t], t, T);
      }
      // dV += dropout(P)^T dO (the dropped probabilities made in dP's place);  dP = dO V^T
      const float* kept = P;
      if (dropout.active()) {
        drop_probabilities(dP, P, dropout, b, h, T);
        kept = dP;
      }
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, kept, T, dO, C, 1.0f, dv, C3);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dO, C, v, C3, 0.0f, dP, T);
      // dS = P * (dropout(dP) - rowsum(dO * O)) * scale: the row sum of dropout(dP) * P is that
      // of dO * O, dropout or not, since O = dropout(P) V.
#pragma omp parallel for schedule(dynamic, 16)
      for (int t = 0; t < T; ++t) {
        float d = 0;
        for (int i = 0; i < hs; ++i) d += dO[static_cast<long>(t) * C + i] * o[static_cast<long>(t) * C + i];
        float* dp = dP + static_cast<long>(t) * T;
        const float* p = P + static_cast<long>(t) * T;
        if (dropout.active()) {
          const std::uint64_t first = dropout_row(dropout, b, h, t, T);
          for (int j = 0; j <= t; ++j) dp[j] *= dropout.factor(first + j);
        }
        for (int j = 0; j <= t; ++j) dp[j] = p[j] * (dp[j] - d) * scale;
        for (int j = t + 1; j < T; ++j) dp[j] = 0.0f;
      }
      // dQ += dS K;  dK += dS^T Q
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, dP, T, k, C3, 1.0f, dq, C3);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, dP, T, q, C3, 1.0f, dk, C3);
    }
}

}  // namespace parallax::kernels
