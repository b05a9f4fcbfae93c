#include "exec/trainer.hpp"

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
  optimizer_.m.assign(model_.params().size(), 0.0f);
  optimizer_.v.assign(model_.params().size(), 0.0f);
  if (!e.training.resume_from.empty()) {
    load_checkpoint(e.training.resume_from, model_, &optimizer_);
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
    const bool overlap = dp > 1 && e_.parallel.overlap_grad_reduce && j == micro_batches - 1;
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
  loss /= micro_batches;
  if (dp > 1) {
    // Mean over the data-parallel group of the gradients and the loss.
    const auto c0 = std::chrono::steady_clock::now();
    if (e_.parallel.overlap_grad_reduce)
      comm_.wait_all();  // only what outlasted the backward is left
    else
      comm_.all_reduce_sum(grads.data(), static_cast<long>(grads.size()));
    kernels::scale(grads.data(), static_cast<long>(grads.size()), 1.0f / dp);
    comm_.all_reduce_sum(&loss, 1);
    loss /= dp;
    r.dp_comm_s = seconds_since(c0);
    r.events.push_back({2, -1, std::chrono::duration<double>(c0 - start).count(), r.dp_comm_s});
  }
  const auto t0 = std::chrono::steady_clock::now();
  // Every rank holds the whole (replicated) gradient: its norm needs no communication.
  r.grad_norm = std::sqrt(kernels::sum_of_squares(grads.data(), static_cast<long>(grads.size())));
  if (t.grad_clip > 0 && r.grad_norm > t.grad_clip) {
    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6)
    kernels::scale(grads.data(), static_cast<long>(grads.size()), static_cast<float>(t.grad_clip / (r.grad_norm + 1e-6)));
  }
  r.lr = learning_rate(it);
  optimizer_.step += 1;
  for (const auto& tensor : model_.tensors())
    kernels::adamw_update(params.data() + tensor.offset, grads.data() + tensor.offset, optimizer_.m.data() + tensor.offset,
                          optimizer_.v.data() + tensor.offset, tensor.size, optimizer_.step, static_cast<float>(r.lr),
                          static_cast<float>(t.adam_beta1), static_cast<float>(t.adam_beta2),
                          static_cast<float>(t.adam_eps), tensor.weight_decay ? static_cast<float>(t.weight_decay) : 0.0f);
  r.optimizer_s = seconds_since(t0);
  r.events.push_back({3, -1, std::chrono::duration<double>(t0 - start).count(), r.optimizer_s});
  r.loss = loss;
  r.consumed_samples = static_cast<long>(optimizer_.step) * t.global_batch;
  r.iteration_s = seconds_since(start);
  return r;
}

void Trainer::save_checkpoint(const std::string& path, const std::string& config_json) const {
  exec::save_checkpoint(path, model_, &optimizer_, config_json);
}

}  // namespace parallax::exec
