#include "kernels/cpu/mixed_precision.hpp"

#include "kernels/cpu/matmul.hpp"

namespace parallax::kernels {

MixedPrecisionKernels::MixedPrecisionKernels(Precision p) : p_(p) {
  if (p != Precision::bf16 && p != Precision::fp16)
    throw std::logic_error("MixedPrecisionKernels: bf16 or fp16, not " + to_string(p));
  if (p == Precision::bf16 && DnnlBf16Gemm::available()) gemm_ = std::make_unique<DnnlBf16Gemm>();
}

std::string MixedPrecisionKernels::libraries() const {
  const std::string gemms = gemm_ ? "GEMMs: " + gemm_->description()
                                  : "GEMMs: OpenBLAS sgemm on " + to_string(p_) + " values (" +
                                        (p_ == Precision::bf16 ? "no bf16 units on this CPU" : "fp16") + ")";
  return fp32_.libraries() + "; " + to_string(p_) + " storage; " + gemms;
}

void MixedPrecisionKernels::matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N,
                                           int C, int OC) {
  if (!gemm_) {
    fp32_.matmul_forward(out, inp, weight, bias, N, C, OC);
  } else {
    if (bias) fill_rows_with_bias(out, bias, N, OC);
    gemm_->gemm(false, true, N, OC, C, inp, weight, out, bias != nullptr);
  }
  round(out, static_cast<long>(N) * OC);
}

void MixedPrecisionKernels::matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                            const float* inp, const float* weight, int N, int C, int OC) {
  if (!gemm_) {
    fp32_.matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  } else {
    if (dinp) gemm_->gemm(false, false, N, C, OC, dout, weight, dinp, true);
    gemm_->gemm(true, false, OC, C, N, dout, inp, dweight, true);
    if (dbias) bias_backward(dbias, dout, N, OC);
  }
  if (dinp) round(dinp, static_cast<long>(N) * C);
}

void MixedPrecisionKernels::layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                              const float* weight, const float* bias, int N, int C) {
  fp32_.layernorm_forward(out, mean, rstd, inp, weight, bias, N, C);
  round(out, static_cast<long>(N) * C);
}

void MixedPrecisionKernels::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                               const float* inp, const float* weight, const float* mean,
                                               const float* rstd, int N, int C) {
  fp32_.layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
  round(dinp, static_cast<long>(N) * C);
}

void MixedPrecisionKernels::gelu_forward(float* out, const float* inp, long n) {
  fp32_.gelu_forward(out, inp, n);
  round(out, n);
}

void MixedPrecisionKernels::gelu_backward(float* dinp, const float* inp, const float* dout, long n) {
  fp32_.gelu_backward(dinp, inp, dout, n);
  round(dinp, n);
}

void MixedPrecisionKernels::residual_forward(float* out, const float* a, const float* b, long n) {
  fp32_.residual_forward(out, a, b, n);
  round(out, n);
}

void MixedPrecisionKernels::residual_backward(float* da, float* db, const float* dout, long n) {
  fp32_.residual_backward(da, db, dout, n);
  round(da, n);
  round(db, n);
}

void MixedPrecisionKernels::dropout(float* x, long n, const Dropout& d) {
  fp32_.dropout(x, n, d);
  round(x, n);
}

void MixedPrecisionKernels::attention_forward(float* out, float* lse, float* probs, const float* qkv, float* scratch,
                                              int B, int T, int C, int NH, const Dropout& dropout) {
  fp32_.attention_forward(out, lse, probs, qkv, scratch, B, T, C, NH, dropout);
  round(out, static_cast<long>(B) * T * C);
  if (probs) round(probs, static_cast<long>(B) * NH * T * T);
}

void MixedPrecisionKernels::attention_backward(float* dqkv, const float* dout, const float* out, const float* qkv,
                                               const float* lse, const float* probs, float* scratch, int B, int T,
                                               int C, int NH, const Dropout& dropout) {
  fp32_.attention_backward(dqkv, dout, out, qkv, lse, probs, scratch, B, T, C, NH, dropout);
  round(dqkv, 3L * B * T * C);
}

void MixedPrecisionKernels::embedding_forward(float* out, const int* tokens, const float* wte, int begin, int rows,
                                              const float* wpe, int B, int T, int C) {
  fp32_.embedding_forward(out, tokens, wte, begin, rows, wpe, B, T, C);
  round(out, static_cast<long>(B) * T * C);
}

void MixedPrecisionKernels::add_positions(float* out, const float* wpe, long first, long tokens, int T, int C) {
  fp32_.add_positions(out, wpe, first, tokens, T, C);
  round(out, tokens * C);
}

void MixedPrecisionKernels::crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss,
                                                  int begin, int N, int Vl, int valid) {
  fp32_.crossentropy_backward(dlogits, probs, targets, dloss, begin, N, Vl, valid);
  round(dlogits, static_cast<long>(N) * Vl);
}

}  // namespace parallax::kernels
