#include "exec/trainer.hpp"

#include <algorithm>
#include <cmath>

#include "exec/lr_schedule.hpp"
#include "exec/transfer_groups.hpp"

namespace parallax::exec {

namespace {
using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

Sharding sharding(const ParallelConfig& p) {
  return p.fsdp ? Sharding::fsdp : p.distributed_optimizer ? Sharding::optimizer : Sharding::none;
}

Layout layout_of(const Experiment& e, const Groups& g) {
  const auto& p = e.parallel;
  if (g.tp.size() != p.tp || g.pp.size() != p.pp || g.dp.size() != p.dp)
    throw std::logic_error("Trainer: the groups do not match parallel.tp/pp/dp");
  return Layout{.tp = p.tp,
                .tp_rank = g.tp.rank(),
                .pp = p.pp,
                .pp_rank = g.pp.rank(),
                .vpp = p.vpp,
                .dp_rank = g.dp.rank(),
                .stage_layers = p.stage_layers,
                .sequence_parallel = p.sequence_parallel,
                .fsdp = p.fsdp,
                .dp = p.dp};
}

// The learning-rate multiplier of a parameter under layer-wise decay d (L layers): layer l
// (1-based) d^(L-l), the embeddings d^L, the final LayerNorm 1. GPT-2's tied embedding is the
// embedding here, not the head.
double layerwise_lr_scale(const std::string& name, int layers, double d) {
  const std::string layer = "transformer.h.";
  if (name.rfind(layer, 0) == 0) return std::pow(d, layers - (std::stoi(name.substr(layer.size())) + 1));
  if (name.rfind("transformer.ln_f.", 0) == 0) return 1.0;
  return std::pow(d, layers);
}

std::vector<double> lr_scales(const std::vector<ParamTensor>& tensors, int layers, double d) {
  std::vector<double> out;
  for (const auto& t : tensors) out.push_back(layerwise_lr_scale(t.name, layers, d));
  return out;
}

}  // namespace

const char* to_string(StepResult::Kind k) {
  switch (k) {
    case StepResult::forward:
      return "forward";
    case StepResult::backward:
      return "backward";
    case StepResult::recv:
      return "recv";
    case StepResult::dp_comm:
      return "dp_comm";
    case StepResult::optimizer:
      return "optimizer";
  }
  return "?";
}

Trainer::Trainer(const sim::ResolvedPlan& plan, Groups groups, kernels::Kernels& kernels)
    : e_(plan.experiment),
      groups_(groups),
      model_(e_.model, e_.training.micro_batch, kernels, layout_of(e_, groups), &groups.tp,
             recompute_policy(e_.training), e_.training.precision, &groups.dp),
      data_(e_.training.data, e_.model.vocab, e_.model.seq_len, e_.training.seed),
      schedule_(plan.schedule),
      optimizer_(e_.training, static_cast<long>(model_.params().size()), groups.dp, sharding(e_.parallel),
                 lr_scales(model_.tensors(), e_.model.layers, e_.training.layerwise_lr_decay), kernels),
      overlap_(groups.dp.size() > 1 && !optimizer_.sharded() && e_.parallel.overlap_grad_reduce),
      scaler_(loss_scale_settings(e_.training)) {
  model_.seed_dropout(e_.training.seed);
  if (!e_.training.resume_from.empty()) {
    OptimizerState whole;
    load_checkpoint(e_.training.resume_from, model_, &whole);
    optimizer_.load(whole);
  } else if (!e_.training.init_from.empty()) {
    load_checkpoint(e_.training.init_from, model_, nullptr);
  } else {
    model_.init(e_.training.seed);
  }
  if (e_.training.precision != Precision::fp32) {  // the optimizer keeps the fp32 weights (its part of them)
    optimizer_.keep_master_weights(model_.params());
    model_.release_fp32_weights();
  }
  model_.shard_weights();
  iterations_ = optimizer_.steps();
}

// This rank's action list: forwards take their input from the previous virtual stage (or the
// tokens), backwards their output gradient from the next one (or the loss); sends return at once.
void Trainer::run_schedule(StepResult& r, double& loss, Clock::time_point start) {
  const auto& t = e_.training;
  Communicator& pp = groups_.pp;
  const int m = schedule_.microbatches;
  const auto& steps = schedule_.steps[pp.rank()];
  const long n = model_.activation_size();
  const long first = static_cast<long>(iterations_) * t.global_batch +
                     static_cast<long>(groups_.dp.rank()) * (t.global_batch / groups_.dp.size());
  // On each chunk's last backward, its gradients start their DP reduction as they become final
  // (Megatron's overlap), while the rest of the backward runs.
  std::vector<size_t> last_backward(model_.chunks().size(), 0);
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].op == sim::Op::backward) last_backward[steps[i].chunk] = i;
  auto reduce_now = [&](long offset, long size) {
    groups_.dp.start_all_reduce_sum(model_.grads().data() + offset, size);
    groups_.dp.progress();
  };
  const Dtype dtype = model_.message_dtype();
  const long bytes = n * bytes_per_element(dtype);
  kernels::Kernels& k = model_.kernels();
  kernels::Bytes received(pp.size() > 1 ? bytes : 0, std::byte{0}, k.memory());
  const void* input = nullptr;  // what the last receive brought, for the pass after it
  size_t sent = 0;  // the buffers of sends_ in use this step (kept from step to step: no allocation per message)
  // A pass from t0 to t1: its compute (TP collectives apart) into `phase`, and its event.
  // A device backend's pass has run when its kernels have: the pass's time ends there.
  auto account = [&](StepResult::Kind kind, const sim::Step& st, Clock::time_point t0, Clock::time_point t1,
                     double& phase) {
    const double tp = model_.take_tp_comm_seconds();
    phase += seconds(t0, t1) - tp;
    r.tp_comm_s += tp;
    r.events.push_back({kind, st.chunk, st.microbatch, seconds(start, t0), seconds(t0, t1)});
  };
  // Consecutive transfers are posted as one group (NCCL's; a no-op on MPI).
  std::vector<bool> group_starts(steps.size() + 1, false), group_ends(steps.size() + 1, false);
  for (const auto& [first, last] : transfer_groups(steps)) group_starts[first] = group_ends[last] = true;
  for (size_t i = 0; i < steps.size(); ++i) {
    const sim::Step& st = steps[i];
    const Chunk& c = model_.chunks()[st.chunk];
    const int mb = st.microbatch;
    const auto t0 = Clock::now();
    if (group_starts[i]) pp.start_group();
    switch (st.op) {
      case sim::Op::recv:  // blocks until the neighbour's message is here
        pp.recv(received.data(), n, dtype, st.peer, st.tag);
        r.pp_comm_s += seconds(t0, Clock::now());
        r.events.push_back({StepResult::recv, st.chunk, mb, seconds(start, t0), seconds(t0, Clock::now())});
        input = received.data();
        break;
      case sim::Op::send: {  // returns at once; the copy stays until wait_sends
        const auto* data = static_cast<const std::byte*>(
            st.direction == sim::Pass::forward ? model_.output(st.chunk, mb) : model_.input_grad());
        if (sent == sends_.size()) sends_.emplace_back(bytes, std::byte{0}, k.memory());
        k.copy(sends_[sent].data(), data, bytes);
        pp.send(sends_[sent++].data(), n, dtype, st.peer, st.tag);
        break;
      }
      case sim::Op::forward:
        if (c.embedding || c.head)
          data_.sequences(first + static_cast<long>(mb) * t.micro_batch, t.micro_batch, inputs_, targets_);
        loss += model_.forward(st.chunk, mb, input, inputs_.data(), targets_.data(),
                               first + static_cast<long>(mb) * t.micro_batch);
        k.synchronize();
        account(StepResult::forward, st, t0, Clock::now(), r.forward_s);
        input = nullptr;
        break;
      case sim::Op::backward:
        if (overlap_ && i == last_backward[st.chunk])
          model_.backward(st.chunk, mb, input, loss_scale_ / m, reduce_now, [&] { groups_.dp.progress(); });
        else
          model_.backward(st.chunk, mb, input, loss_scale_ / m);
        k.synchronize();
        account(StepResult::backward, st, t0, Clock::now(), r.backward_s);
        input = nullptr;
        break;
    }
    if (group_ends[i + 1]) pp.end_group();
  }
  model_.fold_tied_gradient();
  const double held = static_cast<double>(received.size()) + static_cast<double>(sent) * static_cast<double>(bytes);
  message_bytes_peak_ = std::max(message_bytes_peak_, held);
  const auto t0 = Clock::now();
  pp.wait_sends();
  r.pp_comm_s += seconds(t0, Clock::now());
}

// Sums the gradients over the DP group (this rank's block with the distributed optimizer) and
// the tied embedding's two copies over the pipeline's end stages; averages the loss.
void Trainer::reduce_gradients(StepResult& r, double& loss, Clock::time_point start) {
  Communicator &dp = groups_.dp, &pp = groups_.pp;
  auto& grads = model_.grads();
  const auto c0 = Clock::now();
  auto tied_embedding = [&] {  // the two copies' gradients summed (a + b == b + a: both agree)
    if (pp.size() == 1 || !model_.holds("transformer.wte.weight")) return;
    const ParamTensor& w = model_.tensor("transformer.wte.weight");
    groups_.embedding.all_reduce_sum(grads.data() + w.offset, w.size);
  };
  if (!overlap_) tied_embedding();
  optimizer_.reduce_gradients(grads, overlap_);  // with overlap, only what outlasted the backward is left
  if (overlap_) tied_embedding();
  // The loss: from the last stage (0 elsewhere), averaged over the micro-batches and DP ranks.
  pp.all_reduce_sum(&loss, 1);
  dp.all_reduce_sum(&loss, 1);
  loss /= schedule_.microbatches * dp.size();
  r.dp_comm_s = seconds(c0, Clock::now());
  if (dp.size() > 1 || pp.size() > 1) r.events.push_back({StepResult::dp_comm, 0, -1, seconds(start, c0), r.dp_comm_s});
}

StepResult Trainer::step() {
  const auto& t = e_.training;
  const auto start = Clock::now();
  StepResult r;
  r.step = iterations_ + 1;
  if (t.precision == Precision::fp16) loss_scale_ = scaler_.scale();
  model_.zero_grads();
  double loss = 0;
  run_schedule(r, loss, start);
  if (!overlap_) {  // else each backward summed what it reported ready
    model_.sum_sequence_parallel_grads();
    r.tp_comm_s += model_.take_tp_comm_seconds();
  }
  reduce_gradients(r, loss, start);

  const auto t0 = Clock::now();
  r.lr = learning_rate(t, optimizer_.steps());
  r.loss_scale = loss_scale_;
  if (t.precision == Precision::fp16 && !unscale_gradients()) {
    ++skipped_;  // Megatron's skipped iteration: no update, the schedule does not advance
    r.grad_norm = std::nan("");
  } else {
    r.grad_norm =
        optimizer_.step(model_.params(), model_.weights16(), model_.grads(), model_.tensors(), r.lr, groups_.world);
  }
  r.skipped_iterations = skipped_;
  model_.kernels().synchronize();  // the step ends when its kernels have run
  r.optimizer_s = seconds(t0, Clock::now());
  r.events.push_back({StepResult::optimizer, 0, -1, seconds(start, t0), r.optimizer_s});
  r.loss = loss;
  r.consumed_samples = static_cast<long>(++iterations_) * t.global_batch;
  r.iteration_s = seconds(start, Clock::now());
  return r;
}

results::RankMemory Trainer::memory() const {
  results::RankMemory m;
  m.weights = model_.weight_bytes();
  m.gradients = model_.gradient_bytes();
  m.optimizer = optimizer_.state_bytes();
  m.activations_peak = model_.activations_peak_bytes();
  m.other = model_.work_bytes() + message_bytes_peak_;
  return m;
}

// fp16: the gradients this rank updates divided by the loss scale, checked for inf and NaN over
// every rank, and the scale updated (exec/grad_scaler.hpp). False: the step is to be skipped.
bool Trainer::unscale_gradients() {
  double overflow = optimizer_.unscale_gradients(model_.grads(), scaler_.inv_scale()) ? 0 : 1;
  groups_.world.all_reduce_sum(&overflow, 1);
  scaler_.update(overflow > 0);
  return overflow == 0;
}

void Trainer::save_checkpoint(const std::string& path, const std::string& config_json) {
  const OptimizerState whole = optimizer_.gather();
  // A checkpoint holds the whole fp32 weights: the master weights, or FSDP's blocks, gathered.
  const bool mixed = e_.training.precision != Precision::fp32;
  if (mixed)
    model_.params() = optimizer_.gather_weights(optimizer_.master_weights());
  else if (e_.parallel.fsdp)
    model_.params() = optimizer_.gather_weights(model_.params());
  model_.kernels().synchronize();  // the gathered weights are read on the host
  exec::save_checkpoint(path, model_, &whole, config_json, groups_.world, e_.parallel);
  if (mixed)
    model_.release_fp32_weights();
  else
    model_.shard_weights();
}

}  // namespace parallax::exec
