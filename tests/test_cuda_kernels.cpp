// The CUDA backend against the CPU backend, kernel by kernel, on the same random inputs: fp32
// within float rounding of a different summation order; bf16 mixed precision within a few units
// of bf16's last place. Needs a GPU: without one it says so and exits 77, which CTest reports as
// SKIPPED (label gpu).
#define BOOST_TEST_MODULE cuda_kernels
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <iostream>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/mixed_precision.hpp"
#include "kernels/kernels.hpp"

using namespace parallax;
using namespace parallax::kernels;

namespace {
std::vector<float> random(long n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A pair of buffers with the same contents: host memory for the CPU backend, the CUDA backend's.
struct Pair {
  std::vector<float> cpu;
  Floats gpu;
  Pair(Kernels& k, const std::vector<float>& v) : cpu(v), gpu(v.begin(), v.end(), k.memory()) {}
};

void check_close(Kernels& k, const Pair& p, double tol, const char* what) {
  k.synchronize();
  double worst = 0, scale = 1e-6;
  for (size_t i = 0; i < p.cpu.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(p.cpu[i] - p.gpu[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(p.cpu[i])));
  }
  BOOST_TEST(worst / scale <= tol, what << ": largest difference " << worst << " against largest value " << scale);
}

struct Backends {
  std::unique_ptr<Kernels> cpu, gpu;
  explicit Backends(Precision p) : cpu(make_kernels("cpu", p)), gpu(make_kernels("cuda", p)) {}
};

double tolerance(Precision p) { return p == Precision::fp32 ? 2e-5 : 2e-2; }
}  // namespace

BOOST_AUTO_TEST_CASE(linear_layers_match) {
  for (Precision p : {Precision::fp32, Precision::bf16}) {
    Backends b(p);
    const int N = 96, C = 80, OC = 136;
    auto grid = [&](std::vector<float> v) {  // mixed precision's inputs are on the 16-bit grid
      if (p != Precision::fp32) b.cpu->round_to_16bit(v.data(), static_cast<long>(v.size()), p);
      return v;
    };
    Pair out(*b.gpu, std::vector<float>(N * OC)), inp(*b.gpu, grid(random(N * C, 1))),
        w(*b.gpu, grid(random(OC * C, 2, 0.1f))), bias(*b.gpu, grid(random(OC, 3))),
        dout(*b.gpu, grid(random(N * OC, 4)));
    Pair dinp(*b.gpu, random(N * C, 5)), dw(*b.gpu, random(OC * C, 6)), db(*b.gpu, random(OC, 7));
    b.cpu->matmul_forward(out.cpu.data(), inp.cpu.data(), w.cpu.data(), bias.cpu.data(), N, C, OC);
    b.gpu->matmul_forward(out.gpu.data(), inp.gpu.data(), w.gpu.data(), bias.gpu.data(), N, C, OC);
    check_close(*b.gpu, out, tolerance(p), "matmul_forward");
    b.cpu->matmul_backward(dinp.cpu.data(), dw.cpu.data(), db.cpu.data(), dout.cpu.data(), inp.cpu.data(), w.cpu.data(),
                           N, C, OC);
    b.gpu->matmul_backward(dinp.gpu.data(), dw.gpu.data(), db.gpu.data(), dout.gpu.data(), inp.gpu.data(), w.gpu.data(),
                           N, C, OC);
    check_close(*b.gpu, dinp, tolerance(p), "matmul_backward dinp");
    check_close(*b.gpu, dw, tolerance(p), "matmul_backward dweight");
    check_close(*b.gpu, db, 1e-5, "matmul_backward dbias");
  }
}

BOOST_AUTO_TEST_CASE(layernorm_gelu_residual_match) {
  Backends b(Precision::fp32);
  const int N = 64, C = 200;
  Pair x(*b.gpu, random(N * C, 11)), w(*b.gpu, random(C, 12)), bias(*b.gpu, random(C, 13));
  Pair out(*b.gpu, std::vector<float>(N * C)), mean(*b.gpu, std::vector<float>(N)), rstd(*b.gpu, std::vector<float>(N));
  b.cpu->layernorm_forward(out.cpu.data(), mean.cpu.data(), rstd.cpu.data(), x.cpu.data(), w.cpu.data(),
                           bias.cpu.data(), N, C);
  b.gpu->layernorm_forward(out.gpu.data(), mean.gpu.data(), rstd.gpu.data(), x.gpu.data(), w.gpu.data(),
                           bias.gpu.data(), N, C);
  check_close(*b.gpu, out, 1e-5, "layernorm_forward");
  check_close(*b.gpu, rstd, 1e-5, "layernorm rstd");
  Pair dout(*b.gpu, random(N * C, 14)), dx(*b.gpu, random(N * C, 15)), dw(*b.gpu, random(C, 16)),
      db(*b.gpu, random(C, 17));
  b.cpu->layernorm_backward(dx.cpu.data(), dw.cpu.data(), db.cpu.data(), dout.cpu.data(), x.cpu.data(), w.cpu.data(),
                            mean.cpu.data(), rstd.cpu.data(), N, C);
  b.gpu->layernorm_backward(dx.gpu.data(), dw.gpu.data(), db.gpu.data(), dout.gpu.data(), x.gpu.data(), w.gpu.data(),
                            mean.gpu.data(), rstd.gpu.data(), N, C);
  check_close(*b.gpu, dx, 1e-5, "layernorm_backward dinp");
  check_close(*b.gpu, dw, 1e-5, "layernorm_backward dweight");
  check_close(*b.gpu, db, 1e-5, "layernorm_backward dbias");
  Pair g(*b.gpu, std::vector<float>(N * C)), dg(*b.gpu, random(N * C, 18));
  b.cpu->gelu_forward(g.cpu.data(), x.cpu.data(), N * C);
  b.gpu->gelu_forward(g.gpu.data(), x.gpu.data(), N * C);
  check_close(*b.gpu, g, 1e-6, "gelu_forward");
  b.cpu->gelu_backward(dg.cpu.data(), x.cpu.data(), dout.cpu.data(), N * C);
  b.gpu->gelu_backward(dg.gpu.data(), x.gpu.data(), dout.gpu.data(), N * C);
  check_close(*b.gpu, dg, 1e-6, "gelu_backward");
  Pair r(*b.gpu, std::vector<float>(N * C));
  b.cpu->residual_forward(r.cpu.data(), x.cpu.data(), dout.cpu.data(), N * C);
  b.gpu->residual_forward(r.gpu.data(), x.gpu.data(), dout.gpu.data(), N * C);
  check_close(*b.gpu, r, 0, "residual_forward");
}

BOOST_AUTO_TEST_CASE(attention_matches_with_and_without_kept_probabilities_and_dropout) {
  Backends b(Precision::fp32);
  const int B = 2, T = 40, C = 48, NH = 4;
  for (bool keep : {true, false})
    for (float p : {0.0f, 0.2f}) {
      Dropout d;
      d.p = p, d.stream = 99, d.first = 1000, d.first_head = 0, d.heads = NH;
      Pair qkv(*b.gpu, random(B * T * 3 * C, 21)), out(*b.gpu, std::vector<float>(B * T * C));
      Pair lse(*b.gpu, std::vector<float>(B * NH * T)), probs(*b.gpu, std::vector<float>(keep ? B * NH * T * T : 1));
      std::vector<float> scratch(2 * T * T);
      b.cpu->attention_forward(out.cpu.data(), lse.cpu.data(), keep ? probs.cpu.data() : nullptr, qkv.cpu.data(),
                               scratch.data(), B, T, C, NH, d);
      b.gpu->attention_forward(out.gpu.data(), lse.gpu.data(), keep ? probs.gpu.data() : nullptr, qkv.gpu.data(),
                               nullptr, B, T, C, NH, d);
      check_close(*b.gpu, out, 1e-5, "attention_forward");
      check_close(*b.gpu, lse, 1e-5, "attention lse");
      Pair dout(*b.gpu, random(B * T * C, 22)), dqkv(*b.gpu, random(B * T * 3 * C, 23));
      b.cpu->attention_backward(dqkv.cpu.data(), dout.cpu.data(), out.cpu.data(), qkv.cpu.data(), lse.cpu.data(),
                                keep ? probs.cpu.data() : nullptr, scratch.data(), B, T, C, NH, d);
      b.gpu->attention_backward(dqkv.gpu.data(), dout.gpu.data(), out.gpu.data(), qkv.gpu.data(), lse.gpu.data(),
                                keep ? probs.gpu.data() : nullptr, nullptr, B, T, C, NH, d);
      check_close(*b.gpu, dqkv, 1e-5, "attention_backward");
    }
}

BOOST_AUTO_TEST_CASE(embedding_crossentropy_optimizer_match) {
  Backends b(Precision::fp32);
  const int B = 2, T = 16, C = 24, V = 50, Vl = 64, begin = 0;
  std::vector<int> tokens(B * T), targets(B * T);
  for (int i = 0; i < B * T; ++i) tokens[i] = (i * 7) % V, targets[i] = (i * 11 + 3) % V;
  std::pmr::vector<int> tokens_gpu(tokens.begin(), tokens.end(), b.gpu->memory()),
      targets_gpu(targets.begin(), targets.end(), b.gpu->memory());
  Pair wte(*b.gpu, random(Vl * C, 31)), wpe(*b.gpu, random(T * C, 32)), emb(*b.gpu, std::vector<float>(B * T * C));
  b.cpu->embedding_forward(emb.cpu.data(), tokens.data(), wte.cpu.data(), begin, Vl, wpe.cpu.data(), B, T, C);
  b.gpu->embedding_forward(emb.gpu.data(), tokens_gpu.data(), wte.gpu.data(), begin, Vl, wpe.gpu.data(), B, T, C);
  check_close(*b.gpu, emb, 0, "embedding_forward");
  Pair dwte(*b.gpu, std::vector<float>(Vl * C)), dwpe(*b.gpu, std::vector<float>(T * C)),
      dout(*b.gpu, random(B * T * C, 33));
  b.cpu->embedding_backward(dwte.cpu.data(), begin, Vl, dwpe.cpu.data(), dout.cpu.data(), tokens.data(), B, T, C);
  b.gpu->embedding_backward(dwte.gpu.data(), begin, Vl, dwpe.gpu.data(), dout.gpu.data(), tokens_gpu.data(), B, T, C);
  check_close(*b.gpu, dwte, 1e-6, "embedding_backward dwte");
  check_close(*b.gpu, dwpe, 1e-6, "embedding_backward dwpe");
  const int N = B * T;
  Pair logits(*b.gpu, random(N * Vl, 34, 3.0f)), max(*b.gpu, std::vector<float>(N)), sum(*b.gpu, std::vector<float>(N)),
      losses(*b.gpu, std::vector<float>(N)), dlogits(*b.gpu, std::vector<float>(N * Vl));
  b.cpu->crossentropy_row_max(max.cpu.data(), logits.cpu.data(), N, Vl, V);
  b.gpu->crossentropy_row_max(max.gpu.data(), logits.gpu.data(), N, Vl, V);
  b.cpu->crossentropy_exp_sum(sum.cpu.data(), logits.cpu.data(), max.cpu.data(), N, Vl, V);
  b.gpu->crossentropy_exp_sum(sum.gpu.data(), logits.gpu.data(), max.gpu.data(), N, Vl, V);
  b.cpu->crossentropy_normalize(losses.cpu.data(), logits.cpu.data(), sum.cpu.data(), targets.data(), begin, N, Vl, V);
  b.gpu->crossentropy_normalize(losses.gpu.data(), logits.gpu.data(), sum.gpu.data(), targets_gpu.data(), begin, N, Vl,
                                V);
  check_close(*b.gpu, losses, 1e-6, "crossentropy losses");
  b.cpu->crossentropy_backward(dlogits.cpu.data(), logits.cpu.data(), targets.data(), 0.5f, begin, N, Vl, V);
  b.gpu->crossentropy_backward(dlogits.gpu.data(), logits.gpu.data(), targets_gpu.data(), 0.5f, begin, N, Vl, V);
  check_close(*b.gpu, dlogits, 1e-6, "crossentropy_backward");
  Pair param(*b.gpu, random(1000, 41)), grad(*b.gpu, random(1000, 42)), m(*b.gpu, random(1000, 43, 0.1f)),
      v(*b.gpu, std::vector<float>(1000, 0.01f));
  b.cpu->adamw_update(param.cpu.data(), grad.cpu.data(), m.cpu.data(), v.cpu.data(), 1000, 3, 1e-3f, 0.9f, 0.95f, 1e-8f,
                      0.1f);
  b.gpu->adamw_update(param.gpu.data(), grad.gpu.data(), m.gpu.data(), v.gpu.data(), 1000, 3, 1e-3f, 0.9f, 0.95f, 1e-8f,
                      0.1f);
  check_close(*b.gpu, param, 1e-6, "adamw_update");
  const double cpu_norm = b.cpu->sum_of_squares(grad.cpu.data(), 1000);
  BOOST_TEST(std::fabs(b.gpu->sum_of_squares(grad.gpu.data(), 1000) - cpu_norm) <= 1e-9 * cpu_norm);
}

BOOST_AUTO_TEST_CASE(casts_and_dropout_match_bit_for_bit) {
  Backends b(Precision::bf16);
  const long n = 4099;
  std::vector<float> x = random(n, 51, 100.0f);
  x[0] = 1e38f, x[1] = -0.0f, x[2] = 3.0e-39f;  // large, negative zero, subnormal
  for (Precision p : {Precision::bf16, Precision::fp16}) {
    Pair r(*b.gpu, x);
    b.cpu->round_to_16bit(r.cpu.data(), n, p);
    b.gpu->round_to_16bit(r.gpu.data(), n, p);
    b.gpu->synchronize();
    for (long i = 0; i < n; ++i) BOOST_TEST_REQUIRE(r.cpu[i] == r.gpu[i], to_string(p) << " element " << i);
  }
  Dropout d;
  d.p = 0.3f, d.stream = 7, d.first = 123456789;
  Pair y(*b.gpu, x);
  b.cpu->dropout(y.cpu.data(), n, d);
  b.gpu->dropout(y.gpu.data(), n, d);
  check_close(*b.gpu, y, 0, "dropout masks");
  Pair u(*b.gpu, x);
  u.cpu[7] = u.gpu[7] = std::numeric_limits<float>::infinity();
  BOOST_TEST(!b.gpu->unscale_and_check(u.gpu.data(), n, 0.5f));
  BOOST_TEST(b.gpu->unscale_and_check(u.gpu.data() + 8, n - 8, 0.5f));
}

int main(int argc, char* argv[]) {
  std::string why;
  if (cuda_devices(&why) == 0) {
    std::cout << "SKIPPED: no GPU to test the CUDA backend on (" << why << ")\n";
    return 77;
  }
  select_cuda_device(0);
  return boost::unit_test::unit_test_main([] { return true; }, argc, argv);
}
