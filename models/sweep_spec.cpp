#include "models/sweep_spec.hpp"

#include <algorithm>

#include "models/toml_section.hpp"

namespace parallax {

namespace {

// A list of candidates holds each value once (a repeated value adds no plan, only work) and at
// most kMostCandidates of them, so that the sweep's space stays bounded.
constexpr size_t kMostCandidates = 256;

template <typename T>
void add_candidate(std::vector<T>& out, const T& v, const Section& s, const std::string& key) {
  if (std::find(out.begin(), out.end(), v) != out.end()) return;
  if (out.size() == kMostCandidates)
    throw InputError(s.key(key) + " lists more than " + std::to_string(kMostCandidates) + " distinct values");
  out.push_back(v);
}

std::vector<int> ints(Section& s, const std::string& key, long long minimum) {
  std::vector<int> out;
  const auto values = s.list<long long>(key);
  for (long long v : *values) {
    if (v < minimum || v > 1000000000LL)
      throw InputError(s.key(key) + " = " + std::to_string(v) + " is not allowed (values from " +
                       std::to_string(minimum) + ")");
    add_candidate(out, static_cast<int>(v), s, key);
  }
  return out;
}

template <typename E>
std::vector<E> choices(Section& s, const std::string& key, std::initializer_list<std::pair<const char*, E>> options) {
  std::vector<E> out;
  const auto names = s.list<std::string>(key);
  for (const auto& name : *names) {
    bool found = false;
    std::string allowed;
    for (const auto& [n, value] : options) {
      if (name == n) {
        add_candidate(out, value, s, key);
        found = true;
      }
      allowed += (allowed.empty() ? "\"" : ", \"") + std::string(n) + "\"";
    }
    if (!found) throw InputError(s.key(key) + " = \"" + name + "\" is not allowed (allowed: " + allowed + ")");
  }
  return out;
}

void check_each(const std::optional<std::vector<int>>& values, const std::string& key, int divides,
                const std::string& what) {
  if (!values) return;
  for (int v : *values)
    if (divides % v != 0)
      throw InputError("sweep." + key + " = " + std::to_string(v) + " does not divide " + what + " = " +
                       std::to_string(divides) + ": no plan can use it");
}

}  // namespace

SweepSpec load_sweep_spec_text(const std::string& text, const std::string& source,
                               const std::vector<std::string>& overrides, const Experiment& base) {
  const toml::table root = parse_with_overrides(text, source, overrides);
  Section top(&root, "");
  Section s(top.table("sweep"), "sweep");
  SweepSpec spec;
  if (s.node("gpus")) spec.gpus = ints(s, "gpus", 1);
  if (s.node("tp")) spec.tp = ints(s, "tp", 1);
  if (s.node("pp")) spec.pp = ints(s, "pp", 1);
  if (s.node("dp")) spec.dp = ints(s, "dp", 1);
  if (s.node("micro_batch")) spec.micro_batch = ints(s, "micro_batch", 1);
  if (s.node("vpp")) spec.vpp = ints(s, "vpp", 1);
  if (s.node("global_batch")) spec.global_batch = ints(s, "global_batch", 1);
  if (s.node("schedule"))
    spec.schedule = choices<Schedule>(
        s, "schedule",
        {{"gpipe", Schedule::gpipe}, {"1f1b", Schedule::one_f_one_b}, {"interleaved-1f1b", Schedule::interleaved}});
  if (s.node("recompute"))
    spec.recompute = choices<Recompute>(
        s, "recompute", {{"none", Recompute::none}, {"selective", Recompute::selective}, {"full", Recompute::full}});
  for (auto [key, field] : {std::pair{"sequence_parallel", &spec.sequence_parallel},
                            {"distributed_optimizer", &spec.distributed_optimizer}})
    if (s.node(key)) {
      const auto values = s.list<bool>(key);
      std::vector<bool> distinct;
      for (bool v : *values) add_candidate(distinct, v, s, key);
      *field = distinct;
    }
  if (s.node("zero_stage")) {
    spec.zero_stage = ints(s, "zero_stage", 0);
    for (int z : *spec.zero_stage)
      if (z > 3) throw InputError("sweep.zero_stage = " + std::to_string(z) + " must be 0, 1, 2 or 3");
    if (spec.distributed_optimizer)
      throw InputError(
          "sweep.zero_stage and sweep.distributed_optimizer are both listed: give one (1 is the "
          "distributed optimizer)");
  }
  if (auto b = s.boolean("tp_across_nodes")) spec.tp_across_nodes = *b;
  if (auto b = s.boolean("weak_scaling")) spec.weak_scaling = *b;
  s.finish();

  // Values that no plan of this model can use.
  check_each(spec.tp, "tp", base.model.heads, "model.heads");
  check_each(spec.pp, "pp", base.model.layers, "model.layers");
  if (!spec.global_batch) {
    check_each(spec.micro_batch, "micro_batch", base.training.global_batch, "training.global_batch");
    check_each(spec.dp, "dp", base.training.global_batch, "training.global_batch");
  }
  if (spec.tp && !spec.tp_across_nodes)
    for (int tp : *spec.tp)
      if (tp > base.system.gpus_per_node)
        throw InputError("sweep.tp = " + std::to_string(tp) + " spans nodes of " +
                         std::to_string(base.system.gpus_per_node) +
                         " devices (set sweep.tp_across_nodes = true to allow)");
  if (spec.global_batch && spec.weak_scaling)
    throw InputError("sweep.global_batch and sweep.weak_scaling: give one (weak scaling grows training.global_batch)");
  if (spec.global_batch && spec.micro_batch)
    for (int mb : *spec.micro_batch)
      if (std::none_of(spec.global_batch->begin(), spec.global_batch->end(), [&](int g) { return g % mb == 0; }))
        throw InputError("sweep.micro_batch = " + std::to_string(mb) +
                         " divides none of sweep.global_batch: no plan can use it");
  if (spec.gpus.empty()) spec.gpus = {base.system.gpus};
  if (spec.weak_scaling)
    for (int g : spec.gpus)
      if (static_cast<long long>(base.training.global_batch) * g % base.system.gpus != 0)
        throw InputError("sweep.weak_scaling: training.global_batch = " + std::to_string(base.training.global_batch) +
                         " at " + std::to_string(base.system.gpus) + " devices does not scale to a whole batch at " +
                         std::to_string(g) + " devices");
  return spec;
}

SweepSpec load_sweep_spec_file(const std::string& path, const std::vector<std::string>& overrides,
                               const Experiment& base) {
  return load_sweep_spec_text(read_text_file(path, "an experiment file"), path, overrides, base);
}

}  // namespace parallax
