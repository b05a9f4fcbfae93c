// LayerNorm over the last dimension (eps 1e-5, as torch.nn.LayerNorm), saving the mean and
// reciprocal standard deviation for the backward pass.
#pragma once

namespace parallax::kernels {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C);
// Accumulates into dinp, dweight, dbias.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C);

}  // namespace parallax::kernels
