#include "study/study_plans.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "models/sweep_spec.hpp"
#include "models/toml_reader.hpp"
#include "models/toml_section.hpp"
#include "sim/sweep.hpp"
#include "sim/sweep_report.hpp"

namespace parallax::study {

namespace {

namespace fs = std::filesystem;

// Paths the experiment reads, made absolute: system.file against the experiment file's
// directory, the training files (already relative to it, or given with --set) against the
// working directory.
void absolute_paths(toml::table& root, const std::string& source) {
  if (toml::table* system = root["system"].as_table())
    if (const toml::node* n = system->get("file"); n && n->is_string() && !n->as_string()->get().empty())
      system->insert_or_assign(
          "file", fs::absolute(fs::path(source).parent_path() / n->as_string()->get()).lexically_normal().string());
  resolve_training_paths(root, fs::current_path());
}

// The experiment's table with a plan's knobs: "section.key=value" overrides, written over what the
// experiment says. A plan that does not give its device count has it from its own tp*cp*pp*dp.
toml::table plan_table(const std::string& text, const std::string& source, const std::vector<std::string>& knobs) {
  toml::table root = parse_with_overrides(text, source, {});
  root.erase("study");
  root.erase("sweep");
  const bool gives_gpus = std::ranges::any_of(knobs, [](const auto& k) { return k.starts_with("system.gpus="); });
  if (toml::table* system = root["system"].as_table(); system && !gives_gpus) {
    system->erase("gpus");
    system->erase("nodes");
  }
  if (toml::table* system = root["system"].as_table(); system && gives_gpus) system->erase("nodes");
  // The sweep's plans have even stages and all layers recomputed or none.
  if (toml::table* parallel = root["parallel"].as_table()) parallel->erase("stage_layers");
  std::ostringstream staged;
  staged << root;
  root = parse_with_overrides(staged.str(), source, knobs);
  absolute_paths(root, source);
  return root;
}

StudyPlan make_plan(const std::string& text, const std::string& source, const StudySpec& spec,
                    std::vector<std::string> knobs, const Experiment& base, const std::string& where) {
  try {
    if (spec.steps > 0) knobs.push_back("training.steps=" + std::to_string(spec.steps));
    const bool gives_batch =
        std::ranges::any_of(knobs, [](const auto& k) { return k.starts_with("training.global_batch="); });
    std::ostringstream out;
    out << plan_table(text, source, knobs);
    StudyPlan plan;
    plan.config = load_experiment_text(out.str(), source, {});
    if (spec.weak_scaling && !gives_batch) {
      const long long scaled = static_cast<long long>(base.training.global_batch) * plan.config.system.gpus;
      if (scaled % base.system.gpus != 0)
        throw InputError("weak scaling: training.global_batch = " + std::to_string(base.training.global_batch) +
                         " at " + std::to_string(base.system.gpus) + " devices does not scale to a whole batch at " +
                         std::to_string(plan.config.system.gpus));
      knobs.push_back("training.global_batch=" + std::to_string(scaled / base.system.gpus));
      out.str("");
      out << plan_table(text, source, knobs);
      plan.config = load_experiment_text(out.str(), source, {});
    }
    plan.experiment = "# A plan of a Parallax study, written by `parallax study`.\n" + out.str() + "\n";
    const auto& p = plan.config.parallel;
    plan.name = plan_name(p.tp, p.pp, p.dp, plan.config.training.micro_batch, p.vpp, p.cp, p.ep);
    plan.ranks = plan.config.system.gpus;
    const int per_node = std::max(1, plan.config.system.gpus_per_node);
    plan.nodes = (plan.ranks + per_node - 1) / per_node;
    plan.tasks_per_node = std::min(plan.ranks, per_node);
    return plan;
  } catch (const InputError& e) {
    throw InputError(where + ": " + e.what());
  }
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// The knobs of a sweep's plan, as overrides.
std::vector<std::string> knobs_of(const sim::PlanRecord& r) {
  auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
  return {"system.gpus=" + std::to_string(r.gpus),
          "parallel.tp=" + std::to_string(r.tp),
          "parallel.pp=" + std::to_string(r.pp),
          "parallel.dp=" + std::to_string(r.dp),
          "parallel.vpp=" + std::to_string(r.vpp),
          "parallel.schedule=" + quoted(to_string(r.schedule)),
          "parallel.sequence_parallel=" + flag(r.sequence_parallel),
          "parallel.distributed_optimizer=" + flag(r.zero_stage >= 1),
          "parallel.shard_gradients=" + flag(r.zero_stage == 2),
          "parallel.fsdp=" + flag(r.zero_stage == 3),
          "training.micro_batch=" + std::to_string(r.micro_batch),
          "training.global_batch=" + std::to_string(r.global_batch),
          "training.recompute=" + quoted(to_string(r.recompute))};
}

}  // namespace

std::vector<StudyPlan> study_plans(const std::string& text, const std::string& source, const StudySpec& spec) {
  const Experiment base = load_experiment_text(text, source, {}, false);
  std::vector<StudyPlan> plans;
  if (spec.top_k == 0) {
    for (size_t i = 0; i < spec.plans.size(); ++i) {
      std::vector<std::string> knobs;
      for (const auto& [key, value] : spec.plans[i].keys) knobs.push_back(key + "=" + value);
      plans.push_back(make_plan(text, source, spec, knobs, base, "study.plans[" + std::to_string(i) + "]"));
    }
    return plans;
  }
  SweepSpec sweep = load_sweep_spec_text(text, source, {}, base);
  sweep.weak_scaling = spec.weak_scaling;
  const sim::SweepResult result = sim::run_sweep(base, sweep);
  for (int gpus : sweep.gpus) {
    const auto top = sim::top_plans(base, result, gpus, spec.top_k);
    if (top.empty()) throw InputError("study.top_k: no plan on " + std::to_string(gpus) + " devices fits");
    for (const auto& ranked : top) {
      StudySpec as_given = spec;  // the sweep's plan carries its scaled batch already
      as_given.weak_scaling = false;
      plans.push_back(make_plan(text, source, as_given, knobs_of(ranked.plan), base,
                                "the sweep's plan " + sim::plan_name(ranked.plan)));
    }
  }
  return plans;
}

}  // namespace parallax::study
