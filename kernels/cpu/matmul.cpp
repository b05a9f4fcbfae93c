#include "kernels/cpu/matmul.hpp"

#include <cblas.h>  // OpenBLAS sgemm

namespace parallax::kernels {

void fill_rows_with_bias(float* out, const float* bias, int N, int OC) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) out[static_cast<long>(n) * OC + o] = bias[o];
}

void bias_backward(float* dbias, const float* dout, int N, int OC) {
  for (int n = 0; n < N; ++n) {
    const float* row = dout + static_cast<long>(n) * OC;
    for (int o = 0; o < OC; ++o) dbias[o] += row[o];
  }
}

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
  if (bias) fill_rows_with_bias(out, bias, N, OC);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, bias ? 1.0f : 0.0f, out, OC);
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC) {
  if (dinp) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
  if (dbias) bias_backward(dbias, dout, N, OC);
}

}  // namespace parallax::kernels
