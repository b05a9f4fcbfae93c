// GEMMs on cuBLASLt in row-major terms: C[M, N] = alpha op(A) op(B) + beta C, `batch` of them at
// fixed strides. fp32 runs in full fp32 (CUBLAS_COMPUTE_32F: no TF32, for parity with the CPU);
// mixed precision casts the operands, which hold values on the 16-bit grid, to bf16 or fp16 and
// multiplies them on the tensor cores with fp32 accumulation and an fp32 result.
#pragma once
#include <cublasLt.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "kernels/cuda/launch.hpp"
#include "kernels/cuda/scratch.hpp"

namespace parallax::kernels::cuda {

struct GemmShape {
  bool ta = false, tb = false;
  int M = 0, N = 0, K = 0;
  int lda = 0, ldb = 0, ldc = 0;
  long stride_a = 0, stride_b = 0, stride_c = 0;
  int batch = 1;
};

class Gemm {
 public:
  Gemm(cudaStream_t stream, Scratch& scratch, std::optional<Half> half);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;
  void operator()(const GemmShape& g, const float* A, const float* B, float* C, float alpha, float beta);
  // The same on operands already in `in`'s format (fp32, bf16 or fp16): cuBLASLt alone.
  void multiply(const GemmShape& g, const void* a, const void* b, cudaDataType in, float* C, float alpha, float beta);
  std::string description() const;

 private:
  using Key = std::tuple<bool, bool, int, int, int, int, int, int, long, long, long, int, bool, int, int, int, int>;
  cublasLtMatmulAlgo_t algorithm(const Key& key, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
                                 cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c);
  cudaStream_t stream_;
  Scratch& scratch_;
  std::optional<Half> half_;
  cublasLtHandle_t handle_ = nullptr;
  std::map<Key, cublasLtMatmulAlgo_t> algorithms_;  // cuBLASLt's first heuristic choice per shape
};

}  // namespace parallax::kernels::cuda
