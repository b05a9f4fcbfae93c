// FLOP counts of one training iteration (whole job), as the contract defines them.
#pragma once
#include "models/experiment.hpp"

namespace parallax::sim {

// Forward FLOPs of one token through one transformer layer, no causal halving:
// 2*(QKV + out-proj + MLP weights) + 4*s*h for QK^T and attention-over-V.
double layer_forward_flops_per_token(const ModelConfig& m);
// Forward FLOPs of the attention core alone (QK^T and AV) per token and layer: 4*s*h.
double attention_core_flops_per_token(const ModelConfig& m);

// Model FLOPs (MFU): 3 x forward, no recomputation. For GPT with ffn = 4h this is
// Korthikanti et al. 2022 eq. (7): 72*B*s*L*h^2*(1 + s/(6h) + V/(12*L*h)).
double model_flops(const Experiment& e);
// Hardware FLOPs (HFU): model FLOPs plus what recomputation executes again.
double hardware_flops(const Experiment& e);
// Rates of an iteration that took `iteration_s` seconds, predicted or measured: tokens per
// second (whole job), model TFLOP/s per device, and MFU against the device's peak at the run's
// precision.
struct Throughput {
  double tokens_per_s = 0, model_tflops_per_gpu = 0, mfu = 0;
};
Throughput throughput(const Experiment& e, double iteration_s);
// Narayanan et al. SC21 eq. (3): 96*B*s*L*h^2*(1 + s/(6h) + V/(16*L*h)), a full-recompute
// hardware count used by SC21 tables, Megatron READMEs of 2020-21 and BLOOM logs.
double megatron96_flops(const Experiment& e);

}  // namespace parallax::sim
