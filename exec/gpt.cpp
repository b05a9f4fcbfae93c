#include "exec/gpt.hpp"

#include <algorithm>
#include <cmath>

#include "exec/init_rng.hpp"
#include "kernels/cpu/attention.hpp"
#include "kernels/cpu/crossentropy.hpp"
#include "kernels/cpu/embedding.hpp"
#include "kernels/cpu/gelu.hpp"
#include "kernels/cpu/layernorm.hpp"
#include "kernels/cpu/matmul.hpp"
#include "kernels/cpu/residual.hpp"

namespace parallax::exec {

namespace k = parallax::kernels;

namespace {
// Parameter indices: wte, wpe, then 12 per layer, then ln_f weight and bias.
enum LayerParam { LN1W, LN1B, QKVW, QKVB, PROJW, PROJB, LN2W, LN2B, FCW, FCB, FCPROJW, FCPROJB, PER_LAYER };
// Activations per layer, then encoded, ln_f, its stats, logits and losses.
enum LayerAct { LN1, LN1_MEAN, LN1_RSTD, QKV, ATTY, LSE, ATTPROJ, RES2, LN2, LN2_MEAN, LN2_RSTD, FCH, FCH_GELU,
                FCPROJ, RES3, ACTS_PER_LAYER };
}  // namespace

Gpt::Gpt(const ModelConfig& m, int micro_batch)
    : model_(m), B_(micro_batch), T_(m.seq_len), C_(m.hidden), L_(m.layers), NH_(m.heads), V_(m.vocab) {
  if (m.norm != Norm::layernorm || m.activation != Activation::gelu || m.position != Position::learned ||
      !m.tied_embeddings || m.kv_heads != m.heads || m.ffn_hidden != 4 * m.hidden)
    throw InputError("the executor runs GPT-2 models (layernorm, gelu, learned positions, tied embeddings, "
                     "kv_heads = heads, ffn_hidden = 4*hidden); model \"" + m.name + "\" is not one");
  Vp_ = (V_ + 127) / 128 * 128;
  const long C = C_;
  auto add = [&](const std::string& name, std::vector<long> shape, bool decay) {
    ParamTensor t{name, shape, 0, 1, decay};
    for (long d : shape) t.size *= d;
    t.offset = tensors_.empty() ? 0 : tensors_.back().offset + tensors_.back().size;
    tensors_.push_back(t);
  };
  add("transformer.wte.weight", {Vp_, C}, true);
  add("transformer.wpe.weight", {T_, C}, true);
  for (int l = 0; l < L_; ++l) {
    const std::string h = "transformer.h." + std::to_string(l) + ".";
    add(h + "ln_1.weight", {C}, false);
    add(h + "ln_1.bias", {C}, false);
    add(h + "attn.c_attn.weight", {3 * C, C}, true);
    add(h + "attn.c_attn.bias", {3 * C}, false);
    add(h + "attn.c_proj.weight", {C, C}, true);
    add(h + "attn.c_proj.bias", {C}, false);
    add(h + "ln_2.weight", {C}, false);
    add(h + "ln_2.bias", {C}, false);
    add(h + "mlp.c_fc.weight", {4 * C, C}, true);
    add(h + "mlp.c_fc.bias", {4 * C}, false);
    add(h + "mlp.c_proj.weight", {C, 4 * C}, true);
    add(h + "mlp.c_proj.bias", {C}, false);
  }
  add("transformer.ln_f.weight", {C}, false);
  add("transformer.ln_f.bias", {C}, false);
  params_.assign(tensors_.back().offset + tensors_.back().size, 0.0f);
  grads_.assign(params_.size(), 0.0f);

  const long BT = static_cast<long>(B_) * T_;
  const long sizes[ACTS_PER_LAYER] = {BT * C, BT, BT, 3 * BT * C, BT * C, BT * NH_, BT * C, BT * C, BT * C, BT, BT,
                                      4 * BT * C, 4 * BT * C, BT * C, BT * C};
  long offset = 0;
  for (int l = 0; l < L_; ++l)
    for (long s : sizes) act_offsets_.push_back(offset), offset += s;
  for (long s : {BT * C, BT * C, BT, BT, BT * Vp_, BT}) act_offsets_.push_back(offset), offset += s;  // encoded, lnf, mean, rstd, logits, losses
  acts_.assign(offset, 0.0f);
  dacts_.assign(offset, 0.0f);
  scratch_.assign(2L * T_ * T_, 0.0f);
}

const ParamTensor& Gpt::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t;
  throw InputError("no parameter named " + name);
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
      long n = t.size;
      if (t.name == "transformer.wte.weight") n = static_cast<long>(V_) * C_;  // padded rows stay 0
      for (long i = 0; i < n; ++i) x[i] = std * normal_at(stream, static_cast<std::uint64_t>(i));
      std::fill(x + n, x + t.size, 0.0f);
    }
  }
}

void Gpt::zero_grads() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

float Gpt::forward(const int* inputs, const int* targets) {
  const int B = B_, T = T_, C = C_, BT = B_ * T_;
  inputs_.assign(inputs, inputs + BT);
  targets_.assign(targets, targets + BT);
  const int base = L_ * ACTS_PER_LAYER;
  float* encoded = act(base);
  k::embedding_forward(encoded, inputs, p(0), p(1), B, T, C);
  float* residual = encoded;
  for (int l = 0; l < L_; ++l) {
    const int pi = 2 + l * PER_LAYER, ai = l * ACTS_PER_LAYER;
    k::layernorm_forward(act(ai + LN1), act(ai + LN1_MEAN), act(ai + LN1_RSTD), residual, p(pi + LN1W), p(pi + LN1B), BT, C);
    k::matmul_forward(act(ai + QKV), act(ai + LN1), p(pi + QKVW), p(pi + QKVB), BT, C, 3 * C);
    k::attention_forward(act(ai + ATTY), act(ai + LSE), act(ai + QKV), scratch_.data(), B, T, C, NH_);
    k::matmul_forward(act(ai + ATTPROJ), act(ai + ATTY), p(pi + PROJW), p(pi + PROJB), BT, C, C);
    k::residual_forward(act(ai + RES2), residual, act(ai + ATTPROJ), static_cast<long>(BT) * C);
    k::layernorm_forward(act(ai + LN2), act(ai + LN2_MEAN), act(ai + LN2_RSTD), act(ai + RES2), p(pi + LN2W), p(pi + LN2B), BT, C);
    k::matmul_forward(act(ai + FCH), act(ai + LN2), p(pi + FCW), p(pi + FCB), BT, C, 4 * C);
    k::gelu_forward(act(ai + FCH_GELU), act(ai + FCH), 4L * BT * C);
    k::matmul_forward(act(ai + FCPROJ), act(ai + FCH_GELU), p(pi + FCPROJW), p(pi + FCPROJB), BT, 4 * C, C);
    k::residual_forward(act(ai + RES3), act(ai + RES2), act(ai + FCPROJ), static_cast<long>(BT) * C);
    residual = act(ai + RES3);
  }
  const int lnf = 2 + L_ * PER_LAYER;
  k::layernorm_forward(act(base + 1), act(base + 2), act(base + 3), residual, p(lnf), p(lnf + 1), BT, C);
  k::matmul_forward(act(base + 4), act(base + 1), p(0), nullptr, BT, C, Vp_);
  k::crossentropy_forward(act(base + 5), act(base + 4), targets, BT, V_, Vp_);
  double loss = 0;
  for (int i = 0; i < BT; ++i) loss += act(base + 5)[i];
  return static_cast<float>(loss / BT);
}

void Gpt::backward(float loss_scale, const std::function<void(long, long)>& ready) {
  const int B = B_, T = T_, C = C_, BT = B_ * T_;
  std::fill(dacts_.begin(), dacts_.end(), 0.0f);
  const int base = L_ * ACTS_PER_LAYER;
  const int lnf = 2 + L_ * PER_LAYER;
  float* dlogits = dact(base + 4);
  k::crossentropy_backward(dlogits, act(base + 4), targets_.data(), loss_scale / BT, BT, V_, Vp_);
  k::matmul_backward(dact(base + 1), g(0), nullptr, dlogits, act(base + 1), p(0), BT, C, Vp_);
  float* residual = L_ > 0 ? act((L_ - 1) * ACTS_PER_LAYER + RES3) : act(base);
  float* dresidual = L_ > 0 ? dact((L_ - 1) * ACTS_PER_LAYER + RES3) : dact(base);
  k::layernorm_backward(dresidual, g(lnf), g(lnf + 1), dact(base + 1), residual, p(lnf), act(base + 2), act(base + 3), BT, C);
  auto done = [&](int first, int last) {  // parameter tensors [first, last] are final
    if (ready) ready(tensors_[first].offset, tensors_[last].offset + tensors_[last].size - tensors_[first].offset);
  };
  done(lnf, lnf + 1);
  for (int l = L_ - 1; l >= 0; --l) {
    const int pi = 2 + l * PER_LAYER, ai = l * ACTS_PER_LAYER;
    float* in = l == 0 ? act(base) : act((l - 1) * ACTS_PER_LAYER + RES3);
    float* din = l == 0 ? dact(base) : dact((l - 1) * ACTS_PER_LAYER + RES3);
    const float* dres3 = dact(ai + RES3);
    k::residual_backward(dact(ai + RES2), dact(ai + FCPROJ), dres3, static_cast<long>(BT) * C);
    k::matmul_backward(dact(ai + FCH_GELU), g(pi + FCPROJW), g(pi + FCPROJB), dact(ai + FCPROJ), act(ai + FCH_GELU),
                       p(pi + FCPROJW), BT, 4 * C, C);
    k::gelu_backward(dact(ai + FCH), act(ai + FCH), dact(ai + FCH_GELU), 4L * BT * C);
    k::matmul_backward(dact(ai + LN2), g(pi + FCW), g(pi + FCB), dact(ai + FCH), act(ai + LN2), p(pi + FCW), BT, C, 4 * C);
    k::layernorm_backward(dact(ai + RES2), g(pi + LN2W), g(pi + LN2B), dact(ai + LN2), act(ai + RES2), p(pi + LN2W),
                          act(ai + LN2_MEAN), act(ai + LN2_RSTD), BT, C);
    k::residual_backward(din, dact(ai + ATTPROJ), dact(ai + RES2), static_cast<long>(BT) * C);
    k::matmul_backward(dact(ai + ATTY), g(pi + PROJW), g(pi + PROJB), dact(ai + ATTPROJ), act(ai + ATTY), p(pi + PROJW),
                       BT, C, C);
    k::attention_backward(dact(ai + QKV), dact(ai + ATTY), act(ai + ATTY), act(ai + QKV), act(ai + LSE), scratch_.data(),
                          B, T, C, NH_);
    k::matmul_backward(dact(ai + LN1), g(pi + QKVW), g(pi + QKVB), dact(ai + QKV), act(ai + LN1), p(pi + QKVW), BT, C,
                       3 * C);
    k::layernorm_backward(din, g(pi + LN1W), g(pi + LN1B), dact(ai + LN1), in, p(pi + LN1W), act(ai + LN1_MEAN),
                          act(ai + LN1_RSTD), BT, C);
    done(pi, pi + PER_LAYER - 1);
  }
  k::embedding_backward(g(0), g(1), dact(base), inputs_.data(), B, T, C);
  done(0, 1);
}

}  // namespace parallax::exec
