#include "bench/calibrate.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "sim/collectives.hpp"
#include "sim/gemm_model.hpp"

namespace parallax::bench {

namespace {

std::string attribute(const Report& r, const std::string& key) {
  for (const auto& [k, v] : r.attributes)
    if (k == key) return v;
  return "";
}

// A benchmark's name in the comments: its kind and, read from a file, its id.
std::string label(const Report& r) {
  const std::string id = attribute(r, "id");
  return "bench " + r.kind + (id.empty() ? "" : " " + id);
}

// One timed row of bench gemm: a forward GEMM, or a backward's two.
struct GemmSample {
  std::vector<sim::Gemm> gemms;
  double seconds = 0;
};

void add_gemm_samples(const Report& r, Precision p, std::vector<GemmSample>& out) {
  const auto M = r.numbers("M"), N = r.numbers("N"), K = r.numbers("K"), t = r.numbers("time_us");
  const auto pass = r.strings("pass"), type = r.strings("type");
  for (size_t i = 0; i < M.size(); ++i) {
    if (type[i] != to_string(p)) continue;
    GemmSample s;
    if (pass[i] == "forward")
      s.gemms = {{M[i], N[i], K[i]}};
    else  // the input's gradient [M, K] and the weight's [N, K]
      s.gemms = {{M[i], K[i], N[i]}, {N[i], K[i], M[i]}};
    s.seconds = t[i] * 1e-6;
    out.push_back(s);
  }
}

// Every gemm benchmark's rows at one precision, and where they came from.
std::vector<GemmSample> gemm_samples(const std::vector<const Report*>& reports, Precision p, std::string& from) {
  std::vector<GemmSample> out;
  for (const Report* r : reports) {
    const size_t before = out.size();
    add_gemm_samples(*r, p, out);
    if (out.size() > before) from += (from.empty() ? "" : ", ") + label(*r);
  }
  return out;
}

// Root mean square of log(predicted / measured) over the samples.
double log_error(const SystemConfig& sys, const std::vector<GemmSample>& samples, Precision p) {
  double sum = 0;
  for (const auto& s : samples) {
    double t = 0;
    for (const auto& g : s.gemms) t += sim::gemm_time(g, sys, p);
    sum += std::pow(std::log(t / s.seconds), 2);
  }
  return std::sqrt(sum / static_cast<double>(samples.size()));
}

// The best efficiency for the curve `sys` already has: a geometric grid from 1 % to 400 % of
// the peak, refined once around the best point.
double best_efficiency(SystemConfig& sys, const std::vector<GemmSample>& samples, Precision p, double& error) {
  double best = 1, lo = 0.01, hi = 4;
  error = INFINITY;
  for (int round = 0; round < 2; ++round) {
    const double step = std::pow(hi / lo, 1.0 / 60);
    for (double e = lo; e <= hi * 1.0001; e *= step) {
      sys.calibration.gemm_efficiency = e;
      const double err = log_error(sys, samples, p);
      if (err < error) error = err, best = e;
    }
    lo = best / step, hi = best * step;
  }
  sys.calibration.gemm_efficiency = best;
  return best;
}

struct GemmFit {
  Calibration curve;
  double error = INFINITY;
};

GemmFit fit_gemm_curve(const SystemConfig& base, const std::vector<GemmSample>& samples, Precision p) {
  GemmFit fit;
  SystemConfig sys = base;
  for (double tile : {8.0, 16.0, 32.0, 64.0, 128.0, 256.0})
    for (double k_half : {0.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 256.0})
      for (double launch_us : {0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0}) {
        sys.calibration.gemm_tile_m = sys.calibration.gemm_tile_n = tile;
        sys.calibration.gemm_k_half = k_half;
        sys.calibration.kernel_launch_us = launch_us;
        double error = 0;
        best_efficiency(sys, samples, p, error);
        if (error < fit.error) fit = {sys.calibration, error};
      }
  return fit;
}

double& peak_of(DeviceSpec& d, Precision p) {
  return p == Precision::bf16 ? d.peak_tflops_bf16 : p == Precision::fp16 ? d.peak_tflops_fp16 : d.peak_tflops_fp32;
}

void fit_gemm(const std::vector<const Report*>& reports, Calibrated& c) {
  std::vector<Precision> present;
  std::string unused;
  for (Precision p : {Precision::fp32, Precision::bf16, Precision::fp16})
    if (!gemm_samples(reports, p, unused).empty()) present.push_back(p);
  if (present.empty()) return;
  const Precision first = present.front();
  std::string from;
  const auto samples = gemm_samples(reports, first, from);
  const GemmFit fit = fit_gemm_curve(c.system, samples, first);
  auto& cal = c.system.calibration;
  cal.gemm_efficiency = fit.curve.gemm_efficiency;
  cal.gemm_k_half = fit.curve.gemm_k_half;
  cal.gemm_tile_m = fit.curve.gemm_tile_m;
  cal.gemm_tile_n = fit.curve.gemm_tile_n;
  cal.kernel_launch_us = fit.curve.kernel_launch_us;
  for (const char* key : {"calibration.gemm_efficiency", "calibration.gemm_k_half", "calibration.gemm_tile_m",
                          "calibration.gemm_tile_n", "calibration.kernel_launch_us"})
    c.sources.emplace_back(
        key, "fitted: " + from + ", " + std::to_string(samples.size()) + " " + to_string(first) + " rows");
  if (cal.gemm_efficiency > 1) {  // faster than the base's peak: the peak was wrong, not the curve
    peak_of(c.system.device, first) *= cal.gemm_efficiency;
    cal.gemm_efficiency = 1;
    c.sources.emplace_back("device.peak_tflops_" + to_string(first),
                           "raised to what " + from + " reached: the base system's peak was below it");
  }
  char note[160];
  std::snprintf(note, sizeof note, "gemm %s: rms |log(predicted/measured)| %.3f over %zu rows",
                to_string(first).c_str(), fit.error, samples.size());
  c.fit_notes.emplace_back(note);
  for (size_t i = 1; i < present.size(); ++i) {  // the same curve; the peak absorbs the difference
    const Precision p = present[i];
    std::string more_from;
    const auto more = gemm_samples(reports, p, more_from);
    SystemConfig sys = c.system;
    double error = 0;
    const double efficiency = best_efficiency(sys, more, p, error);
    peak_of(c.system.device, p) *= efficiency / cal.gemm_efficiency;
    c.sources.emplace_back(
        "device.peak_tflops_" + to_string(p),
        "scaled so that the " + to_string(first) + " curve gives " + more_from + "'s " + to_string(p) + " times");
    std::snprintf(note, sizeof note, "gemm %s: rms |log(predicted/measured)| %.3f over %zu rows", to_string(p).c_str(),
                  error, more.size());
    c.fit_notes.emplace_back(note);
  }
}

void fit_kernels(const Report& r, Calibrated& c) {
  double bytes = 0, seconds = 0;
  const auto b = r.numbers("bytes"), t = r.numbers("time_us");
  for (size_t i = 0; i < b.size(); ++i) bytes += b[i], seconds += t[i] * 1e-6;
  if (seconds <= 0) return;
  c.system.device.memory_gbps = bytes / seconds / 1e9;
  c.system.calibration.memory_efficiency = 1.0;
  c.sources.emplace_back("device.memory_GBps", "fitted: " + label(r) + ", the bytes of every row over their time (" +
                                                   std::to_string(b.size()) + " rows)");
  c.sources.emplace_back("calibration.memory_efficiency", "1: memory_GBps is the kernels' effective bandwidth");
}

std::optional<sim::Collective> sim_collective(const std::string& op) {
  if (op == "all_reduce") return sim::Collective::all_reduce;
  if (op == "reduce_scatter") return sim::Collective::reduce_scatter;
  if (op == "all_gather") return sim::Collective::all_gather;
  return std::nullopt;
}

void fit_link(const Report& r, Calibrated& c) {
  const int n = std::atoi(attribute(r, "ranks").c_str());
  if (n < 2) return;
  const auto op = r.strings("op");
  const auto size = r.numbers("size"), t = r.numbers("time_us");
  std::vector<std::array<double, 3>> rows;  // steps, bytes * factor, seconds
  for (size_t i = 0; i < op.size(); ++i)
    if (const auto coll = sim_collective(op[i]))
      rows.push_back(
          {static_cast<double>(sim::ring_steps(*coll, n)), size[i] * sim::busbw_factor(*coll, n), t[i] * 1e-6});
  if (rows.size() < 2) return;
  // Each equation divided by its time: every size weighs the same, relatively.
  Eigen::MatrixXd A(rows.size(), 2);
  Eigen::VectorXd b = Eigen::VectorXd::Ones(static_cast<long>(rows.size()));
  for (size_t i = 0; i < rows.size(); ++i)
    A.row(static_cast<long>(i)) << rows[i][0] / rows[i][2], rows[i][1] / rows[i][2];
  Eigen::Vector2d x = A.colPivHouseholderQr().solve(b);  // latency, 1 / busbw
  if (x(0) < 0) x << 0, A.col(1).dot(b) / A.col(1).squaredNorm();
  if (!(x(1) > 0)) return;
  c.system.intra_node.latency_us = x(0) * 1e6;
  c.system.intra_node.bandwidth_gbps = 1.0 / x(1) / 1e9;
  c.system.calibration.busbw_efficiency_intra = 1.0;
  const std::string from = "fitted: " + label(r) + ", latency * steps + bytes * busbw_factor / busbw over " +
                           std::to_string(rows.size()) + " rows on " + std::to_string(n) + " ranks";
  c.sources.emplace_back("intra_node.bandwidth_GBps", from);
  c.sources.emplace_back("intra_node.latency_us", from);
  c.sources.emplace_back("calibration.busbw_efficiency_intra", "1: bandwidth_GBps is the measured bus bandwidth");
}

}  // namespace

Calibrated calibrate(const SystemConfig& base, const std::vector<Report>& benchmarks) {
  Calibrated c{base, {}, {}};
  std::vector<const Report*> gemms;
  for (const auto& r : benchmarks) {
    if (r.kind == "gemm") gemms.push_back(&r);
    if (r.kind == "kernels") fit_kernels(r, c);
    if (r.kind == "collectives") fit_link(r, c);
  }
  fit_gemm(gemms, c);
  if (c.sources.empty()) throw InputError("no gemm, kernels or collectives benchmark (of 2 or more ranks) to fit");
  return c;
}

std::string system_toml(const Calibrated& c, const std::string& header) {
  std::map<std::string, std::string> source(c.sources.begin(), c.sources.end());
  std::ostringstream out;
  out << header;
  auto line = [&](const std::string& section, const std::string& key, double value) {
    const auto it = source.find(section + "." + key);
    out << key << " = " << value << "  # "
        << (it != source.end() ? it->second : "kept from the base system " + c.system.name) << "\n";
  };
  const auto& s = c.system;
  const auto& d = s.device;
  const auto& cal = s.calibration;
  out << "gpus_per_node = " << s.gpus_per_node << "\n\n[device]\nname = \"" << d.name << "\"\n";
  line("device", "sms", d.sms);
  for (Precision p : {Precision::fp32, Precision::fp16, Precision::bf16, Precision::fp8})
    line("device", "peak_tflops_" + to_string(p), peak_flops(d, p) / 1e12);
  line("device", "peak_tflops_vector_fp16", d.peak_tflops_vector_fp16);
  line("device", "memory_GiB", d.memory_gib);
  line("device", "memory_GBps", d.memory_gbps);
  for (const auto& [name, link] : {std::pair{"intra_node", s.intra_node}, {"inter_node", s.inter_node}}) {
    out << "\n[" << name << "]\n";
    line(name, "bandwidth_GBps", link.bandwidth_gbps);
    line(name, "latency_us", link.latency_us);
  }
  out << "\n[calibration]\n";
  for (const auto& [key, value] :
       std::vector<std::pair<const char*, double>>{{"gemm_efficiency", cal.gemm_efficiency},
                                                   {"gemm_k_half", cal.gemm_k_half},
                                                   {"gemm_tile_m", cal.gemm_tile_m},
                                                   {"gemm_tile_n", cal.gemm_tile_n},
                                                   {"misaligned_gemm_efficiency", cal.misaligned_gemm_efficiency},
                                                   {"memory_efficiency", cal.memory_efficiency},
                                                   {"kernel_launch_us", cal.kernel_launch_us},
                                                   {"flash_attention_efficiency", cal.flash_attention_efficiency},
                                                   {"busbw_efficiency_intra", cal.busbw_efficiency_intra},
                                                   {"busbw_efficiency_inter", cal.busbw_efficiency_inter},
                                                   {"p2p_efficiency_inter", cal.p2p_efficiency_inter},
                                                   {"memory_overhead_gib", cal.memory_overhead_gib},
                                                   {"activation_memory_factor", cal.activation_memory_factor},
                                                   {"pass_overhead_us", cal.pass_overhead_us},
                                                   {"dp_reduce_efficiency", cal.dp_reduce_efficiency},
                                                   {"thread_efficiency", cal.thread_efficiency}})
    line("calibration", key, value);
  return out.str();
}

}  // namespace parallax::bench
