#include "sim/flops.hpp"

namespace parallax::sim {

namespace {
double weight_flops_per_token(const ModelConfig& m) {
  const double h = m.hidden;
  const double kv_width = static_cast<double>(m.kv_heads) * m.head_dim();
  const double qkv = h * (h + 2.0 * kv_width);
  const double proj = h * h;
  // An MoE token passes through top_k experts (Megatron-Core's num_floating_point_operations;
  // the router's h x experts GEMM is not counted there either).
  const double mlp = (m.moe() ? m.top_k : 1) * (m.activation == Activation::swiglu ? 3.0 : 2.0) * h * m.mlp_width();
  return 2.0 * (qkv + proj + mlp);
}
double tokens(const Experiment& e) { return static_cast<double>(e.training.global_batch) * e.model.seq_len; }
double head_flops_per_token(const ModelConfig& m) { return 2.0 * m.hidden * m.vocab; }
}  // namespace

double attention_core_flops_per_token(const ModelConfig& m) { return 4.0 * m.seq_len * m.hidden; }

double layer_forward_flops_per_token(const ModelConfig& m) {
  return weight_flops_per_token(m) + attention_core_flops_per_token(m);
}

double model_flops(const Experiment& e) {
  const auto& m = e.model;
  return 3.0 * tokens(e) * (m.layers * layer_forward_flops_per_token(m) + head_flops_per_token(m));
}

double hardware_flops(const Experiment& e) {
  const auto& m = e.model;
  double recompute_per_token = 0;
  if (e.training.recompute == Recompute::full)
    recompute_per_token = e.recomputed_fraction() * m.layers * layer_forward_flops_per_token(m);
  if (e.training.recompute == Recompute::selective) recompute_per_token = m.layers * attention_core_flops_per_token(m);
  return model_flops(e) + tokens(e) * recompute_per_token;
}

double megatron96_flops(const Experiment& e) {
  const auto& m = e.model;
  const double h = m.hidden, s = m.seq_len, L = m.layers, V = m.vocab;
  return 96.0 * tokens(e) * L * h * h * (1.0 + s / (6.0 * h) + V / (16.0 * L * h));
}

Throughput throughput(const Experiment& e, double iteration_s) {
  const double per_gpu = model_flops(e) / (iteration_s * e.system.gpus);
  return {static_cast<double>(e.training.global_batch) * e.model.seq_len / iteration_s, per_gpu / 1e12,
          per_gpu / 1e12 / (peak_flops(e.system.device, e.training.precision) / 1e12)};
}

}  // namespace parallax::sim
