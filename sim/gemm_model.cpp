#include "sim/gemm_model.hpp"

#include <algorithm>
#include <cmath>

namespace parallax::sim {

double gemm_flops(const Gemm& g) { return 2.0 * g.m * g.n * g.k * g.batch; }

namespace {
bool aligned(double dim) { return std::fmod(dim, 8.0) == 0.0; }
}  // namespace

double gemm_time(const Gemm& g, const SystemConfig& sys, Precision precision) {
  if (g.m <= 0 || g.n <= 0 || g.k <= 0 || g.batch <= 0) return 0.0;
  const auto& cal = sys.calibration;
  const auto& dev = sys.device;
  const double tiles_m = std::ceil(g.m / cal.gemm_tile_m);
  const double tiles_n = std::ceil(g.n / cal.gemm_tile_n);
  const double tiles = tiles_m * tiles_n * g.batch;
  const double sms = std::max(1, dev.sms);
  const double waves = std::ceil(tiles / sms);
  const double wave_util = (g.m * g.n * g.batch) / (waves * sms * cal.gemm_tile_m * cal.gemm_tile_n);
  const double k_util = g.k / (g.k + cal.gemm_k_half);

  double peak = peak_flops(dev, precision) * cal.gemm_efficiency;
  const bool tensor_cores = precision != Precision::fp32;
  if (tensor_cores && !(aligned(g.m) && aligned(g.n) && aligned(g.k)))
    peak = dev.peak_tflops_vector_fp16 * 1e12 * cal.misaligned_gemm_efficiency;
  const double compute = gemm_flops(g) / (peak * wave_util * k_util);

  const double bytes = bytes_per_element(precision) * g.batch * (g.m * g.k + g.k * g.n + g.m * g.n);
  const double memory = memory_time(bytes, sys);
  return std::max(compute, memory) + cal.kernel_launch_us * 1e-6;
}

double memory_time(double bytes, const SystemConfig& sys) {
  return bytes / (sys.device.memory_gbps * 1e9 * sys.calibration.memory_efficiency);
}

}  // namespace parallax::sim
