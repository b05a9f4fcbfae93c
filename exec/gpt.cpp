#include "exec/gpt.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "exec/init_rng.hpp"
#include "kernels/cpu/attention.hpp"
#include "kernels/cpu/crossentropy.hpp"
#include "kernels/cpu/embedding.hpp"
#include "kernels/cpu/gelu.hpp"
#include "kernels/cpu/layernorm.hpp"
#include "kernels/cpu/matmul.hpp"
#include "kernels/cpu/residual.hpp"
#include "sim/layer_costs.hpp"

namespace parallax::exec {

namespace k = parallax::kernels;

namespace {
// Parameter tensors of a layer, in order.
enum LayerParam { LN1W, LN1B, QKVW, QKVB, PROJW, PROJB, LN2W, LN2B, FCW, FCB, FCPROJW, FCPROJB, PER_LAYER };
// Activations of a chunk: its input X (the embeddings' output on the first chunk), then per
// layer, then on the head chunk the final LayerNorm, its statistics, the logits (probabilities
// after the forward), the per-token losses and the softmax row maxima and sums.
enum LayerAct {
  LN1,
  LN1_MEAN,
  LN1_RSTD,
  QKV,
  ATTY,
  LSE,
  ATTPROJ,
  RES2,
  LN2,
  LN2_MEAN,
  LN2_RSTD,
  FCH,
  FCH_GELU,
  FCPROJ,
  RES3,
  ACTS_PER_LAYER
};
enum HeadAct { LNF, LNF_MEAN, LNF_RSTD, LOGITS, LOSSES, ROWMAX, ROWSUM, HEAD_ACTS };
constexpr int X = 0;
int layer_act(int layer, int a) { return 1 + layer * ACTS_PER_LAYER + a; }
}  // namespace

Gpt::Gpt(const ModelConfig& m, int micro_batch, const Layout& layout, Communicator* tp)
    : model_(m),
      layout_(layout),
      tp_(tp),
      B_(micro_batch),
      T_(m.seq_len),
      C_(m.hidden),
      L_(m.layers),
      NH_(m.heads),
      V_(m.vocab) {
  if (m.norm != Norm::layernorm || m.activation != Activation::gelu || m.position != Position::learned ||
      !m.tied_embeddings || m.kv_heads != m.heads || m.ffn_hidden != 4 * m.hidden)
    throw InputError(
        "the executor runs GPT-2 models (layernorm, gelu, learned positions, tied embeddings, "
        "kv_heads = heads, ffn_hidden = 4*hidden); model \"" +
        m.name + "\" is not one");
  const int tps = layout.tp;
  if (tps > 1 && (!tp || tp->size() != tps)) throw std::logic_error("Gpt: tensor parallelism needs its TP group");
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
    if (name == "transformer.wte.weight") wte_ = static_cast<int>(i);
    if (name == "transformer.wpe.weight") wpe_ = static_cast<int>(i);
    if (name == "transformer.ln_f.weight") lnf_ = static_cast<int>(i);
  }

  const long BT = static_cast<long>(B_) * T_, C = C_, Cl = Cl_;
  const long layer_sizes[ACTS_PER_LAYER] = {BT * C, BT, BT, 3 * BT * Cl, BT * Cl,     BT * NHl_, BT * C, BT * C,
                                            BT * C, BT, BT, 4 * BT * Cl, 4 * BT * Cl, BT * C,    BT * C};
  const long head_sizes[HEAD_ACTS] = {BT * C, BT, BT, BT * Vl_, BT, BT, BT};
  long max_size = 0;
  for (const auto& c : chunks_) {
    const std::string first = "transformer.h." + std::to_string(c.first_layer) + ".ln_1.weight";
    layer_param_.push_back(-1);  // a chunk may hold no layer (uneven stages)
    for (size_t i = 0; i < tensors_.size() && c.layers > 0; ++i)
      if (tensors_[i].name == first) layer_param_.back() = static_cast<int>(i);
    std::vector<long> offsets{0};
    long offset = BT * C;  // X
    for (int l = 0; l < c.layers; ++l)
      for (long s : layer_sizes) offsets.push_back(offset), offset += s;
    if (c.head)
      for (long s : head_sizes) offsets.push_back(offset), offset += s;
    act_offsets_.push_back(offsets);
    act_sizes_.push_back(offset);
    max_size = std::max(max_size, offset);
  }
  dacts_.assign(max_size, 0.0f);
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
  for (const auto& t : tensors_) {
    float* x = params_.data() + t.offset;
    const bool is_bias = t.name.size() > 5 && t.name.compare(t.name.size() - 5, 5, ".bias") == 0;
    const bool is_norm = t.name.find("ln_") != std::string::npos;
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
}

void Gpt::zero_grads() {
  std::fill(grads_.begin(), grads_.end(), 0.0f);
  std::fill(head_grad_.begin(), head_grad_.end(), 0.0f);
}

void Gpt::fold_tied_gradient() {
  float* dwte = head_grad_.empty() ? nullptr : g(wte_);
  for (size_t i = 0; i < head_grad_.size(); ++i) dwte[i] += head_grad_[i];
  std::fill(head_grad_.begin(), head_grad_.end(), 0.0f);
}

double Gpt::take_tp_comm_seconds() {
  const double s = tp_comm_s_;
  tp_comm_s_ = 0;
  return s;
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

Gpt::State& Gpt::state(int chunk, int mb) {
  const auto key = std::make_pair(chunk, mb);
  auto it = states_.find(key);
  if (it != states_.end()) return it->second;
  State s;
  if (!pool_.empty()) {
    s = std::move(pool_.back());
    pool_.pop_back();
  }
  s.acts.resize(act_sizes_[chunk]);
  return states_.emplace(key, std::move(s)).first->second;
}

const float* Gpt::output(int chunk, int mb) const {
  const Chunk& c = chunks_[chunk];
  return states_.at({chunk, mb}).acts.data() + act_offset(chunk, c.layers > 0 ? layer_act(c.layers - 1, RES3) : X);
}

float Gpt::forward(int chunk, int mb, const float* x, const int* inputs, const int* targets) {
  const Chunk& c = chunks_[chunk];
  const int B = B_, T = T_, C = C_, BT = B_ * T_, tp = layout_.tp;
  State& s = state(chunk, mb);
  float* a = s.acts.data();
  auto A = [&](int i) { return a + act_offset(chunk, i); };
  if (c.embedding) {
    s.inputs.assign(inputs, inputs + BT);
    k::embedding_forward(A(X), inputs, p(wte_), vocab_begin_, Vl_, tp == 1 ? p(wpe_) : nullptr, B, T, C);
    if (tp > 1) {
      tp_reduce(A(X), static_cast<long>(BT) * C);
      k::add_positions(A(X), p(wpe_), B, T, C);
    }
  } else {
    std::copy(x, x + static_cast<long>(BT) * C, A(X));
  }
  // The row-parallel GEMMs: the partial products summed over the TP group (g), the bias added once.
  const bool bias_here = layout_.tp_rank == 0;
  float* residual = A(X);
  for (int l = 0; l < c.layers; ++l) {
    const int pi = layer_param_[chunk] + l * PER_LAYER;
    auto Y = [&](int i) { return A(layer_act(l, i)); };
    k::layernorm_forward(Y(LN1), Y(LN1_MEAN), Y(LN1_RSTD), residual, p(pi + LN1W), p(pi + LN1B), BT, C);
    k::matmul_forward(Y(QKV), Y(LN1), p(pi + QKVW), p(pi + QKVB), BT, C, 3 * Cl_);
    k::attention_forward(Y(ATTY), Y(LSE), Y(QKV), scratch_.data(), B, T, Cl_, NHl_);
    k::matmul_forward(Y(ATTPROJ), Y(ATTY), p(pi + PROJW), bias_here ? p(pi + PROJB) : nullptr, BT, Cl_, C);
    tp_reduce(Y(ATTPROJ), static_cast<long>(BT) * C);
    k::residual_forward(Y(RES2), residual, Y(ATTPROJ), static_cast<long>(BT) * C);
    k::layernorm_forward(Y(LN2), Y(LN2_MEAN), Y(LN2_RSTD), Y(RES2), p(pi + LN2W), p(pi + LN2B), BT, C);
    k::matmul_forward(Y(FCH), Y(LN2), p(pi + FCW), p(pi + FCB), BT, C, 4 * Cl_);
    k::gelu_forward(Y(FCH_GELU), Y(FCH), 4L * BT * Cl_);
    k::matmul_forward(Y(FCPROJ), Y(FCH_GELU), p(pi + FCPROJW), bias_here ? p(pi + FCPROJB) : nullptr, BT, 4 * Cl_, C);
    tp_reduce(Y(FCPROJ), static_cast<long>(BT) * C);
    k::residual_forward(Y(RES3), Y(RES2), Y(FCPROJ), static_cast<long>(BT) * C);
    residual = Y(RES3);
  }
  if (!c.head) return 0.0f;
  s.targets.assign(targets, targets + BT);
  const int h = 1 + c.layers * ACTS_PER_LAYER;
  auto H = [&](int i) { return A(h + i); };
  k::layernorm_forward(H(LNF), H(LNF_MEAN), H(LNF_RSTD), residual, p(lnf_), p(lnf_ + 1), BT, C);
  k::matmul_forward(H(LOGITS), H(LNF), p(wte_), nullptr, BT, C, Vl_);
  // Vocabulary-parallel cross-entropy: three all-reduces over the TP group.
  k::crossentropy_row_max(H(ROWMAX), H(LOGITS), BT, Vl_, vocab_valid_);
  tp_reduce(H(ROWMAX), BT, true);
  k::crossentropy_exp_sum(H(ROWSUM), H(LOGITS), H(ROWMAX), BT, Vl_, vocab_valid_);
  tp_reduce(H(ROWSUM), BT);
  k::crossentropy_normalize(H(LOSSES), H(LOGITS), H(ROWSUM), targets, vocab_begin_, BT, Vl_, vocab_valid_);
  tp_reduce(H(LOSSES), BT);
  double loss = 0;
  for (int i = 0; i < BT; ++i) loss += H(LOSSES)[i];
  return static_cast<float>(loss / BT);
}

void Gpt::backward(int chunk, int mb, const float* dy, float loss_scale, const std::function<void(long, long)>& ready,
                   const std::function<void()>& poll) {
  const Chunk& c = chunks_[chunk];
  const int B = B_, T = T_, C = C_, BT = B_ * T_;
  const long BTC = static_cast<long>(BT) * C;
  State& s = states_.at({chunk, mb});
  float* a = s.acts.data();
  auto A = [&](int i) { return a + act_offset(chunk, i); };
  auto D = [&](int i) { return dacts_.data() + act_offset(chunk, i); };
  std::fill(dacts_.begin(), dacts_.begin() + act_sizes_[chunk], 0.0f);
  auto done = [&](int first, int last) {  // parameter tensors [first, last] are final
    if (ready) ready(tensors_[first].offset, tensors_[last].offset + tensors_[last].size - tensors_[first].offset);
  };
  const int top = c.layers > 0 ? layer_act(c.layers - 1, RES3) : X;  // the chunk's output
  if (c.head) {
    const int h = 1 + c.layers * ACTS_PER_LAYER;
    auto H = [&](int i) { return A(h + i); };
    auto DH = [&](int i) { return D(h + i); };
    k::crossentropy_backward(DH(LOGITS), H(LOGITS), s.targets.data(), loss_scale / BT, vocab_begin_, BT, Vl_,
                             vocab_valid_);
    float* dwte = head_grad_.empty() ? g(wte_) : head_grad_.data();
    k::matmul_backward(DH(LNF), dwte, nullptr, DH(LOGITS), H(LNF), p(wte_), BT, C, Vl_);
    tp_reduce(DH(LNF), BTC);  // f: the LM head's input is whole on every TP rank
    k::layernorm_backward(D(top), g(lnf_), g(lnf_ + 1), DH(LNF), A(top), p(lnf_), H(LNF_MEAN), H(LNF_RSTD), BT, C);
    done(lnf_, lnf_ + 1);
    if (wpe_ < 0) done(wte_, wte_);  // the LM head's copy: final here when this rank has no embedding
  } else {
    std::copy(dy, dy + BTC, D(top));
  }
  auto advance = [&] {
    if (poll) poll();
  };
  for (int l = c.layers - 1; l >= 0; --l) {
    const int pi = layer_param_[chunk] + l * PER_LAYER;
    auto Y = [&](int i) { return A(layer_act(l, i)); };
    auto DY = [&](int i) { return D(layer_act(l, i)); };
    float* in = l == 0 ? A(X) : A(layer_act(l - 1, RES3));
    float* din = l == 0 ? D(X) : D(layer_act(l - 1, RES3));
    k::residual_backward(DY(RES2), DY(FCPROJ), DY(RES3), BTC);
    k::matmul_backward(DY(FCH_GELU), g(pi + FCPROJW), g(pi + FCPROJB), DY(FCPROJ), Y(FCH_GELU), p(pi + FCPROJW), BT,
                       4 * Cl_, C);
    advance();
    k::gelu_backward(DY(FCH), Y(FCH), DY(FCH_GELU), 4L * BT * Cl_);
    k::matmul_backward(DY(LN2), g(pi + FCW), g(pi + FCB), DY(FCH), Y(LN2), p(pi + FCW), BT, C, 4 * Cl_);
    advance();
    tp_reduce(DY(LN2), BTC);  // f
    k::layernorm_backward(DY(RES2), g(pi + LN2W), g(pi + LN2B), DY(LN2), Y(RES2), p(pi + LN2W), Y(LN2_MEAN),
                          Y(LN2_RSTD), BT, C);
    k::residual_backward(din, DY(ATTPROJ), DY(RES2), BTC);
    k::matmul_backward(DY(ATTY), g(pi + PROJW), g(pi + PROJB), DY(ATTPROJ), Y(ATTY), p(pi + PROJW), BT, Cl_, C);
    advance();
    k::attention_backward(DY(QKV), DY(ATTY), Y(ATTY), Y(QKV), Y(LSE), scratch_.data(), B, T, Cl_, NHl_);
    advance();
    k::matmul_backward(DY(LN1), g(pi + QKVW), g(pi + QKVB), DY(QKV), Y(LN1), p(pi + QKVW), BT, C, 3 * Cl_);
    advance();
    tp_reduce(DY(LN1), BTC);  // f
    k::layernorm_backward(din, g(pi + LN1W), g(pi + LN1B), DY(LN1), in, p(pi + LN1W), Y(LN1_MEAN), Y(LN1_RSTD), BT, C);
    done(pi, pi + PER_LAYER - 1);
  }
  if (c.embedding) {
    k::embedding_backward(g(wte_), vocab_begin_, Vl_, g(wpe_), D(X), s.inputs.data(), B, T, C);
    if (ready) {
      fold_tied_gradient();
      done(wte_, wpe_);
    }
  }
  pool_.push_back(std::move(s));
  states_.erase({chunk, mb});
}

}  // namespace parallax::exec
