// Closed-form iteration time and peak memory of a plan, for the sweep: the same per-stage
// costs as the event simulation (sim/plan_costs.hpp), timed without simulating each action.
//
// A pipeline of p ranks, each with v chunks, m micro-batches: the first micro-batch's round
// trip through one chunk per rank fills the pipeline, every further micro-batch costs the
// slowest rank's period (its chunks' forward and backward passes and blocking sends), and an
// interleaved rank's remaining v-1 chunks add their share once (Narayanan et al. SC21 sec. 2.2:
// (m + p - 1)(tf + tb) for 1F1B and GPipe, m(tf + tb) + (p - 1)(tf + tb)/v interleaved). Each
// rank's DP reduction and optimizer step follow its last backward, which the drain of the
// last micro-batch reaches rank by rank. Interleaved plans with as many micro-batches as stages
// (all warm-up) take the event simulation instead.
#pragma once
#include <map>
#include <tuple>

#include "models/experiment.hpp"
#include "sim/layer_costs.hpp"
#include "sim/pipeline_schedule.hpp"

namespace parallax::sim {

// The layer costs (sim/layer_costs.hpp) depend on (tp, sp, micro-batch, recomputation) only:
// callers compute them once and pass them for every plan that shares them.
struct FastEstimate {
  double iteration_time_s = 0;
  double peak_memory_bytes = 0;
  bool fits = true;
};

// Schedules already built, by (type, pp, vpp, micro-batches): a sweep passes one per thread.
using ScheduleCache = std::map<std::tuple<int, int, int, int>, PipelineSchedule>;

double fast_iteration_time(const Experiment& e, const LayerCosts& costs, ScheduleCache* schedules = nullptr);
// Peak over the first and last stages (the others hold less), with the schedules' in-flight
// counts in closed form (warm-up forwards + 1).
double fast_peak_memory(const Experiment& e);
FastEstimate fast_estimate(const Experiment& e, const LayerCosts& costs);

}  // namespace parallax::sim
