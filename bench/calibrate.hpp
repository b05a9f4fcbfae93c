// `parallax calibrate`: the simulator's machine description fitted to micro-benchmarks
// (bench/gemm.hpp, bench/collectives.hpp), each fitted number with the benchmark it came from.
#pragma once
#include <string>
#include <vector>

#include "bench/report.hpp"
#include "models/experiment.hpp"

namespace parallax::bench {

struct Calibrated {
  SystemConfig system;  // the base system with the fitted fields replaced
  // A comment for each key written ("device.memory_GBps"): the benchmark and the fit, or the
  // base system it was kept from.
  std::vector<std::pair<std::string, std::string>> sources;
  std::vector<std::string> fit_notes;  // the fits' residuals, printed
};

// Fits what the benchmarks measure and keeps the rest of `base`:
// - gemm (per precision): the GEMM efficiency curve of sim/gemm_model.hpp (efficiency against
//   the base peak, K half-speed point, tile, per-call overhead), by least squares on log time
//   over every shape, a grid search; a 16-bit precision's peak scales so that the fp32 curve
//   gives its times;
// - kernels: the element-wise kernels' effective memory bandwidth (bytes over time, summed);
// - collectives: the intra-node link's latency and bus bandwidth, by least squares on
//   latency * steps + bytes * busbw_factor / busbw relative to each time.
// InputError when there is no benchmark to fit.
Calibrated calibrate(const SystemConfig& base, const std::vector<Report>& benchmarks);

// The system file (README: "Your own cluster"), every key with its unit and its source.
std::string system_toml(const Calibrated& c, const std::string& header);

}  // namespace parallax::bench
