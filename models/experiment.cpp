#include "models/experiment.hpp"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>

namespace parallax {

std::string to_string(Norm v) { return v == Norm::layernorm ? "layernorm" : "rmsnorm"; }
std::string to_string(Activation v) { return v == Activation::gelu ? "gelu" : "swiglu"; }
std::string to_string(Position v) {
  switch (v) {
    case Position::learned:
      return "learned";
    case Position::rope:
      return "rope";
    case Position::alibi:
      return "alibi";
  }
  return "?";
}
std::string to_string(Schedule v) {
  switch (v) {
    case Schedule::gpipe:
      return "gpipe";
    case Schedule::one_f_one_b:
      return "1f1b";
    case Schedule::interleaved:
      return "interleaved-1f1b";
  }
  return "?";
}
std::string to_string(RecomputeMethod v) { return v == RecomputeMethod::uniform ? "uniform" : "block"; }

std::string to_string(Recompute v) {
  switch (v) {
    case Recompute::none:
      return "none";
    case Recompute::selective:
      return "selective";
    case Recompute::full:
      return "full";
  }
  return "?";
}
std::string to_string(Precision v) {
  switch (v) {
    case Precision::fp32:
      return "fp32";
    case Precision::fp16:
      return "fp16";
    case Precision::bf16:
      return "bf16";
    case Precision::fp8:
      return "fp8";
  }
  return "?";
}

std::string to_string(OptimizerState v) {
  switch (v) {
    case OptimizerState::fp32:
      return "fp32";
    case OptimizerState::remainders:
      return "remainders";
    case OptimizerState::bf16:
      return "bf16";
  }
  return "?";
}

std::string recompute_text(const TrainingConfig& t) {
  if (t.recompute == Recompute::full && t.recompute_layers > 0 && t.recompute_method == RecomputeMethod::uniform)
    return "full (uniform, groups of " + std::to_string(t.recompute_layers) + ")";
  if (t.recompute == Recompute::full && t.recompute_layers > 0)
    return "full (" + std::to_string(t.recompute_layers) + (t.recompute_layers == 1 ? " layer" : " layers") +
           " a chunk)";
  return to_string(t.recompute);
}

std::string sharding_text(const ParallelConfig& p) {
  switch (p.zero_stage()) {
    case 1:
      return ", distributed optimizer";
    case 2:
      return ", gradients and optimizer state sharded (ZeRO-2)";
    case 3:
      return std::string(", fully sharded (FSDP") +
             (p.reshard_after_forward ? "" : ", weights kept forward to backward") +
             (p.fsdp_per_tensor ? ", tensor by tensor" : "") + ")";
  }
  return "";
}

std::string plan_name(int tp, int pp, int dp, int micro_batch, int vpp, int cp, int ep) {
  std::string s;
  for (auto [letter, value] :
       {std::pair{'t', tp}, {'c', cp}, {'p', pp}, {'d', dp}, {'e', ep}, {'m', micro_batch}, {'v', vpp}}) {
    if ((letter == 'v' || letter == 'c' || letter == 'e') && value <= 1) continue;
    s += letter;
    s += std::to_string(value);
  }
  return s;
}

int bytes_per_element(Precision p) { return p == Precision::fp32 ? 4 : 2; }

Precision non_gemm_precision(Precision p) { return p == Precision::fp8 ? Precision::bf16 : p; }

bool fp32_gradients(const TrainingConfig& t) {
  return t.precision == Precision::fp32 || t.grad_reduce_in_fp32.value_or(t.precision != Precision::fp16);
}
double gradient_bytes(const TrainingConfig& t) { return fp32_gradients(t) ? 4.0 : 2.0; }

// ZeRO paper sec. 3.1: fp32 master weights and Adam moments (12), plus fp16's fp32 gradient
// copy (4); fp32 training keeps only the moments (8). Remainders: 2 + 4 + 4; bf16: 2 + 2.
double optimizer_state_bytes(const TrainingConfig& t) {
  switch (t.optimizer_state) {
    case OptimizerState::remainders:
      return 10.0;
    case OptimizerState::bf16:
      return 4.0;
    case OptimizerState::fp32:
      break;
  }
  return t.precision == Precision::fp32 ? 8.0 : t.precision == Precision::fp16 ? 16.0 : 12.0;
}

double peak_flops(const DeviceSpec& d, Precision p) {
  switch (p) {
    case Precision::fp32:
      return d.peak_tflops_fp32 * 1e12;
    case Precision::fp16:
      return d.peak_tflops_fp16 * 1e12;
    case Precision::bf16:
      return d.peak_tflops_bf16 * 1e12;
    case Precision::fp8:
      return d.peak_tflops_fp8 * 1e12;
  }
  return 0;
}

double ModelConfig::parameters() const {
  const double h = hidden, kv_width = static_cast<double>(kv_heads) * head_dim();
  const double mlp = (activation == Activation::swiglu ? 3 : 2) * h * mlp_width();
  const double per_layer = h * (h + 2 * kv_width) + h * h + (moe() ? experts * (mlp + h) : mlp);
  return layers * per_layer + (tied_embeddings ? 1 : 2) * h * vocab;
}

double Experiment::recomputed_fraction() const {
  if (training.recompute != Recompute::full || training.recompute_layers == 0 ||
      training.recompute_method == RecomputeMethod::uniform)
    return 1.0;
  const double per_chunk = static_cast<double>(model.layers) / (parallel.pp * parallel.vpp);
  return std::min(1.0, training.recompute_layers / per_chunk);
}

int Experiment::fewest_stage_layers() const {
  int fewest = layers_on_stage(0);
  for (int stage = 1; stage < parallel.pp; ++stage) fewest = std::min(fewest, layers_on_stage(stage));
  return fewest;
}

int Experiment::most_stage_layers() const {
  int most = layers_on_stage(0);
  for (int stage = 1; stage < parallel.pp; ++stage) most = std::max(most, layers_on_stage(stage));
  return most;
}

int Experiment::most_chunk_layers() const { return most_chunk_layers(parallel.vpp); }
int Experiment::most_chunk_layers(int vpp) const { return std::max(1, most_stage_layers() / vpp); }

int Experiment::layers_on_stage(int stage) const {
  if (!parallel.stage_layers.empty()) return parallel.stage_layers.at(stage);
  return model.layers / parallel.pp;
}

namespace {
void require(bool ok, const std::string& message) {
  if (!ok) throw InputError(message);
}
void positive(int v, const std::string& key) {
  require(v > 0, key + " = " + std::to_string(v) + " must be a positive integer");
}
void positive_degrees(const ParallelConfig& p) {
  positive(p.tp, "parallel.tp");
  positive(p.pp, "parallel.pp");
  positive(p.dp, "parallel.dp");
  positive(p.vpp, "parallel.vpp");
  positive(p.cp, "parallel.cp");
  positive(p.ep, "parallel.ep");
}
void positive(double v, const std::string& key) {
  require(v > 0, key + " = " + std::to_string(v) + " must be positive");
}
void zero_or_positive(double v, const std::string& key) {
  require(v >= 0, key + " = " + std::to_string(v) + " must be zero or positive");
}
}  // namespace

void validate(const Experiment& e) {
  validate_model_and_system(e);
  validate_plan(e);
}

void validate_calibration(const Calibration& c) {
  // Efficiencies that are fractions of a peak (FLOP/s, memory bandwidth, a link) lie in (0, 1];
  // the collectives' busbw efficiencies are only positive, as in-network reduction (NVLink
  // SHARP) can pass the ring's bound; costs and overheads may be zero.
  enum Range { fraction, above_zero, zero_or_more, zero_to_one };
  for (const auto& [value, key, range] : std::initializer_list<std::tuple<double, const char*, Range>>{
           {c.gemm_efficiency, "gemm_efficiency", fraction},
           {c.misaligned_gemm_efficiency, "misaligned_gemm_efficiency", fraction},
           {c.memory_efficiency, "memory_efficiency", fraction},
           {c.flash_attention_efficiency, "flash_attention_efficiency", fraction},
           {c.dp_reduce_efficiency, "dp_reduce_efficiency", fraction},
           {c.thread_efficiency, "thread_efficiency", fraction},
           {c.p2p_efficiency_inter, "p2p_efficiency_inter", zero_to_one},  // 0: as the collectives
           {c.busbw_efficiency_intra, "busbw_efficiency_intra", above_zero},
           {c.busbw_efficiency_inter, "busbw_efficiency_inter", above_zero},
           {c.gemm_tile_m, "gemm_tile_m", above_zero},
           {c.gemm_tile_n, "gemm_tile_n", above_zero},
           {c.activation_memory_factor, "activation_memory_factor", above_zero},
           {c.gemm_k_half, "gemm_k_half", zero_or_more},
           {c.kernel_launch_us, "kernel_launch_us", zero_or_more},
           {c.memory_overhead_gib, "memory_overhead_gib", zero_or_more},
           {c.pass_overhead_us, "pass_overhead_us", zero_or_more}}) {
    const std::string name = std::string("system.calibration.") + key;
    if (range == fraction || range == above_zero) positive(value, name);
    if (range == zero_or_more || range == zero_to_one) zero_or_positive(value, name);
    if (range == fraction || range == zero_to_one)
      require(value <= 1, name + " = " + std::to_string(value) + " must be at most 1 (a fraction of the peak)");
  }
}

void validate_model_and_system(const Experiment& e) {
  const auto& m = e.model;
  positive(m.layers, "model.layers");
  positive(m.hidden, "model.hidden");
  positive(m.heads, "model.heads");
  positive(m.kv_heads, "model.kv_heads");
  positive(m.ffn_hidden, "model.ffn_hidden");
  positive(m.seq_len, "model.seq_len");
  positive(m.vocab, "model.vocab");
  require(m.hidden % m.heads == 0, "model.hidden = " + std::to_string(m.hidden) +
                                       " must be a multiple of model.heads = " + std::to_string(m.heads));
  require(m.heads % m.kv_heads == 0,
          "model.kv_heads = " + std::to_string(m.kv_heads) + " must divide model.heads = " + std::to_string(m.heads));
  require(m.dropout >= 0 && m.dropout < 1, "model.dropout must be in [0, 1) (a probability of dropping)");
  require(m.experts >= 0 && m.experts <= 65536, "model.experts = " + std::to_string(m.experts) +
                                                    " must be 0 (a dense model) or a positive integer up to 65536");
  if (m.moe()) {
    require(m.top_k >= 1 && m.top_k <= m.experts,
            "model.top_k = " + std::to_string(m.top_k) +
                " must be between 1 and model.experts = " + std::to_string(m.experts));
    positive(m.moe_ffn_hidden, "model.moe_ffn_hidden");
  } else {
    require(m.top_k == 0 && m.moe_ffn_hidden == 0, "model.top_k and model.moe_ffn_hidden need model.experts > 0");
  }

  const auto& s = e.system;
  positive(s.gpus, "system.gpus");
  positive(s.gpus_per_node, "system.gpus_per_node");
  positive(s.device.memory_gib, "system.device.memory_gib");
  positive(s.device.memory_gbps, "system.device.memory_gbps");
  positive(s.device.sms, "system.device.sms");
  require(s.memory_headroom_fraction >= 0 && s.memory_headroom_fraction < 1,
          "system.memory_headroom_fraction must be in [0, 1) (a share of the device's memory)");
  require(s.memory_headroom_gib >= 0, "system.memory_headroom_GiB must be zero or positive");
  require(s.usable_memory_bytes() > 0,
          "system.memory_headroom_GiB and memory_headroom_fraction leave no device memory");
  for (const auto& [value, key] : std::initializer_list<std::pair<double, const char*>>{
           {s.device.peak_tflops_fp32, "system.device.peak_tflops_fp32"},
           {s.device.peak_tflops_fp16, "system.device.peak_tflops_fp16"},
           {s.device.peak_tflops_bf16, "system.device.peak_tflops_bf16"},
           {s.device.peak_tflops_fp8, "system.device.peak_tflops_fp8"},
           {s.device.peak_tflops_vector_fp16, "system.device.peak_tflops_vector_fp16"},
           {s.intra_node.latency_us, "system.intra_node.latency_us"},
           {s.inter_node.latency_us, "system.inter_node.latency_us"}})
    zero_or_positive(value, key);
  // 16-bit GEMMs with a size that is not a multiple of 8 run on the vector units (gemm_model).
  require(e.training.precision == Precision::fp32 || s.device.peak_tflops_vector_fp16 > 0,
          "system.device.peak_tflops_vector_fp16 = 0: training.precision = \"" + to_string(e.training.precision) +
              "\" needs it, as 16-bit GEMMs with a size not a multiple of 8 run on the vector units");
  require(peak_flops(s.device, e.training.precision) > 0,
          "training.precision = \"" + to_string(e.training.precision) + "\" is not supported by " + s.device.name +
              " (system.device.peak_tflops_" + to_string(e.training.precision) + " is 0)");
  require(!(e.training.precision == Precision::fp32 && e.training.grad_reduce_in_fp32 == false),
          "training.grad_reduce_in_fp32 = false needs a 16-bit or fp8 training.precision (got \"fp32\")");
  require(e.training.optimizer_state == OptimizerState::fp32 || e.training.precision == Precision::bf16 ||
              e.training.precision == Precision::fp8,
          "training.optimizer_state = \"" + to_string(e.training.optimizer_state) +
              "\" needs bf16 weights: training.precision \"bf16\" or \"fp8\" (got \"" +
              to_string(e.training.precision) + "\")");
  positive(s.intra_node.bandwidth_gbps, "system.intra_node.bandwidth_gbps");
  positive(s.inter_node.bandwidth_gbps, "system.inter_node.bandwidth_gbps");
  validate_calibration(s.calibration);
  positive(e.training.global_batch, "training.global_batch");
  positive(e.training.micro_batch, "training.micro_batch");
  require(e.parallel.fsdp || !e.parallel.fsdp_per_tensor, "parallel.fsdp_per_tensor = true needs parallel.fsdp = true");
  require(e.parallel.fsdp || e.parallel.reshard_after_forward,
          "parallel.reshard_after_forward = false needs parallel.fsdp = true (only FSDP shards the weights)");
  // The degrees a sweep varies are still sizes (cp and ep it keeps as given).
  positive_degrees(e.parallel);
  require(e.training.recompute_layers >= 0,
          "training.recompute_layers = " + std::to_string(e.training.recompute_layers) +
              " must be zero (every layer) or a positive integer");
}

bool tp_fits_heads(const ModelConfig& m, int tp) {
  return m.heads % tp == 0 && (m.kv_heads % tp == 0 || tp % m.kv_heads == 0);
}

bool ep_fits(const ModelConfig& m, int ep, int dp, int cp) {
  return ep == 1 || (m.moe() && m.experts % ep == 0 && dp * cp % ep == 0);
}

bool layers_divide(const ModelConfig& m, int pp, int vpp) { return m.layers % (static_cast<long long>(pp) * vpp) == 0; }

void validate_plan(const Experiment& e) {
  const auto& m = e.model;
  const auto& s = e.system;
  const auto& p = e.parallel;
  positive_degrees(p);
  if (!ep_fits(m, p.ep, p.dp, p.cp)) {  // which rule, in words
    require(m.moe(), "parallel.ep = " + std::to_string(p.ep) + " needs an MoE model (model.experts > 0)");
    require(m.experts % p.ep == 0,
            "parallel.ep = " + std::to_string(p.ep) + " must divide model.experts = " + std::to_string(m.experts));
    require(false, "parallel.ep = " + std::to_string(p.ep) + " must divide parallel.dp*parallel.cp = " +
                       std::to_string(p.dp * p.cp) + " (expert-parallel ranks come from them)");
  }
  if (!tp_fits_heads(m, p.tp)) {
    require(m.heads % p.tp == 0, "parallel.tp = " + std::to_string(p.tp) + " must divide model.heads = " +
                                     std::to_string(m.heads) + " (allowed: divisors of the head count)");
    require(false, "parallel.tp = " + std::to_string(p.tp) + " and model.kv_heads = " + std::to_string(m.kv_heads) +
                       ": one must divide the other");
  }
  {
    std::string names = "tp*", values = std::to_string(p.tp) + "*";
    if (p.cp > 1) names += "cp*", values += std::to_string(p.cp) + "*";
    names += "pp*dp", values += std::to_string(p.pp) + "*" + std::to_string(p.dp);
    const long long product = static_cast<long long>(p.tp) * p.cp * p.pp * p.dp;
    require(product == s.gpus, "parallel: " + names + " = " + values + " = " + std::to_string(product) +
                                   " must equal the devices in the job (system.gpus = " + std::to_string(s.gpus) + ")");
  }
  // Megatron-Core balances causal attention by cutting each sequence into 2*cp chunks.
  require(p.cp == 1 || m.seq_len % (2 * p.cp) == 0, "parallel.cp = " + std::to_string(p.cp) +
                                                        " needs model.seq_len = " + std::to_string(m.seq_len) +
                                                        " divisible by 2*cp");
  if (p.stage_layers.empty()) {
    const long long chunks = static_cast<long long>(p.pp) * p.vpp;
    require(layers_divide(m, p.pp, p.vpp),
            "model.layers = " + std::to_string(m.layers) +
                " must be divisible by parallel.pp*parallel.vpp = " + std::to_string(chunks));
  } else {
    require(static_cast<int>(p.stage_layers.size()) == p.pp,
            "parallel.stage_layers needs one entry per pipeline stage (pp = " + std::to_string(p.pp) + ")");
    int total = 0;
    for (int l : p.stage_layers) {
      // One layer per model chunk; an end stage may leave one chunk to its embedding or loss
      // (Megatron-Core's account_for_embedding/loss_in_pipeline_split).
      require(l >= p.vpp - 1, "parallel.stage_layers: every stage needs at least parallel.vpp - 1 = " +
                                  std::to_string(p.vpp - 1) + " layers (one per model chunk but one)");
      total += l;
    }
    require(total == m.layers, "parallel.stage_layers must add up to model.layers");
  }
  require(!(p.schedule == Schedule::interleaved && p.vpp < 2),
          "parallel.schedule = \"interleaved-1f1b\" needs parallel.vpp >= 2 (got vpp = " + std::to_string(p.vpp) + ")");
  require(!(p.schedule == Schedule::interleaved && p.pp < 2),
          "parallel.schedule = \"interleaved-1f1b\" needs parallel.pp >= 2 (got pp = " + std::to_string(p.pp) + ")");
  require(!(p.vpp > 1 && p.schedule != Schedule::interleaved),
          "parallel.vpp = " + std::to_string(p.vpp) + " needs parallel.schedule = \"interleaved-1f1b\" (got \"" +
              to_string(p.schedule) + "\")");

  const auto& t = e.training;
  const long long per_step = static_cast<long long>(t.micro_batch) * p.dp;
  require(t.global_batch % per_step == 0,
          "training.global_batch = " + std::to_string(t.global_batch) +
              " must be divisible by training.micro_batch*parallel.dp = " + std::to_string(per_step));
  // The event simulation walks every micro-batch: a million per iteration take seconds and a GiB.
  constexpr int kMostMicroBatches = 1 << 20;
  require(e.micro_batches() <= kMostMicroBatches,
          "training.global_batch/(micro_batch*dp) = " + std::to_string(e.micro_batches()) +
              " micro-batches per iteration; at most " + std::to_string(kMostMicroBatches) + " are simulated");
  if (p.schedule == Schedule::interleaved) {
    require(e.micro_batches() >= p.pp,
            "interleaved-1f1b needs at least pp micro-batches per iteration: global_batch/(micro_batch*dp) = " +
                std::to_string(e.micro_batches()) + " < pp = " + std::to_string(p.pp));
  }
  if (t.recompute_layers != 0) {
    require(t.recompute == Recompute::full, "training.recompute_layers needs training.recompute = \"full\"");
    const int most = e.most_chunk_layers();
    require(t.recompute_layers >= 1 && t.recompute_layers <= most,
            "training.recompute_layers = " + std::to_string(t.recompute_layers) +
                " must be between 1 and the layers of a model chunk (" + std::to_string(most) + "), or 0 for all");
  }
}

}  // namespace parallax
