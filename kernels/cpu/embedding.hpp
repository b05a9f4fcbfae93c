// Token plus learned position embedding: out[b, t] = wte[token[b, t]] + wpe[t], with the token
// table optionally split over tensor-parallel ranks by vocabulary (Megatron's
// VocabParallelEmbedding): a rank holds rows [begin, begin + rows) and gives zeros for tokens
// outside them; the caller sums the slices' outputs (an all-reduce) and then adds positions.
#pragma once

namespace parallax::kernels {

// wpe may be null (positions added after the slices are summed).
void embedding_forward(float* out, const int* tokens, const float* wte, int begin, int rows, const float* wpe, int B,
                       int T, int C);
// Accumulates: dwte[token - begin] += dout for tokens in the slice, dwpe[t] += dout (if not null).
void embedding_backward(float* dwte, int begin, int rows, float* dwpe, const float* dout, const int* tokens, int B,
                        int T, int C);
// out[i] += wpe[(first + i) mod T] for the `tokens` consecutive tokens from token `first` of
// the [B, T] batch (all of them, or one rank's rows under sequence parallelism).
void add_positions(float* out, const float* wpe, long first, long tokens, int T, int C);

}  // namespace parallax::kernels
