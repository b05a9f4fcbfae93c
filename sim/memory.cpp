#include "sim/memory.hpp"

#include <algorithm>
#include <cmath>

#include "sim/layer_costs.hpp"

namespace parallax::sim {

namespace {
// Output columns of the fused QKV projection over all TP ranks: the queries and the K/V heads,
// each TP rank holding at least one K/V head.
double qkv_width(const ModelConfig& m, int tp) { return m.hidden + 2.0 * std::max(m.kv_heads, tp) * m.head_dim(); }
// Output columns of the up projection for an MLP of width f (gate and up fused for SwiGLU).
double up_width(const ModelConfig& m, double f) { return (m.activation == Activation::swiglu ? 2 : 1) * f; }
}  // namespace

double layer_params_per_device(const ModelConfig& m, int tp, int ep) {
  const double h = m.hidden, f = m.ffn_hidden;
  const bool biases = m.norm == Norm::layernorm;
  const double qkv = h * qkv_width(m, tp) + (biases ? qkv_width(m, tp) : 0);
  const double proj = h * h;
  const double norms = biases ? 4 * h : 2 * h;
  // The router (h x experts) is replicated over TP; each expert has its own down bias.
  if (m.moe())
    return (qkv + proj) / tp + norms + (biases ? h : 0) + h * m.experts + layer_expert_params_per_device(m, tp, ep);
  const double replicated = norms + (biases ? 2 * h : 0);  // proj and down biases
  const double mlp = h * (up_width(m, f) + f) + (biases ? f : 0);
  return (qkv + proj + mlp) / tp + replicated;
}

double layer_expert_params_per_device(const ModelConfig& m, int tp, int ep) {
  if (!m.moe()) return 0;
  const double h = m.hidden, f = m.moe_ffn_hidden;
  const bool biases = m.norm == Norm::layernorm;
  const double expert = h * (up_width(m, f) + f) + (biases ? f + h : 0);
  return static_cast<double>(m.experts) / ep * expert / tp;
}

double vocab_params_per_device(const ModelConfig& m, int tp) {
  return static_cast<double>(padded_vocab(m, tp)) * m.hidden / tp;
}

double embedding_params_per_device(const ModelConfig& m, int tp) {
  double params = vocab_params_per_device(m, tp);
  if (m.position == Position::learned) params += static_cast<double>(m.seq_len) * m.hidden;
  return params;
}

// Untied LM head, or the tied copy Megatron keeps on the last stage when pp > 1.
bool head_holds_output_weights(const ModelConfig& m, const ParallelConfig& p) { return !m.tied_embeddings || p.pp > 1; }

double head_params_per_device(const ModelConfig& m, const ParallelConfig& p) {
  double params = (m.norm == Norm::layernorm ? 2.0 : 1.0) * m.hidden;
  if (head_holds_output_weights(m, p)) params += vocab_params_per_device(m, p.tp);
  return params;
}

WeightTensors layer_weight_tensors(const ModelConfig& m, int ep) {
  const int per_weight = m.norm == Norm::layernorm ? 2 : 1;  // with its bias
  WeightTensors n;
  n.dense = per_weight * 4;  // two norms, QKV, output projection
  if (m.moe()) {
    n.dense += 1;  // router
    n.experts = m.experts / ep * 2 * per_weight;
  } else {
    n.dense += 2 * per_weight;  // up (gate and up fused) and down projections
  }
  return n;
}

int embedding_weight_tensors(const ModelConfig& m) { return m.position == Position::learned ? 2 : 1; }

int head_weight_tensors(const ModelConfig& m, const ParallelConfig& p) {
  return (m.norm == Norm::layernorm ? 2 : 1) + (head_holds_output_weights(m, p) ? 1 : 0);
}

double largest_layer_tensor_per_device(const ModelConfig& m, int tp) {
  const double h = m.hidden, f = m.mlp_width();
  return h * std::max({qkv_width(m, tp), up_width(m, f), f}) / tp;
}

std::array<ReplicaGroup, 2> replica_groups(const ParallelConfig& p, double params, double experts) {
  const int n = p.dp * p.cp;
  return {ReplicaGroup{params - experts, n, p.tp}, ReplicaGroup{experts, n / p.ep, p.tp * p.ep}};
}

namespace {
double stage_layer_params_per_device(const Experiment& e, int stage) {
  return e.layers_on_stage(stage) * layer_params_per_device(e.model, e.parallel.tp, e.parallel.ep);
}
double stage_end_params_per_device(const Experiment& e, int stage) {
  double params = 0;
  if (stage == 0) params += embedding_params_per_device(e.model, e.parallel.tp);
  if (stage == e.parallel.pp - 1) params += head_params_per_device(e.model, e.parallel);
  return params;
}
}  // namespace

double stage_params_per_device(const Experiment& e, int stage) {
  return stage_layer_params_per_device(e, stage) + stage_end_params_per_device(e, stage);
}

double stage_expert_params_per_device(const Experiment& e, int stage) {
  const auto& m = e.model;
  if (!m.moe()) return 0;
  return e.layers_on_stage(stage) * layer_expert_params_per_device(m, e.parallel.tp, e.parallel.ep);
}

namespace {
double sharded(const ParallelConfig& p, double params, double experts) {
  if (!p.shards_state()) return params;
  double shard = 0;
  for (const ReplicaGroup& g : replica_groups(p, params, experts)) shard += g.params / g.ranks;
  return shard;
}
}  // namespace

double sharded_state_params(const Experiment& e, int stage, double params) {
  return sharded(e.parallel, params, stage_expert_params_per_device(e, stage));
}

namespace {
struct Bytes {
  double E, s, b, h, a, d, kv, f, t, c;  // s: tokens of a sequence on this rank (seq_len / cp)
  bool sp, flash, swiglu;
  double mask = 1;            // bytes of an element of a dropout mask; 0 without dropout
  double k = 1, experts = 0;  // MoE: experts each token visits, experts in the layer
  // Bytes of a linear layer's saved input: Transformer Engine keeps the FP8 cast it fed the
  // GEMM (for the weight gradient) under fp8, the 16-bit tensor otherwise.
  double G = 0;
};
Bytes bytes_of(const Experiment& e) {
  const auto& m = e.model;
  Bytes x{static_cast<double>(bytes_per_element(e.training.precision)),
          static_cast<double>(m.seq_len) / e.parallel.cp,
          static_cast<double>(e.training.micro_batch),
          static_cast<double>(m.hidden),
          static_cast<double>(m.heads),
          static_cast<double>(m.head_dim()),
          static_cast<double>(std::max(m.kv_heads, e.parallel.tp)),
          static_cast<double>(m.mlp_width()),
          static_cast<double>(e.parallel.tp),
          static_cast<double>(e.parallel.cp),
          e.parallel.sequence_parallel && e.parallel.tp > 1,
          e.training.flash_attention,
          m.activation == Activation::swiglu};
  if (m.moe()) {
    x.k = m.top_k;
    x.experts = m.experts;
  }
  x.G = e.training.precision == Precision::fp8 ? 1.0 : x.E;
  x.mask = m.dropout > 0 ? 1.0 : 0.0;
  return x;
}

// Korthikanti Table 2 term by term: LN inputs, QKV and MLP inputs, dropout masks outside
// the TP regions (split by t with sequence parallelism); Q, K, V, projection input, MLP
// activations and the s x s softmax/dropout tensors inside them (always split by t); without
// dropout neither its masks nor the attention's dropout output are kept. Under
// fp8 the GEMM inputs are kept as FP8 (G = 1 byte), and the projection's FP8 input sits beside
// the attention output that the attention backward reads.
double activations(const Bytes& x, bool keep_attention_scores) {
  const double sbh = x.s * x.b * x.h;
  const double outside = (2 * x.E + 2 * x.G + 2 * x.mask) * sbh / (x.sp ? x.t : 1);
  double inside = x.E * x.s * x.b * (x.h + 2 * x.kv * x.d) / x.t                     // Q, K, V
                  + (x.E + (x.G < x.E ? x.G : 0)) * sbh / x.t                        // projection input
                  + x.k * x.s * x.b * x.f * (x.E * (x.swiglu ? 2 : 1) + x.G) / x.t;  // MLP activation in/out
  // MoE: the router's fp32 logits and the k copies of each token dispatched to the experts.
  if (x.experts > 0) inside += (4 * x.experts + x.k * x.E * x.h) * x.s * x.b / x.t;
  if (x.flash)
    inside += 4.0 * x.a * x.s * x.b / x.t;  // softmax statistics (fp32)
  else if (keep_attention_scores)
    inside +=
        (x.E + (x.mask > 0 ? x.E + x.mask : 0)) * x.a * x.s * (x.s * x.c) * x.b / x.t;  // softmax, dropout mask and out
  return outside + inside;
}
}  // namespace

double layer_working_bytes(const Experiment& e) { return activations(bytes_of(e), true); }

double layer_activation_bytes(const Experiment& e) {
  const Bytes x = bytes_of(e);
  switch (e.training.recompute) {
    case Recompute::none:
      return activations(x, true);
    case Recompute::selective:
      return activations(x, false);
    case Recompute::full:
      return x.E * x.s * x.b * x.h / (x.sp ? x.t : 1);  // the layer's input
  }
  return 0;
}

StageMemory stage_memory_at(const Experiment& e, int stage, int in_flight, int chunks) {
  const auto& p = e.parallel;
  const auto& t = e.training;
  const auto& m = e.model;
  const bool mixed = t.precision != Precision::fp32;
  // Mixed precision (ZeRO paper sec. 3.1, as Megatron and DeepSpeed implement it): 16-bit
  // weights; gradients in the fp32 main-gradient buffer, or in 16-bit (fp16's default, NeMo's
  // grad_reduce_in_fp32 = False), plus the 16-bit .grad of bf16 without gradient-accumulation
  // fusion; optimizer state (optimizer_state_bytes) sharded over DP with the distributed
  // optimizer. (bf16's copy of 16-bit gradients lives only during the step, when the
  // activations are gone.) fp32 training: 4 + 4 + 8. fp8 as bf16, plus Transformer Engine's
  // cached FP8 copy of each transformer-layer weight and of its transpose (2); the embedding
  // and the LM head run in bf16 and have none.
  const double layer_params = stage_layer_params_per_device(e, stage);
  const double params = layer_params + stage_end_params_per_device(e, stage);
  const double weight_bytes =
      !mixed ? 4 : 2 + (t.precision == Precision::fp8 && params > 0 ? 2 * layer_params / params : 0);
  double grad_bytes = gradient_bytes(t);
  if (mixed && t.precision != Precision::fp16 && !t.gradient_accumulation_fusion) grad_bytes += 2;
  const double optimizer_bytes = optimizer_state_bytes(t);
  const double E = bytes_per_element(t.precision);
  const double tok = static_cast<double>(t.micro_batch) * m.seq_len / p.cp;  // tokens per rank

  StageMemory sm;
  sm.stage = stage;
  const double state = sharded(p, params, stage_expert_params_per_device(e, stage));
  sm.weights = params * weight_bytes;
  sm.gradients = params * grad_bytes;
  sm.optimizer = state * optimizer_bytes;
  if (p.shards_gradients()) {
    // Only a shard of the gradients stays, and one unit's unsharded gradients come and go (the
    // largest unit: a layer, or a weight tensor when they are gathered one by one, or the
    // embedding on a stage that holds it). Under FSDP likewise the weights: the unit being
    // computed and the one prefetched behind it; not resharded after forward, the whole
    // stage's gathered weights stay from the first forward to the last backward.
    double unit = p.fsdp_per_tensor ? largest_layer_tensor_per_device(m, p.tp) : layer_params_per_device(m, p.tp, p.ep);
    if (stage == 0 || (stage == p.pp - 1 && head_holds_output_weights(m, p)))
      unit = std::max(unit, vocab_params_per_device(m, p.tp));
    sm.gradients = state * grad_bytes + unit * grad_bytes;
    if (p.fsdp)
      sm.weights =
          state * weight_bytes + (p.reshard_after_forward ? 2 * unit : params) * bytes_per_element(t.precision);
  }
  const double layers_per_chunk = static_cast<double>(e.layers_on_stage(stage)) / chunks;
  const bool uniform_groups =
      t.recompute == Recompute::full && t.recompute_method == RecomputeMethod::uniform && t.recompute_layers > 1;
  if (uniform_groups) {
    // Uniform recomputation: the input of each group of recompute_layers layers is kept, and
    // one group's activations live at a time while its backward re-runs it.
    const double group = std::min<double>(t.recompute_layers, layers_per_chunk);
    sm.activations =
        in_flight * std::ceil(layers_per_chunk / group) * layer_activation_bytes(e) + group * layer_working_bytes(e);
  } else {
    // Block recomputation of some layers per chunk: the others keep all their activations.
    const double recomputed = t.recompute == Recompute::full && t.recompute_layers > 0
                                  ? std::min<double>(t.recompute_layers, layers_per_chunk)
                                  : layers_per_chunk;
    sm.activations = in_flight * recomputed * layer_activation_bytes(e);
    if (recomputed < layers_per_chunk)
      sm.activations += in_flight * (layers_per_chunk - recomputed) * activations(bytes_of(e), true);
    if (t.recompute == Recompute::full) sm.activations += layer_working_bytes(e);
  }
  if (stage == 0 && m.dropout > 0)
    sm.activations += in_flight * tok * m.hidden / (p.sequence_parallel ? p.tp : 1);  // the embedding's dropout mask
  if (stage == p.pp - 1) {
    // Logits in 16-bit and fp32 for the loss (one tensor in fp32 training), and their
    // gradient: one micro-batch at a time.
    const double vocab = static_cast<double>(padded_vocab(m, p.tp)) / p.tp;
    sm.activations += tok * vocab * ((mixed ? E : 0) + 4 + 4);
  }
  sm.activations *= e.system.calibration.activation_memory_factor;
  sm.other = e.system.calibration.memory_overhead_gib * 1024.0 * 1024.0 * 1024.0;
  return sm;
}

std::vector<StageMemory> stage_memory(const Experiment& e, const PipelineSchedule& s) {
  std::vector<StageMemory> out;
  for (int stage = 0; stage < e.parallel.pp; ++stage)
    out.push_back(stage_memory_at(e, stage, peak_in_flight(s.ranks[stage]), s.chunks));
  return out;
}

}  // namespace parallax::sim
