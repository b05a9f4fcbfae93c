// Mixed precision in the executor: the CPU backend's bf16 GEMM against fp32 on the same values,
// which tensors leave the kernels on the 16-bit grid, the bytes 16-bit storage holds (counted
// by hand), and recomputation under bf16 changing no bit.
#define BOOST_TEST_MODULE mixed_precision
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <random>

#include "exec/gpt.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/dnnl_gemm.hpp"
#include "kernels/cpu/half.hpp"
#include "kernels/cpu/matmul.hpp"
#include "kernels/cpu/mixed_precision.hpp"
#include "tests/tiny_gpt.hpp"

using namespace parallax;
using namespace parallax::exec;

namespace {
std::vector<float> random_bf16(long n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = kernels::from_bf16(kernels::to_bf16(normal(rng)));
  return x;
}

bool on_grid(const std::vector<float>& x, Precision p) {
  std::vector<float> r = x;
  kernels::round_to_16bit(r.data(), static_cast<long>(r.size()), p);
  return r == x;
}

ModelConfig tiny() { return test::tiny_experiment().model; }
using test::two_micro_batches;
}  // namespace

// oneDNN's bf16 matmul accumulates exact products of bf16 values in fp32: the fp32 GEMM on the
// same values up to the order of the additions (relative 1e-5 on sums of 96 terms).
BOOST_AUTO_TEST_CASE(bf16_gemm_equals_the_fp32_gemm_on_the_same_values) {
  if (!kernels::DnnlBf16Gemm::available()) {
    BOOST_TEST_MESSAGE("SKIPPED: this CPU has no bf16 dot-product units; the bf16 GEMMs run in fp32");
    return;
  }
  const int N = 40, C = 96, OC = 24;
  const auto inp = random_bf16(N * C, 1), w = random_bf16(OC * C, 2), dout = random_bf16(N * OC, 3);
  std::vector<float> expected(N * OC), got(N * OC);
  kernels::matmul_forward(expected.data(), inp.data(), w.data(), nullptr, N, C, OC);
  kernels::DnnlBf16Gemm gemm;
  gemm.gemm(false, true, N, OC, C, inp.data(), w.data(), got.data(), false);
  for (int i = 0; i < N * OC; ++i) BOOST_TEST(got[i] == expected[i], boost::test_tools::tolerance(1e-4f));
  std::vector<float> dw(OC * C, 1.0f), dw_expected(OC * C, 1.0f), dinp(N * C, 0.0f), dinp_expected(N * C, 0.0f);
  kernels::matmul_backward(dinp_expected.data(), dw_expected.data(), nullptr, dout.data(), inp.data(), w.data(), N, C,
                           OC);
  gemm.gemm(false, false, N, C, OC, dout.data(), w.data(), dinp.data(), true);
  gemm.gemm(true, false, OC, C, N, dout.data(), inp.data(), dw.data(), true);  // accumulates onto the 1s
  for (int i = 0; i < N * C; ++i) BOOST_TEST(dinp[i] == dinp_expected[i], boost::test_tools::tolerance(1e-4f));
  for (int i = 0; i < OC * C; ++i) BOOST_TEST(dw[i] == dw_expected[i], boost::test_tools::tolerance(1e-4f));
  BOOST_TEST_MESSAGE("bf16 GEMM: " << gemm.description());
}

// Activations and their gradients leave the kernels in 16 bits; the weight gradients
// accumulate in fp32 (Megatron's main_grad).
BOOST_AUTO_TEST_CASE(activations_leave_in_sixteen_bits_weight_gradients_in_fp32) {
  for (Precision p : {Precision::bf16, Precision::fp16}) {
    kernels::MixedPrecisionKernels k(p);
    const int N = 8, C = 32, OC = 16;
    const auto inp = random_bf16(N * C, 4), w = random_bf16(OC * C, 5), dout = random_bf16(N * OC, 6);
    std::vector<float> out(N * OC), dinp(N * C, 0.0f), dw(OC * C, 0.0f), ln(N * C), mean(N), rstd(N);
    k.matmul_forward(out.data(), inp.data(), w.data(), nullptr, N, C, OC);
    k.matmul_backward(dinp.data(), dw.data(), nullptr, dout.data(), inp.data(), w.data(), N, C, OC);
    k.layernorm_forward(ln.data(), mean.data(), rstd.data(), inp.data(), w.data(), w.data(), N, C);
    BOOST_TEST(on_grid(out, p));
    BOOST_TEST(on_grid(dinp, p));
    BOOST_TEST(on_grid(ln, p));
    BOOST_TEST(!on_grid(dw, p));
    BOOST_TEST(!on_grid(rstd, p));  // LayerNorm's statistics stay fp32
  }
}

// B=2, T=32, C=64, 4 heads, L=4, V=256 (BT = 64 tokens), selective recomputation, two
// micro-batches in flight. 16 bits a value: the input X and per layer LN1, QKV (3C), the
// attention output, the residual after it, LN2, MLP up and GeLU (4C each) and the output: 16 C
// a token; then the head's LN_f. fp32: per layer the LayerNorm statistics (4 a token) and the
// log-sum-exp (4 a token); the head's statistics, logits, losses, row maxima and sums. The
// fp32 buffers one layer computes in (every activation of a layer, X and LN_f) are work
// buffers, like the gradients and the projections' outputs.
BOOST_AUTO_TEST_CASE(sixteen_bit_storage_halves_the_weights_and_the_kept_activations) {
  const ModelConfig m = tiny();
  const long BT = 64, C = 64, V = 256;
  const RecomputePolicy selective{Recompute::selective, RecomputeMethod::block, 0};
  kernels::CpuKernels cpu;
  kernels::MixedPrecisionKernels bf16(Precision::bf16);
  Gpt full(m, 2, cpu, {}, nullptr, selective), half(m, 2, bf16, {}, nullptr, selective, Precision::bf16);
  two_micro_batches(full, m);
  two_micro_batches(half, m);
  BOOST_TEST(half.weight_bytes() == full.weight_bytes() * 1.5);  // the fp32 weights until the optimizer takes them
  half.release_fp32_weights();
  BOOST_TEST(half.weight_bytes() == full.weight_bytes() / 2);
  BOOST_TEST(half.gradient_bytes() == full.gradient_bytes());
  const double state16 = 2.0 * (BT * C + 4 * 16 * BT * C + BT * C);
  const double state32 = 4.0 * (4 * 8 * BT + 2 * BT + BT * V + 3 * BT);
  const double compute = 4.0 * ((18 * BT * C + 8 * BT) + 2 * BT * C);
  BOOST_TEST(half.activations_peak_bytes() == 2 * (state16 + state32));
  BOOST_TEST(half.work_bytes() - full.work_bytes() ==
             compute + 4.0 * 12 * C * C + 4.0 * 13 * C);  // and a layer's weights
}

// Under bf16, full recomputation re-runs the same kernels on the same 16-bit values.
BOOST_AUTO_TEST_CASE(full_recomputation_changes_no_bit_under_bf16) {
  const ModelConfig m = tiny();
  kernels::MixedPrecisionKernels bf16(Precision::bf16);
  Gpt reference(m, 2, bf16, {}, nullptr, {}, Precision::bf16);
  const auto [grads, loss] = two_micro_batches(reference, m);
  for (const RecomputePolicy& p : {RecomputePolicy{Recompute::full, RecomputeMethod::block, 0},
                                   RecomputePolicy{Recompute::full, RecomputeMethod::uniform, 3}}) {
    Gpt g(m, 2, bf16, {}, nullptr, p, Precision::bf16);
    const auto [other, other_loss] = two_micro_batches(g, m);
    BOOST_TEST(other_loss == loss);
    BOOST_TEST(other == grads, boost::test_tools::per_element());
  }
  // And bf16 tracks fp32: the loss within 1e-2, the gradient within 5 % (relative L2).
  kernels::CpuKernels cpu;
  Gpt fp32(m, 2, cpu);
  const auto [grads32, loss32] = two_micro_batches(fp32, m);
  double diff = 0, norm = 0;
  for (size_t i = 0; i < grads.size(); ++i) diff += std::pow(grads[i] - grads32[i], 2), norm += std::pow(grads32[i], 2);
  BOOST_TEST(std::abs(loss - loss32) < 1e-2);
  BOOST_TEST(std::sqrt(diff / norm) < 0.05);
  BOOST_TEST_MESSAGE("bf16 vs fp32: loss " << loss << " vs " << loss32 << ", gradient relative L2 "
                                           << std::sqrt(diff / norm));
}
