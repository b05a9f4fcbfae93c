// The CUDA backend: the kernels of kernels/cuda and cuBLASLt's GEMMs behind the executor's
// compute seam (kernels/kernels.hpp), on one stream of this rank's GPU, buffers in managed
// memory. Under mixed precision (bf16, fp16) it keeps the CPU backend's contract: fp32 buffers
// holding values on the 16-bit grid, the same tensors rounded (kernels/cpu/mixed_precision.hpp),
// the GEMMs run on 16-bit copies of their operands with fp32 accumulation.
#pragma once
#include <optional>

#include "kernels/cuda/gemm.hpp"
#include "kernels/cuda/managed_memory.hpp"
#include "kernels/cuda/scratch.hpp"
#include "kernels/kernels.hpp"

namespace parallax::kernels::cuda {

class CudaKernels final : public Kernels {
 public:
  // On the current device (kernels/cuda/device.hpp's select_device).
  explicit CudaKernels(Precision precision);
  ~CudaKernels() override;
  std::string name() const override { return "cuda"; }
  std::string libraries() const override;
  void share_cores(int) override {}
  int threads() const override { return 1; }
  cudaStream_t stream() const { return stream_; }

  std::pmr::memory_resource* memory() override { return &memory_; }
  void synchronize() override;
  void zero(float* x, long n) override;
  void copy(void* out, const void* in, long bytes) override;
  void accumulate(float* out, const float* in, long n) override;

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
                          int T, int C) override;
  void add_positions(float* out, const float* wpe, long first, long tokens, int T, int C) override;
  void crossentropy_row_max(float* max, const float* logits, int N, int Vl, int valid) override;
  void crossentropy_exp_sum(float* sum, float* logits, const float* max, int N, int Vl, int valid) override;
  void crossentropy_normalize(float* losses, float* logits, const float* sum, const int* targets, int begin, int N,
                              int Vl, int valid) override;
  void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int begin, int N,
                             int Vl, int valid) override;
  void adamw_update(float* param, const float* grad, float* m, float* v, long n, int step, float lr, float beta1,
                    float beta2, float eps, float weight_decay) override;
  double sum_of_squares(const float* x, long n) override;
  void scale(float* x, long n, float factor) override;
  void cast_to_16bit(std::uint16_t* out, const float* in, long n, Precision p) override;
  void cast_from_16bit(float* out, const std::uint16_t* in, long n, Precision p) override;
  void round_to_16bit(float* x, long n, Precision p) override;
  bool unscale_and_check(float* x, long n, float inv_scale) override;

 private:
  void round(float* x, long n);  // to the 16-bit grid under mixed precision; else nothing
  // The stream outlives the work space and the GEMMs declared after it, which wait on it.
  struct Stream {
    cudaStream_t handle = nullptr;
    Stream();
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
  };
  std::optional<Half> half_;
  int device_ = 0;
  Stream owned_stream_;
  cudaStream_t stream_ = nullptr;
  ManagedMemory memory_;
  Scratch scratch_;
  Gemm gemm_;
};

}  // namespace parallax::kernels::cuda
