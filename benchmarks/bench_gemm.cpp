// GEMM speed of the executor's matmul kernel at the shapes of the benchmark model (L=6,
// h=384, vocab 8192, B*T = 2048): effective GFLOP/s forward and backward, against the
// machine's fp32 peak from the `cpu` device preset. Prints figures, asserts nothing.
#include <cblas.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "kernels/cpu/matmul.hpp"
#include "models/toml_reader.hpp"

int main() {
  using clock = std::chrono::steady_clock;
  const parallax::SystemConfig cpu = parallax::system_preset("cpu");
  const int threads = openblas_get_num_threads();
  std::printf("OpenBLAS %s, core %s, %d thread(s); peak %.0f GFLOP/s per core (models/presets/devices/cpu-core.toml)\n",
              openblas_get_config(), openblas_get_corename(), threads, cpu.device.peak_tflops_fp32 * 1e3);
  struct Shape {
    const char* name;
    int N, C, OC;
  } shapes[] = {{"qkv      2048x384 -> 1152", 2048, 384, 1152},
                {"mlp up   2048x384 -> 1536", 2048, 384, 1536},
                {"mlp down 2048x1536 -> 384", 2048, 1536, 384},
                {"lm head  2048x384 -> 8192", 2048, 384, 8192}};
  double total_flops = 0, total_s = 0;
  for (const auto& s : shapes) {
    std::vector<float> inp(static_cast<size_t>(s.N) * s.C, 0.5f), w(static_cast<size_t>(s.OC) * s.C, 0.25f),
        b(s.OC, 0.0f), out(static_cast<size_t>(s.N) * s.OC), dout(out.size(), 0.125f), dinp(inp.size()), dw(w.size()),
        db(s.OC);
    const int reps = 10;
    parallax::kernels::matmul_forward(out.data(), inp.data(), w.data(), b.data(), s.N, s.C, s.OC);  // warm up
    auto t0 = clock::now();
    for (int r = 0; r < reps; ++r)
      parallax::kernels::matmul_forward(out.data(), inp.data(), w.data(), b.data(), s.N, s.C, s.OC);
    const double fwd = std::chrono::duration<double>(clock::now() - t0).count() / reps;
    t0 = clock::now();
    for (int r = 0; r < reps; ++r)
      parallax::kernels::matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), s.N, s.C,
                                         s.OC);
    const double bwd = std::chrono::duration<double>(clock::now() - t0).count() / reps;
    const double flops = 2.0 * s.N * s.C * s.OC;
    std::printf("  %-28s forward %7.1f GFLOP/s   backward %7.1f GFLOP/s\n", s.name, flops / fwd / 1e9,
                2 * flops / bwd / 1e9);
    total_flops += 3 * flops;
    total_s += fwd + bwd;
  }
  const double rate = total_flops / total_s / 1e9;
  std::printf("  all shapes: %.1f GFLOP/s = %.0f %% of %d core(s) at peak\n", rate,
              100 * rate / (cpu.device.peak_tflops_fp32 * 1e3 * threads), threads);
  return 0;
}
