#include "sim/report_json.hpp"

#include "models/experiment_json.hpp"

namespace parallax::sim {

nlohmann::json breakdown_json(const Breakdown& b) {
  return {{"compute", b.compute},
          {"recompute", b.recompute},
          {"bubble", b.bubble},
          {"tp_comm_exposed", b.tp_comm_exposed},
          {"pp_comm_exposed", b.pp_comm_exposed},
          {"dp_comm_exposed", b.dp_comm_exposed},
          {"optimizer", b.optimizer}};
}

nlohmann::json prediction_json(const Experiment& e, const Prediction& p) {
  using nlohmann::json;
  const auto& b = p.breakdown;
  json stages = json::array();
  for (const auto& s : p.memory) {
    stages.push_back({{"stage", s.stage},
                      {"weights", static_cast<long long>(s.weights)},
                      {"gradients", static_cast<long long>(s.gradients)},
                      {"optimizer", static_cast<long long>(s.optimizer)},
                      {"activations", static_cast<long long>(s.activations)},
                      {"other", static_cast<long long>(s.other)},
                      {"total", static_cast<long long>(s.total())}});
  }
  json j = {{"config", to_json(e)},
            {"fits", p.fits},
            {"iteration_time_s", p.iteration_time_s},
            {"tokens_per_s", p.tokens_per_s},
            {"model_tflops_per_gpu", p.model_tflops_per_gpu},
            {"mfu", p.mfu},
            {"hardware_tflops_per_gpu", p.hardware_tflops_per_gpu},
            {"hfu", p.hfu},
            {"megatron96_tflops_per_gpu", p.megatron96_tflops_per_gpu},
            {"bubble_fraction", p.breakdown.bubble / p.iteration_time_s},
            {"critical_stage", p.critical_stage},
            {"breakdown_s", breakdown_json(b)},
            {"memory_bytes",
             {{"peak", static_cast<long long>(p.peak_memory_bytes)},
              {"device", static_cast<long long>(p.device_memory_bytes)},
              {"usable", static_cast<long long>(p.usable_memory_bytes)},
              {"per_stage", stages}}}};
  if (p.interval) {
    j["iteration_time_p10_s"] = p.interval->p10_s;
    j["iteration_time_p90_s"] = p.interval->p90_s;
    j["interval_class"] = {
        {"framework", p.interval->of.framework}, {"device", p.interval->of.device}, {"rows", p.interval->of.rows}};
  }
  return j;
}

}  // namespace parallax::sim
