#include "kernels/cpu/cpu_kernels.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "kernels/cpu/adamw.hpp"
#include "kernels/cpu/attention.hpp"
#include "kernels/cpu/crossentropy.hpp"
#include "kernels/cpu/dropout.hpp"
#include "kernels/cpu/embedding.hpp"
#include "kernels/cpu/gelu.hpp"
#include "kernels/cpu/grad_norm.hpp"
#include "kernels/cpu/half.hpp"
#include "kernels/cpu/layernorm.hpp"
#include "kernels/cpu/matmul.hpp"
#include "kernels/cpu/residual.hpp"
#include "models/experiment.hpp"

namespace parallax::kernels {

void CpuKernels::matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                                int OC) {
  kernels::matmul_forward(out, inp, weight, bias, N, C, OC);
}

void CpuKernels::matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                 const float* weight, int N, int C, int OC) {
  kernels::matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}

void CpuKernels::layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                   const float* bias, int N, int C) {
  kernels::layernorm_forward(out, mean, rstd, inp, weight, bias, N, C);
}

void CpuKernels::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                    const float* weight, const float* mean, const float* rstd, int N, int C) {
  kernels::layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
}

void CpuKernels::gelu_forward(float* out, const float* inp, long n) { kernels::gelu_forward(out, inp, n); }

void CpuKernels::gelu_backward(float* dinp, const float* inp, const float* dout, long n) {
  kernels::gelu_backward(dinp, inp, dout, n);
}

void CpuKernels::residual_forward(float* out, const float* a, const float* b, long n) {
  kernels::residual_forward(out, a, b, n);
}

void CpuKernels::residual_backward(float* da, float* db, const float* dout, long n) {
  kernels::residual_backward(da, db, dout, n);
}

void CpuKernels::dropout(float* x, long n, const Dropout& d) { kernels::dropout(x, n, d); }

void CpuKernels::attention_forward(float* out, float* lse, float* probs, const float* qkv, float* scratch, int B, int T,
                                   int C, int NH, const Dropout& dropout) {
  kernels::attention_forward(out, lse, probs, qkv, scratch, B, T, C, NH, dropout);
}

void CpuKernels::attention_backward(float* dqkv, const float* dout, const float* out, const float* qkv,
                                    const float* lse, const float* probs, float* scratch, int B, int T, int C, int NH,
                                    const Dropout& dropout) {
  kernels::attention_backward(dqkv, dout, out, qkv, lse, probs, scratch, B, T, C, NH, dropout);
}

void CpuKernels::embedding_forward(float* out, const int* tokens, const float* wte, int begin, int rows,
                                   const float* wpe, int B, int T, int C) {
  kernels::embedding_forward(out, tokens, wte, begin, rows, wpe, B, T, C);
}

void CpuKernels::embedding_backward(float* dwte, int begin, int rows, float* dwpe, const float* dout, const int* tokens,
                                    int B, int T, int C) {
  kernels::embedding_backward(dwte, begin, rows, dwpe, dout, tokens, B, T, C);
}

void CpuKernels::add_positions(float* out, const float* wpe, long first, long tokens, int T, int C) {
  kernels::add_positions(out, wpe, first, tokens, T, C);
}

void CpuKernels::crossentropy_row_max(float* max, const float* logits, int N, int Vl, int valid) {
  kernels::crossentropy_row_max(max, logits, N, Vl, valid);
}

void CpuKernels::crossentropy_exp_sum(float* sum, float* logits, const float* max, int N, int Vl, int valid) {
  kernels::crossentropy_exp_sum(sum, logits, max, N, Vl, valid);
}

void CpuKernels::crossentropy_normalize(float* losses, float* logits, const float* sum, const int* targets, int begin,
                                        int N, int Vl, int valid) {
  kernels::crossentropy_normalize(losses, logits, sum, targets, begin, N, Vl, valid);
}

void CpuKernels::crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int begin,
                                       int N, int Vl, int valid) {
  kernels::crossentropy_backward(dlogits, probs, targets, dloss, begin, N, Vl, valid);
}

void CpuKernels::adamw_update(float* param, const float* grad, float* m, float* v, long n, int step, float lr,
                              float beta1, float beta2, float eps, float weight_decay) {
  kernels::adamw_update(param, grad, m, v, n, step, lr, beta1, beta2, eps, weight_decay);
}

double CpuKernels::sum_of_squares(const float* x, long n) { return kernels::sum_of_squares(x, n); }

void CpuKernels::scale(float* x, long n, float factor) { kernels::scale(x, n, factor); }

void CpuKernels::cast_to_16bit(std::uint16_t* out, const float* in, long n, Precision p) {
  kernels::cast_to_16bit(out, in, n, p);
}

void CpuKernels::cast_from_16bit(float* out, const std::uint16_t* in, long n, Precision p) {
  kernels::cast_from_16bit(out, in, n, p);
}

void CpuKernels::round_to_16bit(float* x, long n, Precision p) { kernels::round_to_16bit(x, n, p); }

bool CpuKernels::unscale_and_check(float* x, long n, float inv_scale) {
  return kernels::unscale_and_check(x, n, inv_scale);
}

std::string CpuKernels::libraries() const {
  return std::string(openblas_get_config()) + ", " + std::to_string(threads()) + " thread(s) per rank";
}

int CpuKernels::threads() const { return openblas_get_num_threads(); }

void CpuKernels::share_cores(int ranks) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int each = std::max(1, cores / std::max(1, ranks));
  const auto set = [](const char* variable) { return std::getenv(variable) && *std::getenv(variable); };
  if (!set("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(each);
  if (!set("OMP_NUM_THREADS")) omp_set_num_threads(each);  // oneDNN's
}

}  // namespace parallax::kernels
