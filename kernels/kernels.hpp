// The compute seam of the executor: every kernel the model and its optimizer call, behind one
// interface that each backend implements (kernels/cpu, kernels/cuda), chosen by the run and passed in.
// The buffers live where the backend's memory() allocates them (host memory on the CPU; memory
// the device and the host both address on a GPU), and the kernels may still be running when a
// call returns: host code reads or writes a buffer only after synchronize().
// Buffers are row-major fp32 (under mixed precision holding 16-bit values); linear layers keep torch's [out, in] weight
// layout. "Accumulates" means the kernel adds into its outputs (gradients summed over micro-batches and branches).
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <string>
#include <vector>

#include "kernels/dropout.hpp"
#include "models/experiment.hpp"

namespace parallax::kernels {

// Buffers allocated from a backend's memory(): Floats(n, 0.0f, kernels.memory()).
using Floats = std::pmr::vector<float>;
using Halves = std::pmr::vector<std::uint16_t>;
using Bytes = std::pmr::vector<std::byte>;

class Kernels {
 public:
  virtual ~Kernels() = default;
  virtual std::string name() const = 0;       // the backend: "cpu"
  virtual std::string libraries() const = 0;  // what the kernels run on, recorded with a run
  // A node's cores shared among its `ranks` instead of oversubscribed (the CPU backend's BLAS
  // threads), unless the environment sets the count.
  virtual void share_cores(int ranks) = 0;
  virtual int threads() const = 0;  // host threads this rank's kernels run on

  // Where the buffers the kernels read and write are allocated; host memory by default.
  virtual std::pmr::memory_resource* memory() { return std::pmr::new_delete_resource(); }
  // Waits until every kernel started so far has finished (the default's kernels finish on return).
  virtual void synchronize() {}
  // x[0, n) = 0; `bytes` bytes copied (the ranges do not overlap); out[0, n) += in[0, n).
  virtual void zero(float* x, long n) {
    if (n > 0) std::memset(x, 0, sizeof(float) * n);
  }
  virtual void copy(void* out, const void* in, long bytes) {
    if (bytes > 0) std::memcpy(out, in, bytes);
  }
  virtual void accumulate(float* out, const float* in, long n) {
    for (long i = 0; i < n; ++i) out[i] += in[i];
  }

  // out[N, OC] = inp[N, C] weight^T + bias (bias may be null).
  virtual void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                              int OC) = 0;
  // Accumulates dinp += dout weight, dweight += dout^T inp, dbias += column sums (dinp, dbias may be null).
  virtual void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                               const float* weight, int N, int C, int OC) = 0;
  // LayerNorm over the last dimension (eps 1e-5), keeping the mean and 1/std; the backward accumulates.
  virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                 const float* bias, int N, int C) = 0;
  virtual void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* weight, const float* mean, const float* rstd, int N, int C) = 0;
  // GeLU (tanh approximation); the backward accumulates.
  virtual void gelu_forward(float* out, const float* inp, long n) = 0;
  virtual void gelu_backward(float* dinp, const float* inp, const float* dout, long n) = 0;
  // out = a + b; the backward accumulates dout into da and db.
  virtual void residual_forward(float* out, const float* a, const float* b, long n) = 0;
  virtual void residual_backward(float* da, float* db, const float* dout, long n) = 0;
  // Dropout on n elements in place (their counters from d.first); the backward applies the
  // same call to the gradient.
  virtual void dropout(float* x, long n, const Dropout& d) = 0;
  // Causal attention on fused QKV [B, T, 3C]; probs [B, NH, T, T] kept (before dropout), or null
  // to recompute them from the row log-sum-exp in the backward (which accumulates into dqkv).
  // `dropout` drops probabilities: element (b, h, i, j) has the counter
  // first + ((b * heads + first_head + h) * T + i) * T + j.
  virtual void attention_forward(float* out, float* lse, float* probs, const float* qkv, float* scratch, int B, int T,
                                 int C, int NH, const Dropout& dropout) = 0;
  virtual void attention_backward(float* dqkv, const float* dout, const float* out, const float* qkv, const float* lse,
                                  const float* probs, float* scratch, int B, int T, int C, int NH,
                                  const Dropout& dropout) = 0;
  // Token rows [begin, begin + rows) of the embedding (others give 0), plus positions when wpe
  // is given; add_positions adds them to `tokens` consecutive tokens from token `first`.
  virtual void embedding_forward(float* out, const int* tokens, const float* wte, int begin, int rows, const float* wpe,
                                 int B, int T, int C) = 0;
  virtual void embedding_backward(float* dwte, int begin, int rows, float* dwpe, const float* dout, const int* tokens,
                                  int B, int T, int C) = 0;
  virtual void add_positions(float* out, const float* wpe, long first, long tokens, int T, int C) = 0;
  // Softmax cross-entropy over a vocabulary slice of Vl columns, `valid` of them real tokens,
  // in three steps that a vocabulary-parallel group combines (row max, sum of exponentials,
  // normalise), and its gradient for a loss scaled by dloss.
  virtual void crossentropy_row_max(float* max, const float* logits, int N, int Vl, int valid) = 0;
  virtual void crossentropy_exp_sum(float* sum, float* logits, const float* max, int N, int Vl, int valid) = 0;
  virtual void crossentropy_normalize(float* losses, float* logits, const float* sum, const int* targets, int begin,
                                      int N, int Vl, int valid) = 0;
  virtual void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int begin,
                                     int N, int Vl, int valid) = 0;
  // torch's AdamW step on n parameters; the squared norm of a gradient; x *= factor.
  virtual void adamw_update(float* param, const float* grad, float* m, float* v, long n, int step, float lr,
                            float beta1, float beta2, float eps, float weight_decay) = 0;
  virtual double sum_of_squares(const float* x, long n) = 0;
  virtual void scale(float* x, long n, float factor) = 0;
  // Mixed precision: casts between fp32 and bf16 or fp16 (bit patterns, round to nearest even),
  // fp32 rounded in place to the 16-bit grid, and the gradients unscaled by the loss scale with
  // false when any is inf or NaN.
  virtual void cast_to_16bit(std::uint16_t* out, const float* in, long n, Precision p) = 0;
  virtual void cast_from_16bit(float* out, const std::uint16_t* in, long n, Precision p) = 0;
  virtual void round_to_16bit(float* x, long n, Precision p) = 0;
  virtual bool unscale_and_check(float* x, long n, float inv_scale) = 0;
};

// The kernels of a backend by name ("cpu", "cuda") for a training precision: fp32, or mixed
// precision (bf16, fp16) whose kernels leave the tensors Megatron keeps in 16 bits on the 16-bit
// grid. InputError for a backend this build lacks; "cuda" runs on the device the rank selected.
std::unique_ptr<Kernels> make_kernels(const std::string& backend, Precision precision = Precision::fp32);
// The GPUs this process can use (0 without the CUDA backend, a driver or a device: then
// *why_none, when given, says which); and the one a rank takes, by its rank on its node.
int cuda_devices(std::string* why_none = nullptr);
int select_cuda_device(int node_rank);

}  // namespace parallax::kernels
