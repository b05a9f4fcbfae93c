// The passes of one transformer layer and of the head (final LayerNorm, LM head, loss) with
// their tensor-parallel collectives; exec/gpt.cpp drives them over chunks and micro-batches.
#include "exec/gpt.hpp"
#include "exec/init_rng.hpp"

namespace parallax::exec {

// Without sequence parallelism rows_ is B*T and mine() the whole tensor: the LayerNorms and
// residual additions run on every token, and tp_input/tp_output are Megatron's f and g.
void Gpt::layer_forward(int pi, const float* in, const LayerActs& y, const LayerDropouts& d) {
  const int B = B_, T = T_, C = C_, BT = B_ * T_, n = static_cast<int>(rows_);
  // The row-parallel GEMMs: the partial products summed over the TP group, the bias added once.
  const bool bias_here = layout_.tp_rank == 0;
  view_weights({{pi, pi + PER_LAYER - 1}});
  k_.layernorm_forward(y[LN1], y[LN1_MEAN], y[LN1_RSTD], in, p(pi + LN1W), p(pi + LN1B), n, C);
  k_.matmul_forward(y[QKV], tp_input(y[LN1]), p(pi + QKVW), p(pi + QKVB), BT, C, 3 * Cl_);
  k_.attention_forward(y[ATTY], y[LSE], keeps_probs_ ? y[PROBS] : nullptr, y[QKV], scratch_.data(), B, T, Cl_, NHl_,
                       d.probabilities);
  k_.matmul_forward(y[ATTPROJ], y[ATTY], p(pi + PROJW), bias_here ? p(pi + PROJB) : nullptr, BT, Cl_, C);
  tp_output(y[ATTPROJ]);
  k_.dropout(mine(y[ATTPROJ]), activation_size(), d.attention_output);
  k_.residual_forward(y[RES2], in, mine(y[ATTPROJ]), activation_size());
  k_.layernorm_forward(y[LN2], y[LN2_MEAN], y[LN2_RSTD], y[RES2], p(pi + LN2W), p(pi + LN2B), n, C);
  k_.matmul_forward(y[FCH], tp_input(y[LN2]), p(pi + FCW), p(pi + FCB), BT, C, 4 * Cl_);
  k_.gelu_forward(y[FCH_GELU], y[FCH], 4L * BT * Cl_);
  k_.matmul_forward(y[FCPROJ], y[FCH_GELU], p(pi + FCPROJW), bias_here ? p(pi + FCPROJB) : nullptr, BT, 4 * Cl_, C);
  tp_output(y[FCPROJ]);
  k_.dropout(mine(y[FCPROJ]), activation_size(), d.mlp_output);
  k_.residual_forward(y[RES3], y[RES2], mine(y[FCPROJ]), activation_size());
}

// The gradients are whole tensors; under sequence parallelism those outside the TP regions
// hold this rank's rows at mine(), and the LayerNorm inputs are gathered again (as Megatron
// does) instead of being kept whole.
void Gpt::layer_backward(int pi, const float* in, float* din, const LayerActs& y, const LayerActs& dy,
                         const LayerDropouts& d, const std::function<void()>& poll) {
  const int B = B_, T = T_, C = C_, BT = B_ * T_, n = static_cast<int>(rows_);
  const long rows = activation_size();
  auto advance = [&] {
    if (poll) poll();
  };
  view_weights({{pi, pi + PER_LAYER - 1}});
  k_.residual_backward(mine(dy[RES2]), mine(dy[FCPROJ]), mine(dy[RES3]), rows);
  k_.dropout(mine(dy[FCPROJ]), rows, d.mlp_output);
  tp_output_backward(dy[FCPROJ]);
  k_.matmul_backward(dy[FCH_GELU], g(pi + FCPROJW), g(pi + FCPROJB), dy[FCPROJ], y[FCH_GELU], p(pi + FCPROJW), BT,
                     4 * Cl_, C);
  advance();
  k_.gelu_backward(dy[FCH], y[FCH], dy[FCH_GELU], 4L * BT * Cl_);
  k_.matmul_backward(dy[LN2], g(pi + FCW), g(pi + FCB), dy[FCH], tp_input(y[LN2]), p(pi + FCW), BT, C, 4 * Cl_);
  advance();
  tp_input_backward(dy[LN2]);
  k_.layernorm_backward(mine(dy[RES2]), g(pi + LN2W), g(pi + LN2B), mine(dy[LN2]), y[RES2], p(pi + LN2W), y[LN2_MEAN],
                        y[LN2_RSTD], n, C);
  k_.residual_backward(mine(din), mine(dy[ATTPROJ]), mine(dy[RES2]), rows);
  k_.dropout(mine(dy[ATTPROJ]), rows, d.attention_output);
  tp_output_backward(dy[ATTPROJ]);
  k_.matmul_backward(dy[ATTY], g(pi + PROJW), g(pi + PROJB), dy[ATTPROJ], y[ATTY], p(pi + PROJW), BT, Cl_, C);
  advance();
  k_.attention_backward(dy[QKV], dy[ATTY], y[ATTY], y[QKV], y[LSE], keeps_probs_ ? y[PROBS] : nullptr, scratch_.data(),
                        B, T, Cl_, NHl_, d.probabilities);
  advance();
  k_.matmul_backward(dy[LN1], g(pi + QKVW), g(pi + QKVB), dy[QKV], tp_input(y[LN1]), p(pi + QKVW), BT, C, 3 * Cl_);
  advance();
  tp_input_backward(dy[LN1]);
  k_.layernorm_backward(mine(din), g(pi + LN1W), g(pi + LN1B), mine(dy[LN1]), in, p(pi + LN1W), y[LN1_MEAN],
                        y[LN1_RSTD], n, C);
}

void Gpt::head_forward(State& s, int chunk, const float* in, const int* targets) {
  const int BT = B_ * T_, C = C_, layers = chunks_[chunk].layers;
  s.targets.resize(BT);
  k_.copy(s.targets.data(), targets, BT * sizeof(int));
  view_weights({{lnf_, lnf_ + 1}, {wte_, wte_}});
  auto H = [&](int i) { return act(s, chunk, ActivationLayout::head_index(layers, i)); };
  k_.layernorm_forward(H(LNF), H(LNF_MEAN), H(LNF_RSTD), in, p(lnf_), p(lnf_ + 1), static_cast<int>(rows_), C);
  k_.matmul_forward(H(LOGITS), tp_input(H(LNF)), p(wte_), nullptr, BT, C, Vl_);
  // Vocabulary-parallel cross-entropy: three all-reduces over the TP group.
  k_.crossentropy_row_max(H(ROWMAX), H(LOGITS), BT, Vl_, vocab_valid_);
  tp_reduce(H(ROWMAX), BT, true);
  k_.crossentropy_exp_sum(H(ROWSUM), H(LOGITS), H(ROWMAX), BT, Vl_, vocab_valid_);
  tp_reduce(H(ROWSUM), BT);
  k_.crossentropy_normalize(H(LOSSES), H(LOGITS), H(ROWSUM), s.targets.data(), vocab_begin_, BT, Vl_, vocab_valid_);
  tp_reduce(H(LOSSES), BT);
}

void Gpt::head_backward(State& s, int chunk, const float* in, float* din, float loss_scale) {
  const int BT = B_ * T_, C = C_, layers = chunks_[chunk].layers;
  auto H = [&](int i) { return act(s, chunk, ActivationLayout::head_index(layers, i)); };
  auto DH = [&](int i) { return grad(chunk, ActivationLayout::head_index(layers, i)); };
  view_weights({{lnf_, lnf_ + 1}, {wte_, wte_}});
  k_.crossentropy_backward(DH(LOGITS), H(LOGITS), s.targets.data(), loss_scale / BT, vocab_begin_, BT, Vl_,
                           vocab_valid_);
  float* dwte = head_grad_.empty() ? g(wte_) : head_grad_.data();
  k_.matmul_backward(DH(LNF), dwte, nullptr, DH(LOGITS), tp_input(H(LNF)), p(wte_), BT, C, Vl_);
  tp_input_backward(DH(LNF));  // the LM head's input is whole on every TP rank
  k_.layernorm_backward(mine(din), g(lnf_), g(lnf_ + 1), mine(DH(LNF)), in, p(lnf_), H(LNF_MEAN), H(LNF_RSTD),
                        static_cast<int>(rows_), C);
}

void Gpt::seed_dropout(std::uint64_t seed) { dropout_stream_ = tensor_stream(seed, "dropout"); }

// Counters: a hidden state's element (token t of sample n, feature c) is (n*T + t)*C + c; an
// attention probability's as kernels/kernels.hpp says, sample n's first at n*NH*T*T.
kernels::Dropout Gpt::dropout(const State& s, int layer, DropoutSite site) const {
  kernels::Dropout d;
  if (model_.dropout <= 0) return d;
  d.p = static_cast<float>(model_.dropout);
  d.stream = kernels::splitmix64(dropout_stream_ + 4 * static_cast<std::uint64_t>(layer + 1) + static_cast<int>(site));
  const auto sample = static_cast<std::uint64_t>(s.first_sample);
  if (site == DropoutSite::probabilities) {
    d.first = sample * NH_ * T_ * T_;
    d.first_head = layout_.tp_rank * NHl_;
    d.heads = NH_;
  } else {
    d.first = (sample * T_ + first_row_) * C_;
  }
  return d;
}

Gpt::LayerDropouts Gpt::layer_dropouts(const State& s, int chunk, int layer) const {
  const int l = chunks_[chunk].first_layer + layer;
  return {dropout(s, l, DropoutSite::probabilities), dropout(s, l, DropoutSite::attention_output),
          dropout(s, l, DropoutSite::mlp_output)};
}

}  // namespace parallax::exec
