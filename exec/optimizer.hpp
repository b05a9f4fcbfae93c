// The optimizer of a rank: torch's AdamW (decoupled weight decay on 2-D weights only, as
// nanoGPT; layer-wise learning-rate multipliers) after global-norm clipping, over the rank's
// flat parameter buffer. Its moments cover the parameters this rank updates: all of them, or
// with the distributed optimizer (ZeRO-1, Rajbhandari et al. 2020) the block of the buffer
// that is this DP rank's when the buffer is split evenly over the DP group, the gradients
// reduce-scattered into it and the updated weights all-gathered from it. Under mixed precision
// (bf16, fp16) it keeps the fp32 master weights of those parameters, and the step writes their
// 16-bit cast into the model's weights before the all-gather (Megatron's distributed optimizer
// gathers the 16-bit weights).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "exec/checkpoint.hpp"
#include "exec/communicator.hpp"
#include "exec/shard.hpp"
#include "kernels/kernels.hpp"
#include "models/experiment.hpp"

namespace parallax::exec {

// How the parameters are split over the DP group: not at all; the optimizer state only (ZeRO-1,
// the distributed optimizer); or the weights too (FSDP, ZeRO-3: the model keeps its block only
// and gathers a layer's weights when it needs them, so the updated blocks are not all-gathered).
enum class Sharding { none, optimizer, fsdp };

class Optimizer {
 public:
  // `parameters`: floats in the rank's buffer; `lr_scale`: a multiplier per tensor.
  Optimizer(const TrainingConfig& t, long parameters, Communicator& dp, Sharding sharding, std::vector<double> lr_scale,
            kernels::Kernels& kernels);

  int steps() const { return step_; }
  bool sharded() const { return sharded_; }
  // fp16: the gradients of the parameters this rank updates multiplied by inv_scale; false when
  // any of them is inf or NaN.
  bool unscale_gradients(kernels::Floats& grads, float inv_scale) {
    return k_.unscale_and_check(grads.data() + begin_, static_cast<long>(m_.size()), inv_scale);
  }
  // Sums the gradients over the DP group into what this rank updates (its block, or all of
  // them) and averages them: a reduce-scatter, or an all-reduce unless `reduced` says the
  // backward has already started it (then what is left is waited for).
  void reduce_gradients(kernels::Floats& grads, bool reduced);
  // Clips by the global norm (each parameter counted once: primary tensors, on DP rank 0 unless
  // sharded; summed over `world`), then one AdamW step at rate `lr` on this rank's part, then
  // the all-gather of the updated blocks: of `params`, or under mixed precision of `params16`
  // (the master weights updated and cast). Under FSDP both hold this rank's block only and
  // nothing is gathered. Returns the norm before clipping.
  double step(kernels::Floats& params, kernels::Halves& params16, kernels::Floats& grads,
              const std::vector<ParamTensor>& tensors, double lr, Communicator& world);
  // Mixed precision: the master weights of this rank's part, from the whole fp32 buffer.
  void keep_master_weights(const kernels::Floats& params);
  const kernels::Floats& master_weights() const { return master_; }
  // The whole buffer from each DP rank's part of it (collective over DP when sharded).
  kernels::Floats gather_weights(const kernels::Floats& part) const;
  // The whole buffer's state (the blocks gathered over DP when sharded); collective over DP.
  OptimizerState gather() const;
  // This rank's part of a whole buffer's state (from a checkpoint).
  void load(const OptimizerState& whole);
  double state_bytes() const { return static_cast<double>(m_.size() + v_.size() + master_.size()) * sizeof(float); }

 private:
  const TrainingConfig& t_;
  Communicator& dp_;
  kernels::Kernels& k_;
  bool sharded_ = false, fsdp_ = false;
  std::vector<long> blocks_;  // floats of each DP rank's block (one block of everything unsharded)
  long begin_ = 0;            // this rank's block in the buffer
  std::vector<double> lr_scale_;
  int step_ = 0;
  kernels::Floats m_, v_;   // moments of [begin_, begin_ + count)
  kernels::Floats master_;  // mixed precision: the fp32 weights of [begin_, begin_ + count)
};

}  // namespace parallax::exec
