#include "kernels/cuda/gemm.hpp"

#include <cstdint>
#include <string>

#include "kernels/cuda/cuda_check.hpp"

namespace parallax::kernels::cuda {

namespace {
constexpr std::size_t kWorkspaceBytes = 32u << 20;  // cuBLASLt's work space, as PyTorch gives it on Hopper

// The largest power of two up to 16 that divides the address: cuBLASLt picks kernels by it.
int alignment(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  int bytes = 16;
  while (bytes > 1 && a % bytes != 0) bytes /= 2;
  return bytes;
}

// Elements a row-major operand spans: rows of ld elements, the last `cols` long, `batch` at a stride.
long span(int rows, int cols, int ld, long stride, int batch) {
  return (batch - 1) * stride + static_cast<long>(rows - 1) * ld + cols;
}

struct Layout {
  cublasLtMatrixLayout_t desc = nullptr;
  Layout(cudaDataType t, int rows, int cols, int ld, int batch, long stride) {
    check(cublasLtMatrixLayoutCreate(&desc, t, rows, cols, ld), "cublasLtMatrixLayoutCreate");
    if (batch > 1) {
      const std::int64_t s = stride;
      check(cublasLtMatrixLayoutSetAttribute(desc, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch),
            "batch count");
      check(cublasLtMatrixLayoutSetAttribute(desc, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &s, sizeof s),
            "batch stride");
    }
  }
  ~Layout() { cublasLtMatrixLayoutDestroy(desc); }
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
};
}  // namespace

Gemm::Gemm(cudaStream_t stream, Scratch& scratch, std::optional<Half> half)
    : stream_(stream), scratch_(scratch), half_(half) {
  check(cublasLtCreate(&handle_), "cublasLtCreate");
}

Gemm::~Gemm() { cublasLtDestroy(handle_); }

std::string Gemm::description() const {
  const std::string in = !half_ ? "fp32 (no TF32)" : *half_ == Half::bf16 ? "bf16" : "fp16";
  return "cuBLASLt " + std::to_string(cublasLtGetVersion()) + ", " + in + " inputs, fp32 accumulation";
}

cublasLtMatmulAlgo_t Gemm::algorithm(const Key& key, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
                                     cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c) {
  if (auto it = algorithms_.find(key); it != algorithms_.end()) return it->second;
  cublasLtMatmulPreference_t pref = nullptr;
  check(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
  const std::size_t ws = kWorkspaceBytes;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  const std::uint32_t align_a = std::get<13>(key), align_b = std::get<14>(key), align_c = std::get<15>(key);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof align_c);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof align_c);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(handle_, op, a, b, c, c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  check(s, "cublasLtMatmulAlgoGetHeuristic");
  if (found == 0) throw std::runtime_error("cuBLASLt has no algorithm for a GEMM of this shape");
  return algorithms_.emplace(key, result.algo).first->second;
}

void Gemm::operator()(const GemmShape& g, const float* A, const float* B, float* C, float alpha, float beta) {
  if (!half_) return multiply(g, A, B, CUDA_R_32F, C, alpha, beta);
  const long na = span(g.ta ? g.K : g.M, g.ta ? g.M : g.K, g.lda, g.stride_a, g.batch);
  const long nb = span(g.tb ? g.N : g.K, g.tb ? g.K : g.N, g.ldb, g.stride_b, g.batch);
  auto* a16 = scratch_.get<std::uint16_t>(Slot::gemm_a, na);
  auto* b16 = scratch_.get<std::uint16_t>(Slot::gemm_b, nb);
  cast_to_16bit(a16, A, na, *half_, stream_);
  cast_to_16bit(b16, B, nb, *half_, stream_);
  multiply(g, a16, b16, *half_ == Half::bf16 ? CUDA_R_16BF : CUDA_R_16F, C, alpha, beta);
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt's first operand is B.
void Gemm::multiply(const GemmShape& g, const void* a, const void* b, cudaDataType in, float* C, float alpha,
                    float beta) {
  void* workspace = scratch_.get(Slot::gemm_workspace, kWorkspaceBytes);
  cublasLtMatmulDesc_t op = nullptr;
  check(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  const cublasOperation_t first_op = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, second_op = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &first_op, sizeof first_op);
  cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &second_op, sizeof second_op);
  const Layout first(in, g.tb ? g.K : g.N, g.tb ? g.N : g.K, g.ldb, g.batch, g.stride_b);
  const Layout second(in, g.ta ? g.M : g.K, g.ta ? g.K : g.M, g.lda, g.batch, g.stride_a);
  const Layout out(CUDA_R_32F, g.N, g.M, g.ldc, g.batch, g.stride_c);
  const Key key{g.ta,
                g.tb,
                g.M,
                g.N,
                g.K,
                g.lda,
                g.ldb,
                g.ldc,
                g.stride_a,
                g.stride_b,
                g.stride_c,
                g.batch,
                beta != 0.0f,
                alignment(b),
                alignment(a),
                alignment(C),
                static_cast<int>(in)};
  const cublasLtMatmulAlgo_t algo = algorithm(key, op, first.desc, second.desc, out.desc);
  const cublasStatus_t s = cublasLtMatmul(handle_, op, &alpha, b, first.desc, a, second.desc, &beta, C, out.desc, C,
                                          out.desc, &algo, workspace, kWorkspaceBytes, stream_);
  cublasLtMatmulDescDestroy(op);
  check(s, "cublasLtMatmul");
}

}  // namespace parallax::kernels::cuda
