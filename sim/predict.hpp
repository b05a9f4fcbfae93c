// One configuration's prediction: iteration time with its breakdown, throughput, FLOP
// rates, and memory per pipeline stage. A pure function of the resolved plan.
#pragma once
#include <optional>
#include <vector>

#include "models/experiment.hpp"
#include "sim/event_sim.hpp"
#include "sim/memory.hpp"
#include "sim/prediction_interval.hpp"
#include "sim/resolved_plan.hpp"

namespace parallax::sim {

struct Breakdown {
  double compute = 0, recompute = 0, bubble = 0, tp_comm_exposed = 0, pp_comm_exposed = 0, dp_comm_exposed = 0,
         optimizer = 0;
  double sum() const {
    return compute + recompute + bubble + tp_comm_exposed + pp_comm_exposed + dp_comm_exposed + optimizer;
  }
};

struct Prediction {
  double iteration_time_s = 0;
  double tokens_per_s = 0;
  double model_flops = 0, hardware_flops = 0, megatron96_flops = 0;  // per iteration, whole job
  double model_tflops_per_gpu = 0, hardware_tflops_per_gpu = 0, megatron96_tflops_per_gpu = 0;
  double mfu = 0, hfu = 0;
  Breakdown breakdown;  // of the rank that finishes last
  int critical_stage = 0;
  std::vector<StageMemory> memory;
  double peak_memory_bytes = 0;
  double device_memory_bytes = 0;
  double usable_memory_bytes = 0;  // the device's memory less the system's headroom
  bool fits = true;
  std::vector<RankTotals> stages;       // per pipeline rank
  std::vector<TimelineEvent> timeline;  // filled when asked for
  // P10-P90 of the iteration time, attached by with_interval: predict itself is a function of
  // the plan alone.
  std::optional<PredictionInterval> interval;
};

struct PredictOptions {
  bool timeline = false;
};

Prediction predict(const ResolvedPlan& plan, const PredictOptions& options = {});
Prediction predict(const Experiment& e, const PredictOptions& options = {});  // of resolve(e)
// `p` with the interval of its class: the family of the experiment's framework on its device.
Prediction with_interval(Prediction p, const Experiment& e, const IntervalTable& table);

}  // namespace parallax::sim
