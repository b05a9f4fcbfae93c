#include "exec/optimizer.hpp"

#include <algorithm>
#include <cmath>

namespace parallax::exec {

Optimizer::Optimizer(const TrainingConfig& t, long n, Communicator& dp, Sharding sharding, std::vector<double> lr_scale,
                     kernels::Kernels& kernels)
    : t_(t),
      dp_(dp),
      k_(kernels),
      sharded_(sharding != Sharding::none && dp.size() > 1),
      fsdp_(sharding == Sharding::fsdp && dp.size() > 1),
      blocks_{n},
      lr_scale_(std::move(lr_scale)),
      m_(kernels.memory()),
      v_(kernels.memory()),
      master_(kernels.memory()) {
  if (sharded_) {
    blocks_ = even_blocks(n, dp.size());
    for (int i = 0; i < dp.rank(); ++i) begin_ += blocks_[i];
  }
  const long mine = blocks_[sharded_ ? dp.rank() : 0];
  m_.assign(mine, 0.0f);
  v_.assign(mine, 0.0f);
}

void Optimizer::reduce_gradients(kernels::Floats& grads, bool reduced) {
  if (dp_.size() == 1) return;
  if (sharded_)
    dp_.reduce_scatter_sum(grads.data(), blocks_);
  else if (reduced)
    dp_.wait_all();
  else
    dp_.all_reduce_sum(grads.data(), static_cast<long>(grads.size()));
  k_.scale(grads.data() + begin_, static_cast<long>(m_.size()), 1.0f / dp_.size());
}

void Optimizer::keep_master_weights(const kernels::Floats& params) {
  master_.resize(m_.size());
  k_.copy(master_.data(), params.data() + begin_, static_cast<long>(m_.size() * sizeof(float)));
}

kernels::Floats Optimizer::gather_weights(const kernels::Floats& part) const {
  long n = 0;
  for (long b : blocks_) n += b;
  kernels::Floats whole(n, 0.0f, k_.memory());
  k_.copy(whole.data() + begin_, part.data(), static_cast<long>(part.size() * sizeof(float)));
  if (sharded_) dp_.all_gather(whole.data(), blocks_);
  return whole;
}

double Optimizer::step(kernels::Floats& params, kernels::Halves& params16, kernels::Floats& grads,
                       const std::vector<ParamTensor>& tensors, double lr, Communicator& world) {
  const long lo = begin_, count = static_cast<long>(m_.size());
  auto part = [&](const ParamTensor& tensor) {  // the part of a tensor inside this rank's block
    return std::pair{std::max(lo, tensor.offset), std::min(lo + count, tensor.offset + tensor.size)};
  };
  double sq = 0;
  if (sharded_ || dp_.rank() == 0)
    for (const auto& tensor : tensors)
      if (const auto [a, b] = part(tensor); tensor.primary && a < b) sq += k_.sum_of_squares(grads.data() + a, b - a);
  world.all_reduce_sum(&sq, 1);
  const double norm = std::sqrt(sq);
  if (t_.grad_clip > 0 && norm > t_.grad_clip)  // torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6)
    k_.scale(grads.data() + lo, count, static_cast<float>(t_.grad_clip / (norm + 1e-6)));
  step_ += 1;
  const bool mixed = t_.precision != Precision::fp32;
  // The weights updated: the master weights of the block, the FSDP block of fp32 weights, or the whole buffer.
  auto weights = [&](long a) {
    return mixed ? master_.data() + (a - lo) : fsdp_ ? params.data() + (a - lo) : params.data() + a;
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto [a, b] = part(tensors[i]);
    if (a >= b) continue;
    k_.adamw_update(weights(a), grads.data() + a, m_.data() + (a - lo), v_.data() + (a - lo), b - a, step_,
                    static_cast<float>(lr * lr_scale_[i]), static_cast<float>(t_.adam_beta1),
                    static_cast<float>(t_.adam_beta2), static_cast<float>(t_.adam_eps),
                    tensors[i].weight_decay ? static_cast<float>(t_.weight_decay) : 0.0f);
  }
  if (!mixed) {
    if (sharded_ && !fsdp_) dp_.all_gather(params.data(), blocks_);  // everyone's updated block to everyone
    return norm;
  }
  k_.cast_to_16bit(params16.data() + (fsdp_ ? 0 : lo), master_.data(), count, t_.precision);
  if (sharded_ && !fsdp_) dp_.all_gather(params16.data(), blocks_, dtype_of(t_.precision));
  return norm;
}

// The checkpoint's state is host memory: the moments are read after synchronize(), and the
// DP group gathers them there.
OptimizerState Optimizer::gather() const {
  k_.synchronize();
  OptimizerState whole;
  whole.step = step_;
  long n = 0;
  for (long b : blocks_) n += b;
  whole.m.assign(n, 0.0f);
  whole.v.assign(n, 0.0f);
  std::copy(m_.begin(), m_.end(), whole.m.begin() + begin_);
  std::copy(v_.begin(), v_.end(), whole.v.begin() + begin_);
  if (!sharded_) return whole;
  dp_.all_gather(whole.m.data(), blocks_);
  dp_.all_gather(whole.v.data(), blocks_);
  return whole;
}

void Optimizer::load(const OptimizerState& whole) {
  step_ = whole.step;
  if (whole.m.empty()) return;
  k_.synchronize();
  std::copy_n(whole.m.begin() + begin_, m_.size(), m_.begin());
  std::copy_n(whole.v.begin() + begin_, v_.size(), v_.begin());
}

}  // namespace parallax::exec
