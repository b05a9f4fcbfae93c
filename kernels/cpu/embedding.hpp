// Token plus learned position embedding: out[b, t] = wte[token[b, t]] + wpe[t].
#pragma once

namespace parallax::kernels {

void embedding_forward(float* out, const int* tokens, const float* wte, const float* wpe, int B, int T, int C);
// Accumulates: dwte[token] += dout, dwpe[t] += dout.
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int* tokens, int B, int T, int C);

}  // namespace parallax::kernels
