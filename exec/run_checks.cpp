#include "exec/run_checks.hpp"

#include <sstream>

#include "kernels/kernels.hpp"

namespace parallax::exec {

namespace {

// The optimiser's settings within the ranges PyTorch's AdamW accepts (lr, betas in [0, 1),
// weight decay) and Megatron's scheduler asserts (0 <= min_lr <= lr); adam_eps must be above 0,
// since the zero gradients of padded vocabulary rows would make 0/0; grad_clip 0 clips nothing
// and checkpoint_every 0 writes no checkpoint.
void check_hyperparameters(const TrainingConfig& t) {
  const auto require = [](bool ok, const std::string& key, double v, const char* allowed) {
    if (!ok) {
      std::ostringstream text;
      text << "training." << key << " = " << v << " " << allowed;
      throw InputError(text.str());
    }
  };
  require(t.lr >= 0, "lr", t.lr, "must be zero or positive");
  require(t.min_lr >= 0 && t.min_lr <= t.lr, "min_lr", t.min_lr, "must be between 0 and training.lr");
  require(t.warmup_steps >= 0, "warmup_steps", t.warmup_steps, "must be zero or positive");
  require(t.adam_beta1 >= 0 && t.adam_beta1 < 1, "adam_beta1", t.adam_beta1, "must be in [0, 1)");
  require(t.adam_beta2 >= 0 && t.adam_beta2 < 1, "adam_beta2", t.adam_beta2, "must be in [0, 1)");
  require(t.adam_eps > 0, "adam_eps", t.adam_eps, "must be positive");
  require(t.weight_decay >= 0, "weight_decay", t.weight_decay, "must be zero or positive");
  require(t.layerwise_lr_decay > 0 && t.layerwise_lr_decay <= 1, "layerwise_lr_decay", t.layerwise_lr_decay,
          "must be in (0, 1] (1: the same rate for every layer)");
  require(t.grad_clip >= 0, "grad_clip", t.grad_clip, "must be zero (no clipping) or positive");
  // Megatron's DynamicGradScaler asserts these; the scale is an fp32 number.
  require(t.initial_loss_scale > 0 && t.initial_loss_scale <= 3.0e38, "initial_loss_scale", t.initial_loss_scale,
          "must be positive and below fp32's largest value");
  require(t.min_loss_scale > 0 && t.min_loss_scale <= t.initial_loss_scale, "min_loss_scale", t.min_loss_scale,
          "must be positive and at most training.initial_loss_scale");
  require(t.loss_scale_window > 0, "loss_scale_window", t.loss_scale_window, "must be positive");
  require(t.hysteresis > 0, "hysteresis", t.hysteresis, "must be positive");
  require(t.checkpoint_every >= 0, "checkpoint_every", t.checkpoint_every, "must be zero (none) or positive");
}

}  // namespace

void check_runnable(const Experiment& e, int ranks) {
  const auto& p = e.parallel;
  if (p.cp > 1)
    throw InputError("parallel.cp = " + std::to_string(p.cp) + ": the executor does not run context parallelism yet");
  if (p.shard_gradients && !p.fsdp)
    throw InputError(
        "parallel.shard_gradients = true (ZeRO-2): the executor shards the optimizer state "
        "(distributed_optimizer) or everything (fsdp); ZeRO-2 is predicted, not run");
  if (!p.reshard_after_forward)
    throw InputError(
        "parallel.reshard_after_forward = false: the executor's FSDP gathers each layer's weights for its "
        "forward and again for its backward");
  if (e.model.moe())
    throw InputError("model.experts = " + std::to_string(e.model.experts) +
                     ": the executor trains dense models only (the simulator predicts MoE)");
  if (p.tp * p.pp * p.dp != ranks)
    throw InputError("parallel: tp*pp*dp = " + std::to_string(p.tp * p.pp * p.dp) + " but mpiexec started " +
                     std::to_string(ranks) + " rank(s): run under mpiexec -n " + std::to_string(p.tp * p.pp * p.dp));
  if (e.training.precision == Precision::fp8)
    throw InputError(
        "training.precision = \"fp8\": the executor trains in fp32, bf16 or fp16 (fp8 GEMMs need "
        "Transformer Engine on Hopper GPUs)");
  if (e.training.steps < 1)
    throw InputError("training.steps = " + std::to_string(e.training.steps) + " must be positive");
  if (e.training.log_every < 1) throw InputError("training.log_every must be positive");
  check_hyperparameters(e.training);
  std::string why;
  if (e.training.backend == "cuda" && kernels::cuda_devices(&why) == 0)
    throw InputError("training.backend = \"cuda\" (system " + e.system.name + "): no GPU to run on here (" + why +
                     "); set training.backend = \"cpu\" or a CPU system");
}

}  // namespace parallax::exec
