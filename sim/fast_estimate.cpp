#include "sim/fast_estimate.hpp"

#include <algorithm>

#include "sim/memory.hpp"
#include "sim/pipeline_schedule.hpp"
#include "sim/placement.hpp"
#include "sim/plan_costs.hpp"

namespace parallax::sim {

LayerCosts layer_costs(const Experiment& e) { return {transformer_layer_cost(e), embedding_cost(e), head_cost(e)}; }

double fast_iteration_time(const Experiment& e, const LayerCosts& costs) {
  const auto& p = e.parallel;
  const int P = p.pp;
  const int v = p.schedule == Schedule::interleaved ? p.vpp : 1;
  const int V = P * v;
  const double m = e.micro_batches();
  const double overhead = e.system.calibration.pass_overhead_us * 1e-6;
  const double hop_intra = pipeline_hop_time(e, false);
  const double hop_inter = pipeline_hop_time(e, true);
  auto hop = [&](int r) {  // r -> r+1 (mod P)
    return pipeline_hop_inter_node(r, p, e.system.gpus_per_node) ? hop_inter : hop_intra;
  };
  auto fwd = [&](int vs) {
    const double layers = static_cast<double>(e.layers_on_stage(vs % P)) / v;
    double t = layers * costs.layer.forward.total() + overhead;
    if (vs == 0) t += costs.embedding.forward.total();
    if (vs == V - 1) t += costs.head.forward.total();
    return t;
  };
  auto bwd = [&](int vs) {
    const double layers = static_cast<double>(e.layers_on_stage(vs % P)) / v;
    double t = layers * costs.layer.backward.total() + overhead;
    if (vs == 0) t += costs.embedding.backward.total();
    if (vs == V - 1) t += costs.head.backward.total();
    return t;
  };

  // Blocking sends after each pass (to the next virtual stage forward, the previous backward).
  auto send_forward = [&](int vs) { return vs < V - 1 ? hop(vs % P) : 0.0; };
  auto send_backward = [&](int vs) { return vs > 0 ? hop((vs - 1) % P) : 0.0; };

  double pipeline = 0;
  if (p.schedule == Schedule::gpipe || warmup_forwards(p.schedule, P, v, static_cast<int>(m), 0) >= m * v) {
    // All forwards, then all backwards: two flow shops of J = m*v identical jobs, whose
    // makespan is one job's path plus (J - 1) times the slowest rank's time per job.
    double forward_path = 0, backward_path = 0, forward_slowest = 0, backward_slowest = 0;
    for (int r = 0; r < P; ++r) {
      forward_path += fwd(r) + send_forward(r);
      backward_path += bwd(r) + send_backward(r);
      double f = 0, b = 0;
      for (int c = 0; c < v; ++c) {
        f += fwd(c * P + r) + send_forward(c * P + r);
        b += bwd(c * P + r) + send_backward(c * P + r);
      }
      forward_slowest = std::max(forward_slowest, f / v);
      backward_slowest = std::max(backward_slowest, b / v);
    }
    pipeline = forward_path + backward_path + (m * v - 1) * (forward_slowest + backward_slowest);
  } else {
    // 1F1B steady state: every micro-batch after the first costs the slowest rank's period
    // (all its chunks' passes and sends); the first one's round trip through chunk 0 of every
    // rank fills and drains the pipeline, and the other chunks add their share once.
    double period = 0, fill = 0;
    for (int r = 0; r < P; ++r) {
      double t = 0;
      for (int c = 0; c < v; ++c) {
        const int vs = c * P + r;
        t += fwd(vs) + bwd(vs) + send_forward(vs) + send_backward(vs);
      }
      period = std::max(period, t);
      fill += fwd(r) + bwd(r) + (r < P - 1 ? 2 * hop(r) : 0.0);
    }
    pipeline = (m - 1) * period + fill + (v - 1) * period / v;
  }

  // Rank r's last backward ends before rank 0's by the drain behind it.
  auto finish = [&](int r) {
    double t = pipeline;
    for (int j = 0; j < r; ++j) t -= bwd(j) + (j > 0 ? hop(j - 1) : 0.0);
    return t;
  };
  auto tail = [&](int r) {
    double last_backward = 0;
    for (int c = 0; c < v; ++c) last_backward += bwd(c * P + r);
    return exposed_data_parallel_time(e, r, last_backward) + optimizer_time(e, r);
  };
  double total = finish(0) + tail(0);
  if (P > 1) total = std::max({total, finish(1) + tail(1), finish(P - 1) + tail(P - 1)});
  return total;
}

double fast_peak_memory(const Experiment& e) {
  const auto& p = e.parallel;
  const int m = e.micro_batches();
  auto in_flight = [&](int r) {
    switch (p.schedule) {
      case Schedule::gpipe: return m;
      case Schedule::one_f_one_b: return std::min(p.pp - r, m);
      case Schedule::interleaved: {
        const int total = m * p.vpp;
        return std::min(total, warmup_forwards(Schedule::interleaved, p.pp, p.vpp, m, r) + 1);
      }
    }
    return m;
  };
  const int chunks = p.schedule == Schedule::interleaved ? p.vpp : 1;
  double peak = stage_memory_at(e, 0, in_flight(0), chunks).total();
  if (p.pp > 1) peak = std::max(peak, stage_memory_at(e, p.pp - 1, in_flight(p.pp - 1), chunks).total());
  return peak;
}

FastEstimate fast_estimate(const Experiment& e, const LayerCosts& costs) {
  FastEstimate out;
  out.peak_memory_bytes = fast_peak_memory(e);
  out.fits = out.peak_memory_bytes <= e.system.device.memory_gib * 1024.0 * 1024.0 * 1024.0;
  out.iteration_time_s = fast_iteration_time(e, costs);
  return out;
}

}  // namespace parallax::sim
