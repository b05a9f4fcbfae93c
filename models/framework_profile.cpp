#include "models/framework_profile.hpp"

#include "models/presets.hpp"
#include "models/toml_section.hpp"

namespace parallax {

namespace {
void read_knobs(Section& parallel, Section& training, FrameworkProfile& f) {
  for (auto [key, field] : {std::pair{"distributed_optimizer", &f.distributed_optimizer},
                            {"fsdp", &f.fsdp},
                            {"fsdp_per_tensor", &f.fsdp_per_tensor},
                            {"overlap_grad_reduce", &f.overlap_grad_reduce},
                            {"overlap_param_gather", &f.overlap_param_gather},
                            {"tp_comm_overlap", &f.tp_comm_overlap},
                            {"async_tp_allreduce", &f.async_tp_allreduce},
                            {"overlap_p2p_comm", &f.overlap_p2p_comm}})
    *field = parallel.boolean(key);
  f.gradient_accumulation_fusion = training.boolean("gradient_accumulation_fusion");
  f.grad_reduce_in_fp32 = training.boolean("grad_reduce_in_fp32");
  f.optimizer_state = training.choice<OptimizerState>(
      "optimizer_state",
      {{"fp32", OptimizerState::fp32}, {"remainders", OptimizerState::remainders}, {"bf16", OptimizerState::bf16}});
}

void read_offers(Section& s, FrameworkProfile& f) {
  using SP = FrameworkProfile::SequenceParallel;
  set_if(f.sequence_parallel,
         s.choice<SP>("sequence_parallel", {{"yes", SP::yes}, {"no", SP::no}, {"pp1", SP::without_pipeline}}));
  set_if(f.selective_recompute, s.boolean("selective_recompute"));
  set_if(f.offers_distributed_optimizer, s.boolean("distributed_optimizer"));
}

// A table of the profile read through its own Section, every key checked.
template <typename Read>
void read_table(Section& top, const std::string& name, Read read) {
  Section s(top.table(name), top.key(name));
  read(s);
  s.finish();
}
}  // namespace

std::vector<std::string> framework_names() { return preset_names(PresetKind::framework); }

FrameworkProfile framework_profile(const std::string& name, const std::string& key) {
  const toml::table t = parse_toml(preset_text(PresetKind::framework, name, key), name + ".toml");
  Section top(&t, "framework " + name);
  FrameworkProfile f;
  f.name = name;
  set_if(f.name, top.string("name"));
  set_if(f.family, top.string("family"));
  if (f.family.empty()) throw InputError("framework " + name + ": no family");
  set_if(f.flash_everywhere, top.choice<bool>("flash_attention", {{"always", true}, {"hopper", false}}));
  Section parallel(top.table("parallel"), top.key("parallel")), training(top.table("training"), top.key("training"));
  read_knobs(parallel, training, f);
  parallel.finish();
  training.finish();
  read_table(top, "calibration", [&](Section& s) {
    f.pass_overhead_us = s.number("pass_overhead_us");
    f.dp_reduce_efficiency = s.number("dp_reduce_efficiency");
    set_if(f.fitted_on, s.list<std::string>("fitted_on"));
  });
  read_table(top, "offers", [&](Section& s) { read_offers(s, f); });
  top.finish();
  return f;
}

void apply_framework(const FrameworkProfile& f, Experiment& e, const GivenKey& given) {
  auto& p = e.parallel;
  auto& t = e.training;
  t.framework = f.name;
  const auto set = [&](const char* section, const char* key, const std::optional<bool>& value, bool& field) {
    if (value && !given(section, key)) field = *value;
  };
  set("parallel", "distributed_optimizer", f.distributed_optimizer, p.distributed_optimizer);
  set("parallel", "fsdp", f.fsdp, p.fsdp);
  set("parallel", "overlap_grad_reduce", f.overlap_grad_reduce, p.overlap_grad_reduce);
  set("parallel", "overlap_param_gather", f.overlap_param_gather, p.overlap_param_gather);
  set("parallel", "tp_comm_overlap", f.tp_comm_overlap, p.tp_comm_overlap);
  set("parallel", "async_tp_allreduce", f.async_tp_allreduce, p.async_tp_allreduce);
  set("parallel", "overlap_p2p_comm", f.overlap_p2p_comm, p.overlap_p2p_comm);
  if (p.fsdp) set("parallel", "fsdp_per_tensor", f.fsdp_per_tensor, p.fsdp_per_tensor);
  set("training", "gradient_accumulation_fusion", f.gradient_accumulation_fusion, t.gradient_accumulation_fusion);
  if (f.grad_reduce_in_fp32 && t.precision != Precision::fp32 && !given("training", "grad_reduce_in_fp32"))
    t.grad_reduce_in_fp32 = *f.grad_reduce_in_fp32;
  const bool bf16_weights = t.precision == Precision::bf16 || t.precision == Precision::fp8;
  const bool state_shardable = p.distributed_optimizer && !p.fsdp && bf16_weights;
  if (f.optimizer_state && !given("training", "optimizer_state") &&
      (*f.optimizer_state == OptimizerState::fp32 || state_shardable))
    t.optimizer_state = *f.optimizer_state;
  // A CPU runs the executor's own kernels, which keep the s x s scores.
  const bool cpu = e.system.device.name.rfind("cpu", 0) == 0;
  if (!given("training", "flash_attention"))
    t.flash_attention = !cpu && (f.flash_everywhere || e.system.device.peak_tflops_fp8 > 0);
  auto& c = e.system.calibration;
  if (f.pass_overhead_us && !given("system.calibration", "pass_overhead_us")) c.pass_overhead_us = *f.pass_overhead_us;
  if (f.dp_reduce_efficiency && !given("system.calibration", "dp_reduce_efficiency"))
    c.dp_reduce_efficiency = *f.dp_reduce_efficiency;
}

}  // namespace parallax
