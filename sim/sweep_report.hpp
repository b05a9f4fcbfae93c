// What a sweep reports: the top plans re-timed with the event simulation, the Pareto
// frontiers (throughput against memory, and against device count), and what separates plans.
#pragma once
#include <string>
#include <vector>

#include "sim/predict.hpp"
#include "sim/sweep.hpp"

namespace parallax::sim {

struct RankedPlan {
  PlanRecord plan;
  Experiment experiment;
  Prediction prediction;  // event simulation
};

// The k fastest feasible plans on `gpus` devices: the 2k best by the closed form, re-timed
// with the event simulation and ranked by it.
std::vector<RankedPlan> top_plans(const Experiment& base, const SweepResult& sweep, int gpus, int k);

// Feasible plans on `gpus` devices that no other plan beats on both throughput and peak
// memory, by increasing memory.
std::vector<PlanRecord> memory_frontier(const SweepResult& sweep, int gpus);
// The fastest plan per device count, and whether more devices still raise throughput.
std::vector<PlanRecord> best_per_device_count(const SweepResult& sweep);

// The knobs two plans differ in, as "tp 2 / 4, sequence parallelism on / off" (first / second);
// empty for the same plan.
std::string plan_differences(const PlanRecord& a, const PlanRecord& b);

// The largest exposed cost after compute: "bubble", "TP comm", "recompute", ...
std::string dominant_cost(const Breakdown& b);

}  // namespace parallax::sim
