#include "kernels/cuda/cuda_kernels.hpp"

#include "kernels/cuda/attention_pass.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/device.hpp"

namespace parallax::kernels::cuda {

namespace {
std::optional<Half> half_of(Precision p) {
  if (p == Precision::fp32) return std::nullopt;
  if (p == Precision::bf16) return Half::bf16;
  if (p == Precision::fp16) return Half::fp16;
  throw InputError("training.precision = \"" + to_string(p) + "\": the CUDA backend trains in fp32, bf16 or fp16");
}
Half half_or_throw(Precision p) {
  const auto h = half_of(p);
  if (!h) throw std::logic_error("a 16-bit cast asked for fp32");
  return *h;
}
int current_device() {
  int d = 0;
  check(cudaGetDevice(&d), "cudaGetDevice");
  return d;
}
}  // namespace

CudaKernels::Stream::Stream() { check(cudaStreamCreateWithFlags(&handle, cudaStreamNonBlocking), "cudaStreamCreate"); }

CudaKernels::Stream::~Stream() {
  cudaStreamSynchronize(handle);
  cudaStreamDestroy(handle);
}

CudaKernels::CudaKernels(Precision precision)
    : half_(half_of(precision)),
      device_(current_device()),
      stream_(owned_stream_.handle),
      scratch_(stream_),
      gemm_(stream_, scratch_, half_) {}

CudaKernels::~CudaKernels() { cudaStreamSynchronize(stream_); }

std::string CudaKernels::libraries() const {
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  return device_name(device_) + ", CUDA runtime " + std::to_string(runtime) + ", " + gemm_.description();
}

void CudaKernels::synchronize() { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

void CudaKernels::zero(float* x, long n) {
  if (n > 0) check(cudaMemsetAsync(x, 0, sizeof(float) * n, stream_), "cudaMemsetAsync");
}

void CudaKernels::copy(void* out, const void* in, long bytes) {
  if (bytes > 0) check(cudaMemcpyAsync(out, in, bytes, cudaMemcpyDefault, stream_), "cudaMemcpyAsync");
}

void CudaKernels::accumulate(float* out, const float* in, long n) { cuda::accumulate(out, in, n, stream_); }

void CudaKernels::round(float* x, long n) {
  if (half_) cuda::round_to_16bit(x, n, *half_, stream_);
}

// out[N, OC] = inp[N, C] weight[OC, C]^T + bias: the bias rows first, then the product added.
void CudaKernels::matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                                 int OC) {
  if (bias) fill_rows(out, bias, N, OC, stream_);
  gemm_({.ta = false, .tb = true, .M = N, .N = OC, .K = C, .lda = C, .ldb = C, .ldc = OC}, inp, weight, out, 1.0f,
        bias ? 1.0f : 0.0f);
  round(out, static_cast<long>(N) * OC);
}

void CudaKernels::matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* weight, int N, int C, int OC) {
  if (dinp) {  // dinp[N, C] += dout[N, OC] weight[OC, C]
    gemm_({.ta = false, .tb = false, .M = N, .N = C, .K = OC, .lda = OC, .ldb = C, .ldc = C}, dout, weight, dinp, 1.0f,
          1.0f);
    round(dinp, static_cast<long>(N) * C);
  }
  // dweight[OC, C] += dout^T inp
  gemm_({.ta = true, .tb = false, .M = OC, .N = C, .K = N, .lda = OC, .ldb = C, .ldc = C}, dout, inp, dweight, 1.0f,
        1.0f);
  if (dbias) add_column_sums(dbias, dout, N, OC, scratch_.get<float>(Slot::partials, kColumnSumBlocks * OC), stream_);
}

void CudaKernels::layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                    const float* bias, int N, int C) {
  cuda::layernorm_forward(out, mean, rstd, inp, weight, bias, N, C, stream_);
  round(out, static_cast<long>(N) * C);
}

void CudaKernels::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                     const float* weight, const float* mean, const float* rstd, int N, int C) {
  float* work = scratch_.get<float>(Slot::rows, static_cast<long>(N) * C);
  float* partials = scratch_.get<float>(Slot::partials, static_cast<long>(kColumnSumBlocks) * C);
  cuda::layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C, work, partials, stream_);
  round(dinp, static_cast<long>(N) * C);
}

void CudaKernels::gelu_forward(float* out, const float* inp, long n) {
  cuda::gelu_forward(out, inp, n, stream_);
  round(out, n);
}

void CudaKernels::gelu_backward(float* dinp, const float* inp, const float* dout, long n) {
  cuda::gelu_backward(dinp, inp, dout, n, stream_);
  round(dinp, n);
}

void CudaKernels::residual_forward(float* out, const float* a, const float* b, long n) {
  cuda::residual_forward(out, a, b, n, stream_);
  round(out, n);
}

void CudaKernels::residual_backward(float* da, float* db, const float* dout, long n) {
  cuda::residual_backward(da, db, dout, n, stream_);
  round(da, n);
  round(db, n);
}

void CudaKernels::dropout(float* x, long n, const Dropout& d) {
  if (!d.active()) return;
  cuda::dropout(x, n, d, stream_);
  round(x, n);
}

void CudaKernels::attention_forward(float* out, float* lse, float* probs, const float* qkv, float*, int B, int T, int C,
                                    int NH, const Dropout& dropout) {
  cuda::attention_forward(gemm_, scratch_, stream_, out, lse, probs, qkv, {B, T, C, NH}, dropout);
  round(out, static_cast<long>(B) * T * C);
  if (probs) round(probs, static_cast<long>(B) * NH * T * T);
}

void CudaKernels::attention_backward(float* dqkv, const float* dout, const float* out, const float* qkv,
                                     const float* lse, const float* probs, float*, int B, int T, int C, int NH,
                                     const Dropout& dropout) {
  cuda::attention_backward(gemm_, scratch_, stream_, dqkv, dout, out, qkv, lse, probs, {B, T, C, NH}, dropout);
  round(dqkv, 3L * B * T * C);
}

void CudaKernels::embedding_forward(float* out, const int* tokens, const float* wte, int begin, int rows,
                                    const float* wpe, int B, int T, int C) {
  cuda::embedding_forward(out, tokens, wte, begin, rows, wpe, B, T, C, stream_);
  round(out, static_cast<long>(B) * T * C);
}

void CudaKernels::embedding_backward(float* dwte, int begin, int rows, float* dwpe, const float* dout,
                                     const int* tokens, int B, int T, int C) {
  cuda::embedding_backward(dwte, begin, rows, dwpe, dout, tokens, B, T, C, stream_);
}

void CudaKernels::add_positions(float* out, const float* wpe, long first, long tokens, int T, int C) {
  cuda::add_positions(out, wpe, first, tokens, T, C, stream_);
  round(out, tokens * C);
}

void CudaKernels::crossentropy_row_max(float* max, const float* logits, int N, int Vl, int valid) {
  cuda::crossentropy_row_max(max, logits, N, Vl, valid, stream_);
}

void CudaKernels::crossentropy_exp_sum(float* sum, float* logits, const float* max, int N, int Vl, int valid) {
  cuda::crossentropy_exp_sum(sum, logits, max, N, Vl, valid, stream_);
}

void CudaKernels::crossentropy_normalize(float* losses, float* logits, const float* sum, const int* targets, int begin,
                                         int N, int Vl, int valid) {
  cuda::crossentropy_normalize(losses, logits, sum, targets, begin, N, Vl, valid, stream_);
}

void CudaKernels::crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int begin,
                                        int N, int Vl, int valid) {
  cuda::crossentropy_backward(dlogits, probs, targets, dloss, begin, N, Vl, valid, stream_);
  round(dlogits, static_cast<long>(N) * Vl);
}

void CudaKernels::adamw_update(float* param, const float* grad, float* m, float* v, long n, int step, float lr,
                               float beta1, float beta2, float eps, float weight_decay) {
  cuda::adamw_update(param, grad, m, v, n, step, lr, beta1, beta2, eps, weight_decay, stream_);
}

// The result is read on the host: the call waits for it.
double CudaKernels::sum_of_squares(const float* x, long n) {
  if (n <= 0) return 0.0;
  double* result = scratch_.get<double>(Slot::norm, 1 + kNormPartials);
  cuda::sum_of_squares(result, x, n, stream_);
  double sum = 0;
  check(cudaMemcpyAsync(&sum, result, sizeof sum, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
  synchronize();
  return sum;
}

void CudaKernels::scale(float* x, long n, float factor) { cuda::scale(x, n, factor, stream_); }

void CudaKernels::cast_to_16bit(std::uint16_t* out, const float* in, long n, Precision p) {
  cuda::cast_to_16bit(out, in, n, half_or_throw(p), stream_);
}

void CudaKernels::cast_from_16bit(float* out, const std::uint16_t* in, long n, Precision p) {
  cuda::cast_from_16bit(out, in, n, half_or_throw(p), stream_);
}

void CudaKernels::round_to_16bit(float* x, long n, Precision p) {
  cuda::round_to_16bit(x, n, half_or_throw(p), stream_);
}

bool CudaKernels::unscale_and_check(float* x, long n, float inv_scale) {
  int* flag = scratch_.get<int>(Slot::flag, 1);
  check(cudaMemsetAsync(flag, 0, sizeof(int), stream_), "cudaMemsetAsync");
  unscale_and_flag(x, n, inv_scale, flag, stream_);
  int overflow = 0;
  check(cudaMemcpyAsync(&overflow, flag, sizeof overflow, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
  synchronize();
  return overflow == 0;
}

}  // namespace parallax::kernels::cuda
