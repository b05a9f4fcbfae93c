#include "exec/gpt.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "exec/init_rng.hpp"
#include "sim/layer_costs.hpp"

namespace parallax::exec {

namespace {
constexpr int X = 0;  // a chunk's input, activation 0

// Mixed precision keeps activations in 16 bits but for the statistics (fp32 in Megatron's
// fused kernels), the projections' outputs (never kept) and the head's fp32 logits and loss.
ActivationLayout::Halves sixteen_bit_activations() {
  ActivationLayout::Halves h{std::vector<bool>(ACTS_PER_LAYER, true), std::vector<bool>(HEAD_ACTS, false)};
  for (int a : {LN1_MEAN, LN1_RSTD, LSE, ATTPROJ, LN2_MEAN, LN2_RSTD, FCPROJ}) h.layer[a] = false;
  h.head[LNF] = true;
  return h;
}
}  // namespace

Gpt::Gpt(const ModelConfig& m, int micro_batch, kernels::Kernels& kernels, const Layout& layout, Communicator* tp,
         const RecomputePolicy& recompute, Precision precision, Communicator* dp)
    : model_(m),
      k_(kernels),
      layout_(layout),
      tp_(tp),
      B_(micro_batch),
      T_(m.seq_len),
      C_(m.hidden),
      L_(m.layers),
      NH_(m.heads),
      V_(m.vocab),
      params_(kernels.memory()),
      grads_(kernels.memory()),
      workspace_(kernels.memory()),
      head_grad_(kernels.memory()),
      dacts_(kernels.memory()),
      scratch_(kernels.memory()),
      gathered_(kernels.memory()),
      params16_(kernels.memory()),
      workspace16_(kernels.memory()),
      input_grad16_(kernels.memory()),
      view_(kernels.memory()),
      compute_(kernels.memory()),
      gathered16_(kernels.memory()) {
  if (m.norm != Norm::layernorm || m.activation != Activation::gelu || m.position != Position::learned ||
      !m.tied_embeddings || m.kv_heads != m.heads || m.ffn_hidden != 4 * m.hidden)
    throw InputError(
        "the executor runs GPT-2 models (layernorm, gelu, learned positions, tied embeddings, "
        "kv_heads = heads, ffn_hidden = 4*hidden); model \"" +
        m.name + "\" is not one");
  const int tps = layout.tp;
  if (tps > 1 && (!tp || tp->size() != tps)) throw std::logic_error("Gpt: tensor parallelism needs its TP group");
  fsdp_ = layout.fsdp && layout.dp > 1;
  if (fsdp_ && (!dp || dp->size() != layout.dp)) throw std::logic_error("Gpt: FSDP needs its DP group");
  dp_ = dp;
  Vp_ = static_cast<int>(sim::padded_vocab(m, tps));
  Cl_ = C_ / tps;
  NHl_ = NH_ / tps;
  Vl_ = Vp_ / tps;
  vocab_begin_ = layout.tp_rank * Vl_;
  vocab_valid_ = std::clamp(V_ - vocab_begin_, 0, Vl_);
  chunks_ = chunks_of(m, layout);
  tensors_ = rank_tensors(m, layout);
  params_.assign(tensors_.back().offset + tensors_.back().size, 0.0f);
  grads_.assign(params_.size(), 0.0f);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& name = tensors_[i].name;
    layernorm_.push_back(name.find("ln_") != std::string::npos);
    if (name == "transformer.wte.weight") wte_ = static_cast<int>(i);
    if (name == "transformer.wpe.weight") wpe_ = static_cast<int>(i);
    if (name == "transformer.ln_f.weight") lnf_ = static_cast<int>(i);
  }

  const long BT = static_cast<long>(B_) * T_, C = C_, Cl = Cl_;
  sp_ = layout.sequence_parallel && tps > 1;
  if (sp_ && BT % tps != 0)
    throw InputError("parallel.sequence_parallel: training.micro_batch*model.seq_len = " + std::to_string(BT) +
                     " tokens must divide among parallel.tp = " + std::to_string(tps) + " ranks");
  rows_ = sp_ ? BT / tps : BT;
  first_row_ = sp_ ? layout.tp_rank * rows_ : 0;
  if (sp_) gathered_.assign(BT * C, 0.0f);
  // Outside the tensor-parallel regions a rank keeps rows_ tokens; the projections' outputs,
  // summed over the group before they are split, are whole.
  const long n = rows_, probs = recompute.keeps_attention_probabilities() ? BT * NHl_ * T_ : 0;
  const ActivationLayout::Sizes kept = {{n * C, n, n, 3 * BT * Cl, BT * Cl, BT * NHl_, probs, BT * C, n * C, n * C, n,
                                         n, 4 * BT * Cl, 4 * BT * Cl, BT * C, n * C},
                                        {n * C, n, n, BT * Vl_, BT, BT, BT}};
  const ActivationLayout::Sizes grads = {{BT * C, BT, BT, 3 * BT * Cl, BT * Cl, BT * NHl_, probs, BT * C, BT * C,
                                          BT * C, BT, BT, 4 * BT * Cl, 4 * BT * Cl, BT * C, BT * C},
                                         {BT * C, BT, BT, BT * Vl_, BT, BT, BT}};
  keeps_probs_ = probs > 0;
  for (const auto& c : chunks_) {
    const std::string first = "transformer.h." + std::to_string(c.first_layer) + ".ln_1.weight";
    layer_param_.push_back(-1);  // a chunk may hold no layer (uneven stages)
    for (size_t i = 0; i < tensors_.size() && c.layers > 0; ++i)
      if (tensors_[i].name == first) layer_param_.back() = static_cast<int>(i);
  }
  precision_ = precision;
  kept_sizes_ = kept;
  acts_ = ActivationLayout(chunks_, kept, grads, recompute,
                           mixed() ? sixteen_bit_activations() : ActivationLayout::Halves{});
  allocate_storage();
  workspace_.assign(acts_.workspace_size(), 0.0f);
  dacts_.assign(acts_.largest_grad_size(), 0.0f);
  if (wpe_ >= 0 && lnf_ >= 0) head_grad_.assign(tensors_[wte_].size, 0.0f);
  scratch_.assign(2L * T_ * T_, 0.0f);
}

const ParamTensor& Gpt::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t;
  throw InputError("no parameter named " + name);
}

bool Gpt::holds(const std::string& name) const {
  return std::any_of(tensors_.begin(), tensors_.end(), [&](const ParamTensor& t) { return t.name == name; });
}

void Gpt::init(std::uint64_t seed) {
  const float residual_std = 0.02f / std::sqrt(2.0f * L_);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const ParamTensor& t = tensors_[i];
    float* x = params_.data() + t.offset;
    const bool is_bias = t.name.size() > 5 && t.name.compare(t.name.size() - 5, 5, ".bias") == 0;
    const bool is_norm = layernorm_[i];
    if (is_norm && !is_bias) {
      std::fill(x, x + t.size, 1.0f);
    } else if (is_bias) {
      std::fill(x, x + t.size, 0.0f);
    } else {
      const bool residual = t.name.find("c_proj.weight") != std::string::npos;
      const float std = residual ? residual_std : 0.02f;
      const std::uint64_t stream = tensor_stream(seed, t.name);
      for (long i = 0; i < t.size; ++i) {
        const long w = whole_index(t, layout_.tp, layout_.tp_rank, i);  // padded vocabulary rows stay 0
        x[i] = w >= 0 ? std * normal_at(stream, static_cast<std::uint64_t>(w)) : 0.0f;
      }
    }
  }
  cast_weights();
}

void Gpt::zero_grads() {
  k_.zero(grads_.data(), static_cast<long>(grads_.size()));
  k_.zero(head_grad_.data(), static_cast<long>(head_grad_.size()));
}

void Gpt::fold_tied_gradient() {
  if (head_grad_.empty()) return;
  k_.accumulate(g(wte_), head_grad_.data(), static_cast<long>(head_grad_.size()));
  k_.zero(head_grad_.data(), static_cast<long>(head_grad_.size()));
}

double Gpt::take_tp_comm_seconds() {
  const double s = tp_comm_s_;
  tp_comm_s_ = 0;
  return s;
}

void Gpt::sum_sequence_parallel_grads(int first, int last) {
  if (!sp_) return;
  for (int i = first; i <= last; ++i)
    if (layernorm_[i]) tp_reduce(g(i), tensors_[i].size);
}

void Gpt::sum_sequence_parallel_grads() {
  if (!tensors_.empty()) sum_sequence_parallel_grads(0, static_cast<int>(tensors_.size()) - 1);
}

void Gpt::tp_all_gather(float* whole) {
  const auto t0 = std::chrono::steady_clock::now();
  tp_->all_gather(whole, std::vector<long>(layout_.tp, activation_size()));
  tp_comm_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const float* Gpt::tp_input(const float* x) {
  if (!sp_) return x;
  k_.copy(mine(gathered_.data()), x, activation_size() * sizeof(float));
  tp_all_gather(gathered_.data());
  return gathered_.data();
}

void Gpt::tp_output(float* whole) {
  if (!sp_) return tp_reduce(whole, static_cast<long>(B_) * T_ * C_);
  const auto t0 = std::chrono::steady_clock::now();
  tp_->reduce_scatter_sum(whole, std::vector<long>(layout_.tp, activation_size()));
  tp_comm_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Gpt::tp_reduce(float* data, long n, bool max) {
  if (layout_.tp == 1) return;
  const auto t0 = std::chrono::steady_clock::now();
  if (max)
    tp_->all_reduce_max(data, n);
  else
    tp_->all_reduce_sum(data, n);
  tp_comm_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double Gpt::activations_peak_bytes() const {
  const double work = static_cast<double>(workspace_.size() - acts_.transient_size()) * sizeof(float);
  return state_bytes_peak_ + work + static_cast<double>(workspace16_.size()) * sizeof(std::uint16_t);
}

Gpt::State& Gpt::state(int chunk, int mb) {
  const auto key = std::make_pair(chunk, mb);
  auto it = states_.find(key);
  if (it != states_.end()) return it->second;
  State s(k_.memory());
  if (!pool_.empty()) {
    s = std::move(pool_.back());
    pool_.pop_back();
  }
  s.acts.resize(acts_.state_size(chunk));
  s.acts16.resize(acts_.state16_size(chunk));
  state_bytes_ += s.bytes();
  state_bytes_peak_ = std::max(state_bytes_peak_, state_bytes_);
  return states_.emplace(key, std::move(s)).first->second;
}

void Gpt::release(int chunk, int mb) {
  State& s = states_.at({chunk, mb});
  state_bytes_ -= s.bytes();
  pool_.push_back(std::move(s));
  states_.erase({chunk, mb});
}

Gpt::LayerActs Gpt::layer_acts(State& s, int chunk, int layer) {
  LayerActs y;
  for (int a = 0; a < ACTS_PER_LAYER; ++a) y[a] = act(s, chunk, ActivationLayout::layer_index(layer, a));
  return y;
}

Gpt::LayerActs Gpt::layer_grads(int chunk, int layer) {
  LayerActs dy;
  for (int a = 0; a < ACTS_PER_LAYER; ++a) dy[a] = grad(chunk, ActivationLayout::layer_index(layer, a));
  return dy;
}

float Gpt::forward(int chunk, int mb, const void* x, const int* inputs, const int* targets, long first_sample) {
  const Chunk& c = chunks_[chunk];
  const int B = B_, T = T_, C = C_, BT = B_ * T_, tp = layout_.tp;
  State& s = state(chunk, mb);
  s.first_sample = first_sample;
  float* in = act(s, chunk, X);
  if (c.embedding) {
    view_weights({{wte_, wte_}, {wpe_, wpe_}});
    s.inputs.resize(BT);
    k_.copy(s.inputs.data(), inputs, BT * sizeof(int));
    // The slices' lookups summed over the TP group (split among its ranks' rows under SP), then positions.
    float* looked_up = sp_ ? gathered_.data() : in;
    k_.embedding_forward(looked_up, s.inputs.data(), p(wte_), vocab_begin_, Vl_, tp == 1 ? p(wpe_) : nullptr, B, T, C);
    if (tp > 1) {
      tp_output(looked_up);
      if (sp_) k_.copy(in, mine(looked_up), activation_size() * sizeof(float));
      k_.add_positions(in, p(wpe_), first_row_, rows_, T, C);
    }
    k_.dropout(in, activation_size(), dropout(s, -1, DropoutSite::embedding));
    stash(s, chunk, X);
  } else {
    take_input(s, chunk, x);
  }
  const float* residual = in;
  for (int l = 0; l < c.layers; ++l) {
    const LayerActs y = layer_acts(s, chunk, l);
    layer_forward(layer_param_[chunk] + l * PER_LAYER, residual, y, layer_dropouts(s, chunk, l));
    stash_layer(s, chunk, l, true);
    residual = y[RES3];
  }
  if (!c.head) return 0.0f;
  head_forward(s, chunk, residual, targets);
  stash(s, chunk, ActivationLayout::head_index(c.layers, LNF));
  const float* losses = act(s, chunk, ActivationLayout::head_index(c.layers, LOSSES));
  k_.synchronize();  // the losses are read here
  double loss = 0;
  for (int i = 0; i < BT; ++i) loss += losses[i];
  return static_cast<float>(loss / BT);
}

void Gpt::backward(int chunk, int mb, const void* dy, float loss_scale, const std::function<void(long, long)>& ready,
                   const std::function<void()>& poll) {
  const Chunk& c = chunks_[chunk];
  const int B = B_, T = T_, C = C_;
  State& s = states_.at({chunk, mb});
  k_.zero(dacts_.data(), acts_.grad_size(chunk));
  auto done = [&](int first, int last) {  // parameter tensors [first, last] are final
    if (!ready) return;
    sum_sequence_parallel_grads(first, last);
    ready(tensors_[first].offset, tensors_[last].offset + tensors_[last].size - tensors_[first].offset);
  };
  const int top = c.layers > 0 ? ActivationLayout::layer_index(c.layers - 1, RES3) : X;  // the chunk's output
  if (c.head) {
    unstash(s, chunk, top);
    unstash(s, chunk, ActivationLayout::head_index(c.layers, LNF));
    head_backward(s, chunk, act(s, chunk, top), grad(chunk, top), loss_scale);
    done(lnf_, lnf_ + 1);
    if (wpe_ < 0) done(wte_, wte_);  // the LM head's copy: final here when this rank has no embedding
  } else if (mixed()) {
    k_.cast_from_16bit(mine(grad(chunk, top)), static_cast<const std::uint16_t*>(dy), activation_size(), precision_);
  } else {
    k_.copy(mine(grad(chunk, top)), dy, activation_size() * sizeof(float));
  }
  const auto& groups = acts_.groups(chunk);
  auto group = groups.rbegin();
  for (int l = c.layers - 1; l >= 0; --l) {
    const int pi = layer_param_[chunk] + l * PER_LAYER;
    const int input = l == 0 ? X : ActivationLayout::layer_index(l - 1, RES3);
    if (group != groups.rend() && group->second == l) {  // re-run the group's forward from its kept input
      const int first = group->first;
      const int group_input = first == 0 ? X : ActivationLayout::layer_index(first - 1, RES3);
      unstash(s, chunk, group_input);
      const float* residual = act(s, chunk, group_input);
      for (int r = first; r <= l; ++r) {
        const LayerActs y = layer_acts(s, chunk, r);
        layer_forward(layer_param_[chunk] + r * PER_LAYER, residual, y, layer_dropouts(s, chunk, r));
        stash_layer(s, chunk, r, false);
        residual = y[RES3];
      }
      ++group;
    }
    unstash_layer(s, chunk, l);
    unstash(s, chunk, input);
    layer_backward(pi, act(s, chunk, input), grad(chunk, input), layer_acts(s, chunk, l), layer_grads(chunk, l),
                   layer_dropouts(s, chunk, l), poll);
    done(pi, pi + PER_LAYER - 1);
  }
  if (c.embedding) {
    k_.dropout(mine(grad(chunk, X)), activation_size(), dropout(s, -1, DropoutSite::embedding));
    if (sp_) tp_all_gather(grad(chunk, X));  // every rank sees the whole gradient of the lookup
    k_.embedding_backward(g(wte_), vocab_begin_, Vl_, g(wpe_), grad(chunk, X), s.inputs.data(), B, T, C);
    if (ready) {
      fold_tied_gradient();
      done(wte_, wpe_);
    }
  }
  release(chunk, mb);
}

}  // namespace parallax::exec
