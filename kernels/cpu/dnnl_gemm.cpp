#include "kernels/cpu/dnnl_gemm.hpp"

#include "kernels/cpu/half.hpp"

namespace parallax::kernels {

namespace {
using dnnl::memory;
memory::desc matrix(int rows, int cols, memory::data_type t, bool transposed) {
  return memory::desc({rows, cols}, t, transposed ? memory::format_tag::ba : memory::format_tag::ab);
}
}  // namespace

bool DnnlBf16Gemm::available() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;  // oneDNN's ISAs nest as bit masks; AMX includes AVX512-BF16
}

DnnlBf16Gemm::DnnlBf16Gemm() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

std::string DnnlBf16Gemm::description() const {
  const dnnl_version_t* v = dnnl::version();
  const bool amx = dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx;
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
         " bf16 matmul on " + (amx ? "AMX" : "AVX512-BF16");
}

dnnl::matmul& DnnlBf16Gemm::primitive(const Shape& s) {
  auto it = primitives_.find(s);
  if (it != primitives_.end()) return it->second;
  const auto [trans_a, trans_b, M, N, K, accumulate] = s;
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  const auto desc =
      dnnl::matmul::desc(matrix(M, K, memory::data_type::bf16, trans_a), matrix(K, N, memory::data_type::bf16, trans_b),
                         matrix(M, N, memory::data_type::f32, false));
  const dnnl::matmul::primitive_desc pd(desc, attr, engine_);
  return primitives_.emplace(s, dnnl::matmul(pd)).first->second;
}

void DnnlBf16Gemm::gemm(bool trans_a, bool trans_b, int M, int N, int K, const float* a, const float* b, float* c,
                        bool accumulate) {
  const long na = static_cast<long>(M) * K, nb = static_cast<long>(K) * N;
  if (static_cast<long>(a16_.size()) < na) a16_.resize(na);
  if (static_cast<long>(b16_.size()) < nb) b16_.resize(nb);
  cast_to_16bit(a16_.data(), a, na, Precision::bf16);
  cast_to_16bit(b16_.data(), b, nb, Precision::bf16);
  dnnl::matmul& mm = primitive({trans_a, trans_b, M, N, K, accumulate});
  memory ma(matrix(M, K, memory::data_type::bf16, trans_a), engine_, a16_.data());
  memory mb(matrix(K, N, memory::data_type::bf16, trans_b), engine_, b16_.data());
  memory mc(matrix(M, N, memory::data_type::f32, false), engine_, c);
  mm.execute(stream_, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
  stream_.wait();
}

}  // namespace parallax::kernels
