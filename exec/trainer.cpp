#include "exec/trainer.hpp"

#include <algorithm>
#include <cmath>

#include "exec/lr_schedule.hpp"

namespace parallax::exec {

namespace {
using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

Layout layout_of(const Experiment& e, const Groups& g) {
  const auto& p = e.parallel;
  if (g.tp.size() != p.tp || g.pp.size() != p.pp || g.dp.size() != p.dp)
    throw std::logic_error("Trainer: the groups do not match parallel.tp/pp/dp");
  return Layout{p.tp, g.tp.rank(), p.pp, g.pp.rank(), p.vpp, g.dp.rank(), p.stage_layers, p.sequence_parallel};
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

// Pipeline messages: tag from (micro-batch, receiving virtual stage, direction). Tags repeat
// only beyond 16384 (micro-batch, stage) pairs, and messages with one tag between two ranks
// arrive in order, so the pairing holds.
int tag_of(int mb, int vs, int stages, bool backward) { return ((mb * stages + vs) * 2 + (backward ? 1 : 0)) % 32768; }
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

Trainer::Trainer(const Experiment& e, Groups groups, kernels::Kernels& kernels)
    : e_(e),
      groups_(groups),
      model_(e.model, e.training.micro_batch, kernels, layout_of(e, groups), &groups.tp, recompute_policy(e.training)),
      data_(e.training.data, e.model.vocab, e.model.seq_len, e.training.seed),
      schedule_(sim::make_schedule(e.parallel.schedule, e.parallel.pp, e.parallel.vpp, e.micro_batches())),
      optimizer_(e.training, static_cast<long>(model_.params().size()), groups.dp, e.parallel.distributed_optimizer,
                 lr_scales(model_.tensors(), e.model.layers, e.training.layerwise_lr_decay), kernels),
      overlap_(groups.dp.size() > 1 && !optimizer_.sharded() && e.parallel.overlap_grad_reduce) {
  if (!e.training.resume_from.empty()) {
    OptimizerState whole;
    load_checkpoint(e.training.resume_from, model_, &whole);
    optimizer_.load(whole);
  } else if (!e.training.init_from.empty()) {
    load_checkpoint(e.training.init_from, model_, nullptr);
  } else {
    model_.init(e.training.seed);
  }
}

// This rank's action list: forwards take their input from the previous virtual stage (or the
// tokens), backwards their output gradient from the next one (or the loss); sends return at once.
void Trainer::run_schedule(StepResult& r, double& loss, Clock::time_point start) {
  const auto& t = e_.training;
  Communicator& pp = groups_.pp;
  const int pp_rank = pp.rank(), stages = schedule_.virtual_stages(), m = schedule_.microbatches;
  const auto& actions = schedule_.ranks[pp_rank];
  const long n = model_.activation_size();
  const long first = static_cast<long>(optimizer_.steps()) * t.global_batch +
                     static_cast<long>(groups_.dp.rank()) * (t.global_batch / groups_.dp.size());
  // On each chunk's last backward, its gradients start their DP reduction as they become final
  // (Megatron's overlap), while the rest of the backward runs.
  std::vector<size_t> last_backward(model_.chunks().size(), 0);
  for (size_t i = 0; i < actions.size(); ++i)
    if (actions[i].pass == sim::Pass::backward) last_backward[actions[i].chunk] = i;
  auto reduce_now = [&](long offset, long size) {
    groups_.dp.start_all_reduce_sum(model_.grads().data() + offset, size);
    groups_.dp.progress();
  };
  std::vector<float> received(pp.size() > 1 ? n : 0);
  sends_.clear();
  auto receive = [&](int vs, int mb, bool backward) {
    const auto t0 = Clock::now();
    pp.recv(received.data(), n, schedule_.rank_of_virtual(vs),
            tag_of(mb, backward ? vs - 1 : vs + 1, stages, backward));
    const auto t1 = Clock::now();
    r.pp_comm_s += seconds(t0, t1);
    r.events.push_back({StepResult::recv, schedule_.chunk_of_virtual(vs), mb, seconds(start, t0), seconds(t0, t1)});
    return received.data();
  };
  // A pass from t0 to t1: its compute (TP collectives apart) into `phase`, and its event.
  auto account = [&](StepResult::Kind kind, const sim::Action& a, Clock::time_point t0, Clock::time_point t1,
                     double& phase) {
    const double tp = model_.take_tp_comm_seconds();
    phase += seconds(t0, t1) - tp;
    r.tp_comm_s += tp;
    r.events.push_back({kind, a.chunk, a.microbatch, seconds(start, t0), seconds(t0, t1)});
  };
  auto send = [&](const float* data, int vs, int mb, bool backward) {
    sends_.emplace_back(data, data + n);
    pp.send(sends_.back().data(), n, schedule_.rank_of_virtual(vs), tag_of(mb, vs, stages, backward));
  };
  for (size_t i = 0; i < actions.size(); ++i) {
    const sim::Action& a = actions[i];
    const Chunk& c = model_.chunks()[a.chunk];
    const int vs = c.virtual_stage, mb = a.microbatch;
    if (a.pass == sim::Pass::forward) {
      const float* x = c.embedding ? nullptr : receive(vs - 1, mb, false);
      if (c.embedding || c.head)
        data_.sequences(first + static_cast<long>(mb) * t.micro_batch, t.micro_batch, inputs_, targets_);
      const auto t0 = Clock::now();
      loss += model_.forward(a.chunk, mb, x, inputs_.data(), targets_.data());
      account(StepResult::forward, a, t0, Clock::now(), r.forward_s);
      if (!c.head) send(model_.output(a.chunk, mb), vs + 1, mb, false);
    } else {
      const float* dy = c.head ? nullptr : receive(vs + 1, mb, true);
      const auto t0 = Clock::now();
      if (overlap_ && i == last_backward[a.chunk])
        model_.backward(a.chunk, mb, dy, 1.0f / m, reduce_now, [&] { groups_.dp.progress(); });
      else
        model_.backward(a.chunk, mb, dy, 1.0f / m);
      account(StepResult::backward, a, t0, Clock::now(), r.backward_s);
      if (!c.embedding) send(model_.input_grad(), vs - 1, mb, true);
    }
  }
  model_.fold_tied_gradient();
  double held = static_cast<double>(received.size());
  for (const auto& s : sends_) held += static_cast<double>(s.size());
  message_bytes_peak_ = std::max(message_bytes_peak_, held * sizeof(float));
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
  auto tied_embedding = [&] {
    if (pp.size() == 1 || !model_.holds("transformer.wte.weight")) return;
    const ParamTensor& w = model_.tensor("transformer.wte.weight");
    const int other = pp.rank() == 0 ? pp.size() - 1 : 0;
    std::vector<float> theirs(w.size);
    pp.send(grads.data() + w.offset, w.size, other, 32767);
    pp.recv(theirs.data(), w.size, other, 32767);
    pp.wait_sends();                                                     // before the sum overwrites what was sent
    for (long i = 0; i < w.size; ++i) grads[w.offset + i] += theirs[i];  // a + b == b + a: both copies agree
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
  const int it = optimizer_.steps();
  r.step = it + 1;
  model_.zero_grads();
  double loss = 0;
  run_schedule(r, loss, start);
  if (!overlap_) {  // else each backward summed what it reported ready
    model_.sum_sequence_parallel_grads();
    r.tp_comm_s += model_.take_tp_comm_seconds();
  }
  reduce_gradients(r, loss, start);

  const auto t0 = Clock::now();
  r.lr = learning_rate(t, it);
  r.grad_norm = optimizer_.step(model_.params(), model_.grads(), model_.tensors(), r.lr, groups_.world);
  r.optimizer_s = seconds(t0, Clock::now());
  r.events.push_back({StepResult::optimizer, 0, -1, seconds(start, t0), r.optimizer_s});
  r.loss = loss;
  r.consumed_samples = static_cast<long>(optimizer_.steps()) * t.global_batch;
  r.iteration_s = seconds(start, Clock::now());
  return r;
}

HeldMemory Trainer::memory() const {
  HeldMemory m;
  m.weights = model_.weight_bytes();
  m.gradients = model_.gradient_bytes();
  m.optimizer = optimizer_.state_bytes();
  m.activations_peak = model_.activations_peak_bytes();
  m.other = model_.work_bytes() + message_bytes_peak_;
  return m;
}

void Trainer::save_checkpoint(const std::string& path, const std::string& config_json) {
  const OptimizerState whole = optimizer_.gather();
  exec::save_checkpoint(path, model_, &whole, config_json, groups_.world, e_.parallel);
}

}  // namespace parallax::exec
