// Framework profiles: how a training framework runs a plan (its overlaps, fused attention,
// gradient habits), the constants fitted to it, and what it offers where a published run leaves
// a knob blank. Data: models/presets/frameworks/<name>.toml, embedded at build time; an
// experiment names one as training.framework (default "megatron-core").
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "models/experiment.hpp"

namespace parallax {

struct FrameworkProfile {
  std::string name;
  std::string family;            // whose validation residuals give the interval (megatron-core, nemo, ...)
  bool flash_everywhere = true;  // fused attention on every device, or only where FP8 tensor cores are (Hopper on)
  // Knobs the framework sets unless the experiment does ([parallel] and [training] of the file).
  std::optional<bool> distributed_optimizer, fsdp, fsdp_per_tensor, overlap_grad_reduce, overlap_param_gather,
      tp_comm_overlap, async_tp_allreduce, overlap_p2p_comm;
  std::optional<bool> gradient_accumulation_fusion, grad_reduce_in_fp32;
  std::optional<OptimizerState> optimizer_state;
  // Fitted constants of the framework ([calibration]), with the data they were fitted on.
  std::optional<double> pass_overhead_us, dp_reduce_efficiency;
  std::vector<std::string> fitted_on;
  // What it can run, for a knob a published run leaves blank ([offers]).
  enum class SequenceParallel { yes, no, without_pipeline } sequence_parallel = SequenceParallel::yes;
  bool selective_recompute = true;  // false: recomputation of whole layers only
  bool offers_distributed_optimizer = true;
};

// The profile `name` (InputError naming `key` and the profiles there are).
FrameworkProfile framework_profile(const std::string& name, const std::string& key = "training.framework");
std::vector<std::string> framework_names();

// Whether the experiment itself sets `section`.`key` ("parallel", "overlap_p2p_comm").
using GivenKey = std::function<bool(const std::string& section, const std::string& key)>;

// Sets on `e` what the profile says and the experiment does not: its knobs (fsdp_per_tensor only
// under FSDP, a 16-bit gradient reduction only in 16-bit training, 16-bit remainders only with
// the distributed optimizer over bf16 weights without FSDP), fused attention by device, its
// calibration constants; and names it in e.training.framework. A CPU device keeps the scores (the
// executor's kernels have no fused attention).
void apply_framework(const FrameworkProfile& f, Experiment& e, const GivenKey& given);

}  // namespace parallax
