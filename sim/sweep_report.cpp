#include "sim/sweep_report.hpp"

#include <algorithm>
#include <map>

namespace parallax::sim {

std::vector<RankedPlan> top_plans(const Experiment& base, const SweepResult& sweep, int gpus, int k) {
  std::vector<const PlanRecord*> feasible;
  for (const auto& p : sweep.plans)
    if (p.fits() && p.gpus == gpus) feasible.push_back(&p);
  const size_t shortlist = std::min(feasible.size(), static_cast<size_t>(2 * k));
  std::partial_sort(feasible.begin(), feasible.begin() + shortlist, feasible.end(),
                    [](const PlanRecord* a, const PlanRecord* b) { return a->tokens_per_s > b->tokens_per_s; });
  std::vector<RankedPlan> ranked;
  for (size_t i = 0; i < shortlist; ++i) {
    RankedPlan r{*feasible[i], plan_experiment(base, *feasible[i]), {}};
    r.prediction = predict(r.experiment);
    if (!r.prediction.fits) continue;  // exact in-flight counts: never report a plan that does not fit
    r.plan.iteration_time_s = r.prediction.iteration_time_s;
    r.plan.tokens_per_s = r.prediction.tokens_per_s;
    r.plan.mfu = r.prediction.mfu;
    r.plan.peak_memory_bytes = r.prediction.peak_memory_bytes;
    ranked.push_back(std::move(r));
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const RankedPlan& a, const RankedPlan& b) {
    return a.plan.iteration_time_s < b.plan.iteration_time_s;
  });
  if (ranked.size() > static_cast<size_t>(k)) ranked.resize(k);
  return ranked;
}

std::vector<PlanRecord> memory_frontier(const SweepResult& sweep, int gpus) {
  std::vector<PlanRecord> plans;
  for (const auto& p : sweep.plans)
    if (p.fits() && p.gpus == gpus) plans.push_back(p);
  std::sort(plans.begin(), plans.end(), [](const PlanRecord& a, const PlanRecord& b) {
    return a.peak_memory_bytes != b.peak_memory_bytes ? a.peak_memory_bytes < b.peak_memory_bytes
                                                      : a.tokens_per_s > b.tokens_per_s;
  });
  std::vector<PlanRecord> frontier;
  for (const auto& p : plans)
    if (frontier.empty() || p.tokens_per_s > frontier.back().tokens_per_s) frontier.push_back(p);
  return frontier;
}

std::vector<PlanRecord> best_per_device_count(const SweepResult& sweep) {
  std::map<int, PlanRecord> best;
  for (const auto& p : sweep.plans)
    if (p.fits() && (!best.count(p.gpus) || p.tokens_per_s > best[p.gpus].tokens_per_s)) best[p.gpus] = p;
  std::vector<PlanRecord> out;
  for (const auto& [g, p] : best) out.push_back(p);
  return out;
}

std::string dominant_cost(const Breakdown& b) {
  const std::pair<const char*, double> parts[] = {{"bubble", b.bubble},           {"recompute", b.recompute},
                                                  {"TP comm", b.tp_comm_exposed}, {"PP comm", b.pp_comm_exposed},
                                                  {"DP comm", b.dp_comm_exposed}, {"optimizer", b.optimizer}};
  const auto* top = std::max_element(std::begin(parts), std::end(parts),
                                     [](const auto& a, const auto& c) { return a.second < c.second; });
  return top->first;
}

std::string plan_differences(const PlanRecord& a, const PlanRecord& b) {
  std::string out;
  auto add = [&](const char* knob, const std::string& x, const std::string& y) {
    if (x == y) return;
    out.append(out.empty() ? "" : ", ").append(knob).append(" ").append(x).append(" / ").append(y);
  };
  auto on = [](bool v) { return std::string(v ? "on" : "off"); };
  add("devices", std::to_string(a.gpus), std::to_string(b.gpus));
  add("global batch", std::to_string(a.global_batch), std::to_string(b.global_batch));
  add("tp", std::to_string(a.tp), std::to_string(b.tp));
  add("pp", std::to_string(a.pp), std::to_string(b.pp));
  add("dp", std::to_string(a.dp), std::to_string(b.dp));
  add("micro-batch", std::to_string(a.micro_batch), std::to_string(b.micro_batch));
  add("vpp", std::to_string(a.vpp), std::to_string(b.vpp));
  add("schedule", to_string(a.schedule), to_string(b.schedule));
  add("recompute", to_string(a.recompute), to_string(b.recompute));
  add("sequence parallelism", on(a.sequence_parallel), on(b.sequence_parallel));
  add("ZeRO stage", std::to_string(a.zero_stage), std::to_string(b.zero_stage));
  return out;
}

}  // namespace parallax::sim
