// Mixed precision on the CPU backend (Micikevicius et al. 2018, as Megatron runs it): every
// tensor Megatron keeps in 16 bits (activations, their gradients, the logits) leaves a kernel
// rounded to the bf16 or fp16 grid; statistics (LayerNorm's mean and 1/std, the softmax's
// log-sum-exp), the loss and the weight gradients stay fp32, the gradients accumulating in fp32
// across micro-batches (Megatron's main_grad). The element-wise kernels compute in fp32, as
// Megatron's fused kernels do; the GEMMs run in bf16 on oneDNN where the CPU has bf16 units and
// otherwise in fp32 on the 16-bit values (the same products, up to the order of additions).
#pragma once
#include <memory>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/dnnl_gemm.hpp"

namespace parallax::kernels {

class MixedPrecisionKernels final : public Kernels {
 public:
  explicit MixedPrecisionKernels(Precision p);
  std::string name() const override { return "cpu"; }
  std::string libraries() const override;
  void share_cores(int ranks) override { fp32_.share_cores(ranks); }
  int threads() const override { return fp32_.threads(); }
  void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                      int OC) override;
  void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                       const float* weight, int N, int C, int OC) override;
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                         int N, int C) override;
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, const float* mean, const float* rstd, int N, int C) override;
  void gelu_forward(float* out, const float* inp, long n) override;
  void gelu_backward(float* dinp, const float* inp, const float* dout, long n) override;
  void residual_forward(float* out, const float* a, const float* b, long n) override;
  void residual_backward(float* da, float* db, const float* dout, long n) override;
  void dropout(float* x, long n, const Dropout& d) override;
  void attention_forward(float* out, float* lse, float* probs, const float* qkv, float* scratch, int B, int T, int C,
                         int NH, const Dropout& dropout) override;
  void attention_backward(float* dqkv, const float* dout, const float* out, const float* qkv, const float* lse,
                          const float* probs, float* scratch, int B, int T, int C, int NH,
                          const Dropout& dropout) override;
  void embedding_forward(float* out, const int* tokens, const float* wte, int begin, int rows, const float* wpe, int B,
                         int T, int C) override;
  void embedding_backward(float* dwte, int begin, int rows, float* dwpe, const float* dout, const int* tokens, int B,
                          int T, int C) override {
    fp32_.embedding_backward(dwte, begin, rows, dwpe, dout, tokens, B, T, C);
  }
  void add_positions(float* out, const float* wpe, long first, long tokens, int T, int C) override;
  // The loss in fp32 on the logits (Megatron casts them up); its gradient leaves in 16 bits.
  void crossentropy_row_max(float* max, const float* logits, int N, int Vl, int valid) override {
    fp32_.crossentropy_row_max(max, logits, N, Vl, valid);
  }
  void crossentropy_exp_sum(float* sum, float* logits, const float* max, int N, int Vl, int valid) override {
    fp32_.crossentropy_exp_sum(sum, logits, max, N, Vl, valid);
  }
  void crossentropy_normalize(float* losses, float* logits, const float* sum, const int* targets, int begin, int N,
                              int Vl, int valid) override {
    fp32_.crossentropy_normalize(losses, logits, sum, targets, begin, N, Vl, valid);
  }
  void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int begin, int N,
                             int Vl, int valid) override;
  // The optimizer works on the fp32 master weights and gradients.
  void adamw_update(float* param, const float* grad, float* m, float* v, long n, int step, float lr, float beta1,
                    float beta2, float eps, float weight_decay) override {
    fp32_.adamw_update(param, grad, m, v, n, step, lr, beta1, beta2, eps, weight_decay);
  }
  double sum_of_squares(const float* x, long n) override { return fp32_.sum_of_squares(x, n); }
  void scale(float* x, long n, float factor) override { fp32_.scale(x, n, factor); }
  void cast_to_16bit(std::uint16_t* out, const float* in, long n, Precision p) override {
    fp32_.cast_to_16bit(out, in, n, p);
  }
  void cast_from_16bit(float* out, const std::uint16_t* in, long n, Precision p) override {
    fp32_.cast_from_16bit(out, in, n, p);
  }
  void round_to_16bit(float* x, long n, Precision p) override { fp32_.round_to_16bit(x, n, p); }
  bool unscale_and_check(float* x, long n, float inv_scale) override {
    return fp32_.unscale_and_check(x, n, inv_scale);
  }

 private:
  void round(float* x, long n) { fp32_.round_to_16bit(x, n, p_); }
  CpuKernels fp32_;
  Precision p_;
  std::unique_ptr<DnnlBf16Gemm> gemm_;  // bf16 on a CPU with bf16 units; else the fp32 GEMMs
};

}  // namespace parallax::kernels
