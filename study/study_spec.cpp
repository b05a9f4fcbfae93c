#include "study/study_spec.hpp"

#include <regex>

#include "models/toml_section.hpp"

namespace parallax::study {

namespace {

// Where each knob of a plan lives in the experiment file.
const std::vector<std::pair<std::string, std::string>>& knob_keys() {
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"gpus", "system.gpus"},
      {"tp", "parallel.tp"},
      {"pp", "parallel.pp"},
      {"dp", "parallel.dp"},
      {"cp", "parallel.cp"},
      {"ep", "parallel.ep"},
      {"vpp", "parallel.vpp"},
      {"schedule", "parallel.schedule"},
      {"sequence_parallel", "parallel.sequence_parallel"},
      {"distributed_optimizer", "parallel.distributed_optimizer"},
      {"micro_batch", "training.micro_batch"},
      {"global_batch", "training.global_batch"},
      {"recompute", "training.recompute"}};
  return keys;
}

std::string toml_text(const toml::node& value) {
  std::ostringstream out;
  value.visit([&](auto&& v) {
    if constexpr (toml::is_string<decltype(v)>)
      out << '"' << v.get() << '"';
    else if constexpr (toml::is_boolean<decltype(v)>)
      out << (v.get() ? "true" : "false");
    else if constexpr (toml::is_integer<decltype(v)>)
      out << v.get();
    else
      out << '?';
  });
  return out.str();
}

PlanKnobs knobs_of_table(const toml::table& t, const std::string& where) {
  Section s(&t, where);
  PlanKnobs plan;
  for (const auto& [name, key] : knob_keys()) {
    const toml::node* n = s.node(name);
    if (!n) continue;
    if (!n->is_integer() && !n->is_string() && !n->is_boolean())
      throw InputError(s.key(name) + " must be an integer, a string or true/false");
    plan.keys.emplace_back(key, toml_text(*n));
  }
  s.finish();
  if (plan.keys.empty()) throw InputError(where + " sets no knob (tp, pp, dp, micro_batch, ...)");
  return plan;
}

// "t2p4d1m1v2" (parallax::plan_name): tp, pp, dp, micro-batch, then vpp, cp and ep if not 1.
PlanKnobs knobs_of_name(const std::string& name, const std::string& where) {
  static const std::regex form(
      R"(t(\d{1,6})p(\d{1,6})d(\d{1,6})m(\d{1,6})(?:v(\d{1,6}))?(?:c(\d{1,6}))?(?:e(\d{1,6}))?)");
  std::smatch m;
  if (!std::regex_match(name, m, form))
    throw InputError(where + " = \"" + name + "\" is not a plan name such as \"t2p1d4m2\" (or give a table of knobs)");
  PlanKnobs plan;
  const char* keys[] = {"parallel.tp",  "parallel.pp", "parallel.dp", "training.micro_batch",
                        "parallel.vpp", "parallel.cp", "parallel.ep"};
  for (int i = 0; i < 7; ++i)
    if (m[i + 1].matched) plan.keys.emplace_back(keys[i], m[i + 1].str());
  return plan;
}

SlurmSettings read_slurm(Section& s) {
  SlurmSettings slurm;
  set_if(slurm.partition, s.string("partition"));
  set_if(slurm.account, s.string("account"));
  set_if(slurm.time, s.string("time"));
  if (auto g = s.int32("gpus_per_node")) {
    if (*g < 1) throw InputError(s.key("gpus_per_node") + " must be a positive integer");
    slurm.gpus_per_node = *g;
  }
  if (auto lines = s.list<std::string>("extra_sbatch")) slurm.extra_sbatch = *lines;
  for (const auto& line : slurm.extra_sbatch)
    if (line.find('\n') != std::string::npos || line.find('\r') != std::string::npos)
      throw InputError(s.key("extra_sbatch") + " holds a line break: give one #SBATCH option a string");
  for (const auto& text : {slurm.partition, slurm.account, slurm.time})
    if (text.find_first_of("\n\r") != std::string::npos) throw InputError("study.slurm: a value holds a line break");
  set_if(slurm.launch, s.choice<std::string>("launch", {{"srun", "srun"}, {"mpiexec", "mpiexec"}}));
  s.finish();
  return slurm;
}

}  // namespace

StudySpec load_study_spec_text(const std::string& text, const std::string& source) {
  const toml::table root = parse_toml(text, source);
  Section top(&root, "");
  const toml::table* table = top.table("study");
  if (!table) throw InputError(source + ": no [study] section (plans or top_k, steps, launcher)");
  Section s(table, "study");
  StudySpec spec;
  if (const toml::node* plans = s.node("plans")) {
    const toml::array* list = plans->as_array();
    if (!list || list->empty()) throw InputError("study.plans must be a non-empty list of plans");
    if (list->size() > 256) throw InputError("study.plans lists more than 256 plans");
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string where = "study.plans[" + std::to_string(i) + "]";
      const toml::node& item = *list->get(i);
      if (const auto* t = item.as_table())
        spec.plans.push_back(knobs_of_table(*t, where));
      else if (const auto* name = item.as_string())
        spec.plans.push_back(knobs_of_name(name->get(), where));
      else
        throw InputError(where + " must be a table of knobs or a plan name");
    }
  }
  if (auto k = s.int32("top_k")) {
    if (*k < 1 || *k > 64) throw InputError("study.top_k = " + std::to_string(*k) + " must be 1 to 64");
    spec.top_k = *k;
  }
  if (spec.plans.empty() == (spec.top_k == 0))
    throw InputError("study: give either plans = [...] or top_k (the sweep's best plans per device count)");
  set_if(spec.weak_scaling, s.choice<bool>("scaling", {{"strong", false}, {"weak", true}}));
  if (auto n = s.int32("steps")) {
    if (*n < 1) throw InputError("study.steps must be a positive integer");
    spec.steps = *n;
  }
  if (auto n = s.int32("repeats")) {
    if (*n < 1 || *n > 100) throw InputError("study.repeats must be 1 to 100");
    spec.repeats = *n;
  }
  set_if(spec.launcher, s.choice<std::string>("launcher", {{"local", "local"}, {"slurm", "slurm"}}));
  Section slurm(s.table("slurm"), "study.slurm");
  spec.slurm = read_slurm(slurm);
  s.finish();
  return spec;
}

}  // namespace parallax::study
