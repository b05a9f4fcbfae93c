// Linear layer on row-major fp32 through BLAS (OpenBLAS cblas_sgemm), in torch.nn.Linear
// layout: weight [OC, C], out[N, OC] = inp[N, C] * weight^T + bias.
#pragma once

namespace parallax::kernels {

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC);
// Accumulates: dinp += dout * weight, dweight += dout^T * inp, dbias += column sums of dout.
// Any of dinp, dbias may be null.
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC);
// The bias's parts, for any GEMM: every row of out[N, OC] set to bias; dbias += column sums of dout.
void fill_rows_with_bias(float* out, const float* bias, int N, int OC);
void bias_backward(float* dbias, const float* dout, int N, int OC);

}  // namespace parallax::kernels
