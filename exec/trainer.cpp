#include "exec/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kernels/cpu/adamw.hpp"
#include "kernels/cpu/grad_norm.hpp"

namespace parallax::exec {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

Trainer::Trainer(const Experiment& e, Communicator& comm)
    : e_(e),
      comm_(comm),
      model_(e.model, e.training.micro_batch),
      data_(e.training.data, e.model.vocab, e.model.seq_len, e.training.seed) {
  const long n = static_cast<long>(model_.params().size());
  const int dp = comm.size();
  sharded_ = e.parallel.distributed_optimizer && dp > 1;
  shard_counts_.assign(1, n);
  if (sharded_) {
    const long chunk = (n + dp - 1) / dp;
    shard_counts_.clear();
    for (int i = 0; i < dp; ++i) shard_counts_.push_back(std::max(0L, std::min(n, (i + 1) * chunk) - i * chunk));
    shard_begin_ = comm.rank() * chunk;
  }
  const long mine = shard_counts_[sharded_ ? comm.rank() : 0];
  optimizer_.m.assign(mine, 0.0f);
  optimizer_.v.assign(mine, 0.0f);
  if (!e.training.resume_from.empty()) {
    OptimizerState full;
    load_checkpoint(e.training.resume_from, model_, &full);
    optimizer_.step = full.step;
    if (!full.m.empty()) {
      std::copy_n(full.m.begin() + shard_begin_, mine, optimizer_.m.begin());
      std::copy_n(full.v.begin() + shard_begin_, mine, optimizer_.v.begin());
    }
  } else if (!e.training.init_from.empty()) {
    load_checkpoint(e.training.init_from, model_, nullptr);
  } else {
    model_.init(e.training.seed);
  }
}

double Trainer::learning_rate(int it) const {
  const auto& t = e_.training;
  if (it < t.warmup_steps) return t.lr * (it + 1) / (t.warmup_steps + 1);  // nanoGPT's warm-up
  if (t.lr_schedule == "constant") return t.lr;
  const int decay_steps = std::max(1, t.steps - t.warmup_steps);
  const double ratio = std::min(1.0, static_cast<double>(it - t.warmup_steps) / decay_steps);
  const double coeff = t.lr_schedule == "linear" ? 1.0 - ratio : 0.5 * (1.0 + std::cos(M_PI * ratio));
  return t.min_lr + coeff * (t.lr - t.min_lr);
}

StepResult Trainer::step() {
  const auto& t = e_.training;
  const auto start = std::chrono::steady_clock::now();
  StepResult r;
  const int it = optimizer_.step;
  r.step = it + 1;
  const int dp = comm_.size();
  const int per_rank = t.global_batch / dp;
  const int micro_batches = per_rank / t.micro_batch;
  const long first = static_cast<long>(it) * t.global_batch + static_cast<long>(comm_.rank()) * per_rank;
  model_.zero_grads();
  double loss = 0;
  for (int j = 0; j < micro_batches; ++j) {
    data_.sequences(first + static_cast<long>(j) * t.micro_batch, t.micro_batch, inputs_, targets_);
    auto t0 = std::chrono::steady_clock::now();
    loss += model_.forward(inputs_.data(), targets_.data());
    const double forward = seconds_since(t0);
    r.forward_s += forward;
    r.events.push_back({0, j, std::chrono::duration<double>(t0 - start).count(), forward});
    t0 = std::chrono::steady_clock::now();
    const bool overlap = dp > 1 && !sharded_ && e_.parallel.overlap_grad_reduce && j == micro_batches - 1;
    if (overlap) {
      // Megatron-style: on the last micro-batch each layer's gradients start their reduction
      // as soon as they are final, overlapping the rest of the backward.
      model_.backward(1.0f / micro_batches, [&](long offset, long size) {
        comm_.start_all_reduce_sum(model_.grads().data() + offset, size);
        comm_.progress();
      });
    } else {
      model_.backward(1.0f / micro_batches);
    }
    const double backward = seconds_since(t0);
    r.backward_s += backward;
    r.events.push_back({1, j, std::chrono::duration<double>(t0 - start).count(), backward});
  }
  auto& grads = model_.grads();
  auto& params = model_.params();
  // The block of the flat buffer this rank updates (everything without sharding).
  const long lo = shard_begin_, count = static_cast<long>(optimizer_.m.size());
  loss /= micro_batches;
  if (dp > 1) {
    // Mean over the data-parallel group of the gradients (of this rank's block with the
    // distributed optimizer: a reduce-scatter) and of the loss.
    const auto c0 = std::chrono::steady_clock::now();
    if (sharded_)
      comm_.reduce_scatter_sum(grads.data(), shard_counts_);
    else if (e_.parallel.overlap_grad_reduce)
      comm_.wait_all();  // only what outlasted the backward is left
    else
      comm_.all_reduce_sum(grads.data(), static_cast<long>(grads.size()));
    kernels::scale(grads.data() + lo, count, 1.0f / dp);
    comm_.all_reduce_sum(&loss, 1);
    loss /= dp;
    r.dp_comm_s = seconds_since(c0);
    r.events.push_back({2, -1, std::chrono::duration<double>(c0 - start).count(), r.dp_comm_s});
  }
  const auto t0 = std::chrono::steady_clock::now();
  // The global norm: of the whole replicated gradient, or summed over the ranks' blocks.
  double sq = kernels::sum_of_squares(grads.data() + lo, count);
  if (sharded_) comm_.all_reduce_sum(&sq, 1);
  r.grad_norm = std::sqrt(sq);
  if (t.grad_clip > 0 && r.grad_norm > t.grad_clip) {
    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6)
    kernels::scale(grads.data() + lo, count, static_cast<float>(t.grad_clip / (r.grad_norm + 1e-6)));
  }
  r.lr = learning_rate(it);
  optimizer_.step += 1;
  for (const auto& tensor : model_.tensors()) {
    // The part of this tensor inside the block (weight decay is per tensor).
    const long a = std::max(lo, tensor.offset), b = std::min(lo + count, tensor.offset + tensor.size);
    if (a >= b) continue;
    kernels::adamw_update(params.data() + a, grads.data() + a, optimizer_.m.data() + (a - lo),
                          optimizer_.v.data() + (a - lo), b - a, optimizer_.step, static_cast<float>(r.lr),
                          static_cast<float>(t.adam_beta1), static_cast<float>(t.adam_beta2),
                          static_cast<float>(t.adam_eps), tensor.weight_decay ? static_cast<float>(t.weight_decay) : 0.0f);
  }
  if (sharded_) comm_.all_gather(params.data(), shard_counts_);  // everyone's updated block to everyone
  r.optimizer_s = seconds_since(t0);
  r.events.push_back({3, -1, std::chrono::duration<double>(t0 - start).count(), r.optimizer_s});
  r.loss = loss;
  r.consumed_samples = static_cast<long>(optimizer_.step) * t.global_batch;
  r.iteration_s = seconds_since(start);
  return r;
}

void Trainer::save_checkpoint(const std::string& path, const std::string& config_json) {
  if (!sharded_) {
    if (comm_.rank() == 0) exec::save_checkpoint(path, model_, &optimizer_, config_json);
    return;
  }
  OptimizerState full;  // the blocks of every rank, gathered
  full.step = optimizer_.step;
  full.m.assign(model_.params().size(), 0.0f);
  full.v.assign(model_.params().size(), 0.0f);
  std::copy(optimizer_.m.begin(), optimizer_.m.end(), full.m.begin() + shard_begin_);
  std::copy(optimizer_.v.begin(), optimizer_.v.end(), full.v.begin() + shard_begin_);
  comm_.all_gather(full.m.data(), shard_counts_);
  comm_.all_gather(full.v.data(), shard_counts_);
  if (comm_.rank() == 0) exec::save_checkpoint(path, model_, &full, config_json);
}

}  // namespace parallax::exec
