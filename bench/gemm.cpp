#include "bench/gemm.hpp"

#include <chrono>
#include <functional>
#include <random>

#include "sim/layer_costs.hpp"

namespace parallax::bench {

namespace {

using results::ColumnType;

// n normal values in the backend's memory.
kernels::Floats random_values(kernels::Kernels& k, long n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  kernels::Floats v(n, 0.0f, k.memory());
  for (auto& x : v) x = d(rng);
  return v;
}

// Mean seconds of `work` over `iterations` calls after one warm-up call, each call's kernels
// finished (a device backend's run after the call returns).
double seconds_per_call(kernels::Kernels& k, const std::function<void()>& work, int iterations) {
  work();
  k.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) work();
  k.synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iterations;
}

}  // namespace

std::vector<GemmShape> layer_gemms(const Experiment& e) {
  const auto& m = e.model;
  const long tp = e.parallel.tp, tokens = static_cast<long>(e.training.micro_batch) * m.seq_len / e.parallel.cp;
  const long C = m.hidden, attention = static_cast<long>(m.heads + 2 * m.kv_heads) * m.head_dim() / tp;
  const long ffn = static_cast<long>(m.mlp_width()) * (m.activation == Activation::swiglu ? 2 : 1) / tp;
  return {{"qkv", tokens, attention, C},
          {"attn_proj", tokens, C, static_cast<long>(m.heads) * m.head_dim() / tp},
          {"fc", tokens, ffn, C},
          {"fc_proj", tokens, C, static_cast<long>(m.mlp_width()) / tp},
          {"lm_head", tokens, static_cast<long>(sim::padded_vocab(m, e.parallel.tp)) / tp, C}};
}

std::vector<GemmShape> calibration_gemms() {
  std::vector<GemmShape> out;
  for (long M : {128, 512, 2048})
    for (long N : {64, 256, 1024})
      for (long K : {64, 256, 1024}) out.push_back({"grid", M, N, K});
  return out;
}

std::vector<GemmShape> square_gemms(const std::vector<long>& sizes) {
  std::vector<GemmShape> out;
  for (long s : sizes) out.push_back({"square", s, s, s});
  return out;
}

Report bench_gemm(kernels::Kernels& k, const std::vector<GemmShape>& shapes, Precision precision, int iterations) {
  Report r{"gemm",
           {{"op", ColumnType::string},
            {"pass", ColumnType::string},
            {"M", ColumnType::int64},
            {"N", ColumnType::int64},
            {"K", ColumnType::int64},
            {"type", ColumnType::string},
            {"time_us", ColumnType::float64},
            {"tflops", ColumnType::float64}},
           {},
           {{"kernels", k.libraries()}}};
  for (const auto& s : shapes) {
    const int M = static_cast<int>(s.M), N = static_cast<int>(s.N), K = static_cast<int>(s.K);
    auto in = random_values(k, s.M * s.K, 1), w = random_values(k, s.N * s.K, 2), out = random_values(k, s.M * s.N, 0);
    auto dout = random_values(k, s.M * s.N, 3), din = random_values(k, s.M * s.K, 0),
         dw = random_values(k, s.N * s.K, 0);
    // Under mixed precision the kernels expect their operands on the 16-bit grid.
    if (precision != Precision::fp32)
      for (auto* v : {&in, &w, &dout}) k.round_to_16bit(v->data(), static_cast<long>(v->size()), precision);
    const double flops = 2.0 * s.M * s.N * s.K;
    const double forward = seconds_per_call(
        k, [&] { k.matmul_forward(out.data(), in.data(), w.data(), nullptr, M, K, N); }, iterations);
    const double backward = seconds_per_call(
        k, [&] { k.matmul_backward(din.data(), dw.data(), nullptr, dout.data(), in.data(), w.data(), M, K, N); },
        iterations);
    for (const auto& [pass, seconds, f] : {std::tuple{"forward", forward, flops}, {"backward", backward, 2 * flops}})
      r.rows.push_back({s.op, std::string(pass), static_cast<long long>(s.M), static_cast<long long>(s.N),
                        static_cast<long long>(s.K), to_string(precision), seconds * 1e6, f / seconds / 1e12});
  }
  return r;
}

Report bench_kernels(kernels::Kernels& k, const std::vector<long>& elements, int iterations) {
  Report r{"kernels",
           {{"kernel", ColumnType::string},
            {"elements", ColumnType::int64},
            {"bytes", ColumnType::int64},
            {"time_us", ColumnType::float64},
            {"GBps", ColumnType::float64}},
           {},
           {{"kernels", k.libraries()}}};
  const int C = 768;  // LayerNorm rows of GPT-2 124M's width
  for (long n : elements) {
    const int rows = static_cast<int>(std::max(1L, n / C));
    const long e = static_cast<long>(rows) * C;
    auto a = random_values(k, e, 4), b = random_values(k, e, 5), out = random_values(k, e, 0),
         d = random_values(k, e, 6);
    auto g = random_values(k, e, 7), m = random_values(k, e, 0), w = random_values(k, C, 0),
         bias = random_values(k, C, 0);
    kernels::Floats v(e, 0.0f, k.memory()), mean(rows, 0.0f, k.memory()), rstd(rows, 0.0f, k.memory()),
        dw(C, 0.0f, k.memory()), db(C, 0.0f, k.memory());
    struct Kernel {
      const char* name;
      double bytes_per_element;  // fp32 bytes read and written
      std::function<void()> run;
    };
    const std::vector<Kernel> kernels = {
        {"layernorm_forward", 8,
         [&] { k.layernorm_forward(out.data(), mean.data(), rstd.data(), a.data(), w.data(), bias.data(), rows, C); }},
        {"layernorm_backward", 16,
         [&] {
           k.layernorm_backward(out.data(), dw.data(), db.data(), d.data(), a.data(), w.data(), mean.data(),
                                rstd.data(), rows, C);
         }},
        {"gelu_forward", 8, [&] { k.gelu_forward(out.data(), a.data(), e); }},
        {"gelu_backward", 16, [&] { k.gelu_backward(out.data(), a.data(), d.data(), e); }},
        {"residual_forward", 12, [&] { k.residual_forward(out.data(), a.data(), b.data(), e); }},
        {"residual_backward", 20, [&] { k.residual_backward(out.data(), b.data(), d.data(), e); }},
        {"adamw", 28,
         [&] { k.adamw_update(a.data(), g.data(), m.data(), v.data(), e, 1, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f); }},
    };
    for (const auto& kernel : kernels) {
      const double seconds = seconds_per_call(k, kernel.run, iterations);
      const double bytes = kernel.bytes_per_element * static_cast<double>(e);
      r.rows.push_back({std::string(kernel.name), static_cast<long long>(e), static_cast<long long>(bytes),
                        seconds * 1e6, bytes / seconds / 1e9});
    }
  }
  return r;
}

}  // namespace parallax::bench
