#include "sim/predict.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "models/framework_profile.hpp"
#include "sim/flops.hpp"
#include "sim/layer_costs.hpp"
#include "sim/pipeline_schedule.hpp"
#include "sim/plan_costs.hpp"

namespace parallax::sim {

Prediction predict(const Experiment& e, const PredictOptions& options) { return predict(resolve(e), options); }

Prediction with_interval(Prediction p, const Experiment& e, const IntervalTable& table) {
  const std::string family = framework_profile(e.training.framework).family;
  p.interval = prediction_interval(table, family, e.system.device.name, p.iteration_time_s);
  return p;
}

Prediction predict(const ResolvedPlan& plan, const PredictOptions& options) {
  const Experiment& e = plan.experiment;
  const auto& p = e.parallel;
  const auto& t = e.training;
  const PipelineSchedule& schedule = plan.schedule;
  const int V = schedule.virtual_stages();

  SimInput in = sim_input(e, schedule, layer_costs(e));
  in.record_timeline = options.timeline;
  SimResult with_p2p = simulate(in);
  if (with_p2p.deadlock) throw std::logic_error("pipeline schedule deadlocked in the event simulation");

  SimInput no_p2p = in;
  no_p2p.hop.assign(V, 0.0);
  no_p2p.record_timeline = false;
  const SimResult ideal = simulate(no_p2p);

  Prediction out;
  out.iteration_time_s = with_p2p.makespan;
  out.stages = with_p2p.ranks;
  out.timeline = std::move(with_p2p.timeline);
  int crit = 0;
  for (int r = 0; r < p.pp; ++r)
    if (out.stages[r].finish > out.stages[crit].finish) crit = r;
  out.critical_stage = crit;
  const RankTotals& rt = out.stages[crit];
  Breakdown& b = out.breakdown;
  b.compute = rt.compute();
  b.recompute = rt.recompute;
  b.tp_comm_exposed = rt.tp_comm;
  b.dp_comm_exposed = rt.dp_comm;
  b.optimizer = rt.optimizer;
  // A stage that never waits can come out a rounding error below zero here: no part is negative.
  const double waiting =
      std::max(0.0, rt.finish - (b.compute + b.recompute + b.tp_comm_exposed + b.dp_comm_exposed + b.optimizer));
  b.pp_comm_exposed = std::clamp(with_p2p.makespan - ideal.makespan, 0.0, waiting);
  b.bubble = waiting - b.pp_comm_exposed;

  const double gpus = e.system.gpus;
  const double T = out.iteration_time_s;
  const Throughput rates = throughput(e, T);
  out.tokens_per_s = rates.tokens_per_s;
  out.model_flops = model_flops(e);
  out.hardware_flops = hardware_flops(e);
  out.megatron96_flops = megatron96_flops(e);
  out.model_tflops_per_gpu = rates.model_tflops_per_gpu;
  out.hardware_tflops_per_gpu = out.hardware_flops / (T * gpus) / 1e12;
  out.megatron96_tflops_per_gpu = out.megatron96_flops / (T * gpus) / 1e12;
  const double peak = peak_flops(e.system.device, t.precision) / 1e12;
  out.mfu = rates.mfu;
  out.hfu = out.hardware_tflops_per_gpu / peak;

  out.memory = stage_memory(e, schedule);
  for (const auto& s : out.memory) out.peak_memory_bytes = std::max(out.peak_memory_bytes, s.total());
  out.device_memory_bytes = e.system.device.memory_gib * 1024.0 * 1024.0 * 1024.0;
  out.usable_memory_bytes = e.system.usable_memory_bytes();
  out.fits = out.peak_memory_bytes <= out.usable_memory_bytes;
  return out;
}

}  // namespace parallax::sim
