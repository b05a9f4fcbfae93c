// Causal multi-head self-attention on a fused QKV tensor [B, T, 3C] (q, k, v, each C = NH*hs
// wide, heads contiguous), scaled dot product with a causal mask. The forward keeps each row's
// log-sum-exp; given a `probs` buffer it also keeps the probabilities ([B, NH, T, T]), which the
// backward then reads, and without one the T x T scores live only in a scratch buffer and the
// backward recomputes the probabilities from the log-sum-exp (selective recomputation, as
// FlashAttention does). Both ways give the same probabilities to the bit. Dropout on the
// probabilities (kernels/kernels.hpp gives their counters) is drawn again in the backward.
#pragma once
#include "kernels/dropout.hpp"

namespace parallax::kernels {

// scratch: at least 2*T*T floats. lse: [B, NH, T]. probs: [B, NH, T, T] or null.
void attention_forward(float* out, float* lse, float* probs, const float* qkv, float* scratch, int B, int T, int C,
                       int NH, const Dropout& dropout = {});
// Accumulates into dqkv. probs: the forward's, or null to recompute them. scratch: at least 2*T*T floats.
void attention_backward(float* dqkv, const float* dout, const float* out, const float* qkv, const float* lse,
                        const float* probs, float* scratch, int B, int T, int C, int NH, const Dropout& dropout = {});

}  // namespace parallax::kernels
