// Causal attention on the GPU as llm.c runs it: the heads split out of fused QKV, the scores and
// the weighted values as strided-batched GEMMs over batch x heads, a fused causal softmax
// between them. The [B, NH, T, T] scores live in the backend's work space unless the model
// keeps the probabilities (`probs`); contracts as kernels/kernels.hpp's attention.
#pragma once
#include "kernels/cuda/gemm.hpp"
#include "kernels/cuda/scratch.hpp"

namespace parallax::kernels::cuda {

struct AttentionShape {
  int B, T, C, NH;
};

void attention_forward(Gemm& gemm, Scratch& scratch, cudaStream_t s, float* out, float* lse, float* probs,
                       const float* qkv, const AttentionShape& a, const Dropout& dropout);
void attention_backward(Gemm& gemm, Scratch& scratch, cudaStream_t s, float* dqkv, const float* dout, const float* out,
                        const float* qkv, const float* lse, const float* probs, const AttentionShape& a,
                        const Dropout& dropout);

}  // namespace parallax::kernels::cuda
