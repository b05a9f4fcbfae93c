// Causal multi-head self-attention on a fused QKV tensor [B, T, 3C] (q, k, v, each C = NH*hs
// wide, heads contiguous), scaled dot product with a causal mask. Per (batch, head) the T x T
// scores live only in a scratch buffer; the forward keeps each row's log-sum-exp, and the
// backward recomputes the probabilities from it (as FlashAttention does), so no T x T tensor
// is kept between the passes.
#pragma once

namespace parallax::kernels {

// scratch: at least T*T floats. lse: [B, NH, T].
void attention_forward(float* out, float* lse, const float* qkv, float* scratch, int B, int T, int C, int NH);
// Accumulates into dqkv. scratch: at least 2*T*T floats.
void attention_backward(float* dqkv, const float* dout, const float* out, const float* qkv, const float* lse,
                        float* scratch, int B, int T, int C, int NH);

}  // namespace parallax::kernels
