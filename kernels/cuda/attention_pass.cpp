#include "kernels/cuda/attention_pass.hpp"

#include <cmath>

namespace parallax::kernels::cuda {

namespace {
// The batched row-major products of one head's [T, hs] and [T, T] matrices, over B x NH heads.
GemmShape heads(bool ta, bool tb, int M, int N, int K, const AttentionShape& a) {
  GemmShape g;
  g.ta = ta, g.tb = tb, g.M = M, g.N = N, g.K = K;
  g.lda = ta ? M : K, g.ldb = tb ? K : N, g.ldc = N;
  g.stride_a = static_cast<long>(M) * K, g.stride_b = static_cast<long>(K) * N, g.stride_c = static_cast<long>(M) * N;
  g.batch = a.B * a.NH;
  return g;
}

struct Heads {
  float *q, *k, *v;
};
Heads split(Scratch& scratch, cudaStream_t s, const float* qkv, const AttentionShape& a) {
  const long n = static_cast<long>(a.B) * a.T * a.C;
  Heads h{scratch.get<float>(Slot::q, n), scratch.get<float>(Slot::k, n), scratch.get<float>(Slot::v, n)};
  split_heads(h.q, h.k, h.v, qkv, a.B, a.T, a.C, a.NH, s);
  return h;
}
}  // namespace

void attention_forward(Gemm& gemm, Scratch& scratch, cudaStream_t s, float* out, float* lse, float* probs,
                       const float* qkv, const AttentionShape& a, const Dropout& dropout) {
  const int T = a.T, hs = a.C / a.NH, BH = a.B * a.NH;
  const long scores = static_cast<long>(BH) * T * T;
  const Heads h = split(scratch, s, qkv, a);
  float* P = probs ? probs : scratch.get<float>(Slot::scores, scores);
  gemm(heads(false, true, T, T, hs, a), h.q, h.k, P, 1.0f / std::sqrt(static_cast<float>(hs)), 0.0f);
  causal_softmax(P, lse, BH, T, s);
  const float* kept = P;
  if (dropout.active()) {
    float* dropped = scratch.get<float>(Slot::dropped, scores);
    drop_probabilities(dropped, P, dropout, a.B, a.NH, T, s);
    kept = dropped;
  }
  float* y = scratch.get<float>(Slot::heads, static_cast<long>(a.B) * T * a.C);
  gemm(heads(false, false, T, hs, T, a), kept, h.v, y, 1.0f, 0.0f);
  heads_to_rows(out, y, a.B, T, a.C, a.NH, s);
}

void attention_backward(Gemm& gemm, Scratch& scratch, cudaStream_t s, float* dqkv, const float* dout, const float* out,
                        const float* qkv, const float* lse, const float* probs, const AttentionShape& a,
                        const Dropout& dropout) {
  const int T = a.T, hs = a.C / a.NH, BH = a.B * a.NH;
  const long n = static_cast<long>(a.B) * T * a.C, scores = static_cast<long>(BH) * T * T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const Heads h = split(scratch, s, qkv, a);
  const float* P = probs;
  if (!P) {  // P = exp(scale * Q K^T - lse) on the causal triangle
    float* recomputed = scratch.get<float>(Slot::scores, scores);
    gemm(heads(false, true, T, T, hs, a), h.q, h.k, recomputed, scale, 0.0f);
    causal_probabilities(recomputed, lse, BH, T, s);
    P = recomputed;
  }
  const float* kept = P;
  if (dropout.active()) {
    float* dropped = scratch.get<float>(Slot::dropped, scores);
    drop_probabilities(dropped, P, dropout, a.B, a.NH, T, s);
    kept = dropped;
  }
  float* dO = scratch.get<float>(Slot::heads, n);
  rows_to_heads(dO, dout, a.B, T, a.C, a.NH, s);
  float *dq = scratch.get<float>(Slot::dq, n), *dk = scratch.get<float>(Slot::dk, n),
        *dv = scratch.get<float>(Slot::dv, n);
  float* dP = scratch.get<float>(Slot::dscores, scores);
  gemm(heads(true, false, T, hs, T, a), kept, dO, dv, 1.0f, 0.0f);  // dV = dropout(P)^T dO
  gemm(heads(false, true, T, T, hs, a), dO, h.v, dP, 1.0f, 0.0f);   // dP = dO V^T
  softmax_backward(dP, P, dout, out, dropout, a.B, a.NH, T, a.C, scale, s);
  gemm(heads(false, false, T, hs, T, a), dP, h.k, dq, 1.0f, 0.0f);  // dQ = dS K
  gemm(heads(true, false, T, hs, T, a), dP, h.q, dk, 1.0f, 0.0f);   // dK = dS^T Q
  merge_heads_add(dqkv, dq, dk, dv, a.B, T, a.C, a.NH, s);
}

}  // namespace parallax::kernels::cuda
