// bf16 GEMMs on the CPU through oneDNN's matmul, which runs them on the CPU's bf16 dot-product
// units (AVX512-BF16, AMX) with fp32 accumulation; OpenBLAS 0.3.21 has no bf16 GEMM. The
// operands arrive as fp32 values that bf16 holds exactly (mixed precision rounds every tensor
// to its grid), so the cast that feeds oneDNN loses nothing and the product is that of an fp32
// GEMM on the same values up to the order of the fp32 additions.
#pragma once
#include <map>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>
#include <vector>

namespace parallax::kernels {

class DnnlBf16Gemm {
 public:
  // Whether the CPU has bf16 dot-product units (without them oneDNN converts in software and
  // an fp32 GEMM is faster).
  static bool available();
  DnnlBf16Gemm();
  std::string description() const;  // oneDNN's version and the CPU units it uses
  // c[M, N] = a b (+ c when accumulate), a [M, K] or, transposed, stored [K, M]; b [K, N] or,
  // transposed, stored [N, K]; all row-major fp32.
  void gemm(bool trans_a, bool trans_b, int M, int N, int K, const float* a, const float* b, float* c, bool accumulate);

 private:
  using Shape = std::tuple<bool, bool, int, int, int, bool>;
  dnnl::matmul& primitive(const Shape& s);
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<Shape, dnnl::matmul> primitives_;
  std::vector<std::uint16_t> a16_, b16_;  // the operands in bf16
};

}  // namespace parallax::kernels
