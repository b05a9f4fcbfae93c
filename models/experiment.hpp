// The plain value types that describe one experiment: model, system, parallel plan, training.
// Read once from TOML (models/toml_reader.cpp); everything downstream takes them by const&.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace parallax {

// Input that a user can fix: reported as one line on stderr with exit status 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Norm { layernorm, rmsnorm };
enum class Activation { gelu, swiglu };
enum class Position { learned, rope, alibi };
enum class Schedule { gpipe, one_f_one_b, interleaved };
enum class Recompute { none, selective, full };
// Megatron's --recompute-method under full recomputation: "uniform" checkpoints the input of
// every group of recompute_layers consecutive layers and recomputes every layer; "block"
// recomputes the first recompute_layers layers of each model chunk, one at a time, and keeps
// all the activations of the others.
enum class RecomputeMethod { uniform, block };
// fp8: the transformer's linear layers run as FP8 GEMMs (Transformer Engine's recipe, as in
// Megatron-Core and NeMo); activations, communication, attention and the optimizer stay bf16.
enum class Precision { fp32, fp16, bf16, fp8 };
// What Adam keeps beside the 16-bit weights: fp32 master weights and moments (Megatron,
// DeepSpeed); the 16 bits bf16 weights lack of their fp32 master with fp32 moments (Apex
// DistributedFusedAdam's and Transformer Engine FusedAdam's store_param_remainders, NeMo 1.x's
// bf16 default); bf16 moments and no master copy (Apex DistributedFusedAdam with dtype = bf16).
enum class OptimizerState { fp32, remainders, bf16 };

struct ModelConfig {
  std::string name = "custom";
  int layers = 0;
  int hidden = 0;
  int heads = 0;
  int kv_heads = 0;    // query groups (GQA); = heads for multi-head attention
  int ffn_hidden = 0;  // 4*hidden by default
  int seq_len = 0;
  int vocab = 0;
  Norm norm = Norm::layernorm;
  Activation activation = Activation::gelu;
  Position position = Position::learned;
  bool tied_embeddings = true;
  // Megatron's --hidden-dropout and --attention-dropout (0.1 both by default): with dropout the
  // backward keeps each dropout's mask (Korthikanti et al. 2022, Table 2); 0 keeps none.
  double dropout = 0.1;
  // Mixture of experts (Shazeer et al. 2017; Mixtral, Jiang et al. 2024): every layer's MLP is
  // `experts` MLPs of width moe_ffn_hidden, each token routed to top_k of them. 0 = dense.
  int experts = 0;
  int top_k = 0;           // 2 by default for an MoE model
  int moe_ffn_hidden = 0;  // ffn_hidden by default

  int head_dim() const { return hidden / heads; }
  bool moe() const { return experts > 0; }
  // Weights of the linear layers, embeddings and router (no norms or biases), in all experts.
  double parameters() const;
  int mlp_width() const { return moe() ? moe_ffn_hidden : ffn_hidden; }
};

// A device: peak dense FLOP/s per precision, memory size and bandwidth.
struct DeviceSpec {
  std::string name;
  int sms = 1;  // streaming multiprocessors (cores on a CPU): GEMM wave quantisation
  double peak_tflops_fp32 = 0;
  double peak_tflops_fp16 = 0;  // dense tensor-core peak
  double peak_tflops_bf16 = 0;
  double peak_tflops_fp8 = 0;          // dense FP8 tensor-core peak (0: the device has none)
  double peak_tflops_vector_fp16 = 0;  // non-tensor-core 16-bit peak (misaligned GEMMs fall back to it)
  double memory_gib = 0;
  double memory_gbps = 0;  // GB/s
};

struct LinkSpec {
  double bandwidth_gbps = 0;  // GB/s per direction per device
  double latency_us = 0;
};

// Constants fitted against published runs (docs/cost-model.md lists the data for each).
struct Calibration {
  double gemm_efficiency = 0.8;  // fraction of peak reached by a large, aligned GEMM
  double gemm_k_half = 64;       // K at which the K-loop reaches half its asymptotic speed
  double gemm_tile_m = 256;      // output tile (rows x columns) used for wave quantisation
  double gemm_tile_n = 128;
  double misaligned_gemm_efficiency = 0.5;  // of the vector peak, for dims not a multiple of 8
  double memory_efficiency = 0.8;           // fraction of memory bandwidth reached by element-wise kernels
  double kernel_launch_us = 5;              // fixed cost per kernel
  double flash_attention_efficiency = 0.5;  // fraction of peak for fused attention
  double busbw_efficiency_intra = 0.8;      // NCCL busbw / link bandwidth inside a node
  double busbw_efficiency_inter = 0.8;      // NCCL busbw / NIC bandwidth across nodes
  double p2p_efficiency_inter = 0;          // a point-to-point transfer's share of a NIC (0: as busbw)
  double memory_overhead_gib = 2.0;         // CUDA context, NCCL buffers, allocator reserve
  double activation_memory_factor = 1.0;    // allocator fragmentation and framework buffers on activations
  double pass_overhead_us = 0;              // host-side cost of one pipeline pass (one micro-batch, one stage)
  double dp_reduce_efficiency = 1.0;        // the framework's DP gradient reduction across nodes, as a share of busbw
  // A CPU rank's kernels on T threads: each core past the first adds this share of one core's
  // GEMM peak and memory bandwidth (shared caches and memory bus; sim/cpu_threads.hpp).
  double thread_efficiency = 1.0;
};

struct SystemConfig {
  std::string name = "custom";
  int gpus_per_node = 1;
  int gpus = 0;  // devices in the job
  DeviceSpec device;
  LinkSpec intra_node;
  LinkSpec inter_node;  // per device: the node's NIC bandwidth divided by its devices
  Calibration calibration;
  // Device memory a plan may not use (left for fragmentation, a profiler, a larger batch):
  // a share of it, and GiB besides. A plan fits when its peak is at most what is left.
  double memory_headroom_fraction = 0;
  double memory_headroom_gib = 0;

  int nodes() const { return (gpus + gpus_per_node - 1) / gpus_per_node; }
  double usable_memory_bytes() const {
    return (device.memory_gib * (1 - memory_headroom_fraction) - memory_headroom_gib) * 1024.0 * 1024.0 * 1024.0;
  }
};

struct ParallelConfig {
  int tp = 1;
  int pp = 1;
  int dp = 1;
  int cp = 1;  // context parallel: each rank holds seq_len/cp tokens of every sequence and runs
               // ring attention over the cp group (Megatron-Core); ranks tp, then cp, then dp, pp
  int ep = 1;  // expert parallel: the experts split over ep ranks carved out of the dp*cp ranks
               // (Megatron-Core's tp-cp-ep-dp-pp); attention stays data parallel over them
  int vpp = 1;
  Schedule schedule = Schedule::one_f_one_b;
  bool sequence_parallel = false;
  bool distributed_optimizer = false;
  // Fully sharded data parallelism (PyTorch FSDP, ZeRO-3, Megatron-FSDP): weights and gradients
  // are sharded over the dp*cp ranks like the optimizer state; every pass gathers its layers'
  // weights and every backward reduce-scatters their gradients, micro-batch by micro-batch.
  bool fsdp = false;
  // How FSDP gathers: false, a layer at a time, as one unit prefetched behind the previous
  // one's compute (PyTorch FSDP, Megatron-FSDP; DeepSpeed coalesces and prefetches from 2022);
  // true, tensor by tensor, each collective blocking (DeepSpeed's ZeRO-3 of 2021).
  bool fsdp_per_tensor = false;
  // ZeRO-2: gradients reduce-scattered into their DP shard as each micro-batch's backward
  // produces them (DeepSpeed's stage 2; Llama 3's FSDP, which keeps the weights whole), the
  // optimizer state sharded with them.
  bool shard_gradients = false;
  // FSDP only: the weights freed after each forward and gathered again for its backward
  // (PyTorch's FULL_SHARD, ZeRO-3); false keeps a micro-batch's gathered weights from its forward
  // to its backward (SHARD_GRAD_OP), one gather a micro-batch fewer for a whole stage held.
  bool reshard_after_forward = true;
  // How the framework runs the plan (extensions of contract v1): Megatron-Core's defaults, which its
  // profile (models/presets/frameworks/megatron-core.toml) repeats; a plan's framework sets them.
  bool overlap_grad_reduce = true;    // DP reduction of the last micro-batch overlaps its backward
  bool overlap_param_gather = false;  // distributed optimizer's all-gather overlaps the next forward
  bool tp_comm_overlap = false;       // TP collectives pipelined with their GEMMs (userbuffers)
  // Megatron's --async-tensor-model-parallel-allreduce: in a column-parallel linear's backward
  // the input gradient's all-reduce runs beside the weight-gradient GEMM (always so under SP).
  bool async_tp_allreduce = true;
  bool pipeline_scatter_gather = true;  // stages exchange 1/tp of an activation each, then all-gather
  // Interleaved schedule only: sends and receives run asynchronously beside the next pass
  // (Megatron-Core's overlap_p2p_comm) instead of the sender waiting for its transfer.
  bool overlap_p2p_comm = true;
  // Layers per pipeline stage when uneven (DeepSpeed-style balanced partition); empty = L/pp each.
  std::vector<int> stage_layers;

  // The ZeRO stage the sharding flags amount to: 1 the optimizer state, 2 and the gradients,
  // 3 and the weights (Rajbhandari et al. 2020, sec. 5).
  int zero_stage() const { return fsdp ? 3 : shard_gradients ? 2 : distributed_optimizer ? 1 : 0; }
  void set_zero_stage(int stage) {
    distributed_optimizer = stage >= 1;
    shard_gradients = stage == 2;
    fsdp = stage == 3;
  }
  bool shards_state() const { return zero_stage() >= 1; }
  bool shards_gradients() const { return zero_stage() >= 2; }
};

struct TrainingConfig {
  int global_batch = 0;
  int micro_batch = 1;
  Recompute recompute = Recompute::none;
  // With recompute = "full" (Megatron's --recompute-num-layers): under the block method, the
  // layers of each model chunk recomputed, the rest keeping all their activations; under the
  // uniform method, the layers of each checkpointed group. 0 = every layer, one at a time.
  int recompute_layers = 0;
  RecomputeMethod recompute_method = RecomputeMethod::block;
  Precision precision = Precision::bf16;
  bool flash_attention = false;  // fused attention kernel (no s×s score tensor in memory); from a
                                 // file, on by default for devices with FP8 (Hopper and later)
  // Weight gradients written straight into the fp32 main-gradient buffer (Megatron's
  // --gradient-accumulation-fusion); without it bf16 keeps a 16-bit .grad beside the buffer.
  bool gradient_accumulation_fusion = true;
  // Gradients accumulated and reduced in fp32 (Megatron's --accumulate-allreduce-grads-in-fp32,
  // which it forces for bf16) or in 16-bit (NeMo's grad_reduce_in_fp32 = False). Unset: fp32
  // unless the precision is fp16. See fp32_gradients().
  std::optional<bool> grad_reduce_in_fp32;
  OptimizerState optimizer_state = OptimizerState::fp32;  // "remainders" and "bf16" need bf16 weights
  // The framework the plan runs under, by family: its validation residuals give the prediction's
  // interval (sim/prediction_interval.hpp).
  std::string framework = "megatron-core";
  // Executor-only settings.
  // The executor's kernels and communication: "cpu" (OpenBLAS, oneDNN, MPI) or "cuda" (cuBLASLt,
  // NCCL); read from a file, by default the system's: a device named cpu* is a CPU, any other a GPU.
  std::string backend = "cpu";
  int steps = 10;
  double lr = 6e-4;
  double min_lr = 6e-5;
  int warmup_steps = 0;
  std::string lr_schedule = "cosine";
  double weight_decay = 0.1;
  // Layer-wise learning-rate decay d (BEiT, ELECTRA): layer l of L (1-based) learns at
  // lr*d^(L-l), the embeddings at lr*d^L, the final LayerNorm at lr; 1 = one rate for all.
  double layerwise_lr_decay = 1.0;
  // fp16's dynamic loss scale (Megatron's names and defaults; exec/grad_scaler.hpp).
  double initial_loss_scale = 4294967296.0;  // 2^32
  double min_loss_scale = 1.0;
  int loss_scale_window = 1000;
  int hysteresis = 2;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.95;
  double adam_eps = 1e-8;
  double grad_clip = 1.0;
  std::uint64_t seed = 1234;
  std::string data = "synthetic";
  std::string init_from;  // weights file (contract §4) to start from
  int log_every = 1;
  int checkpoint_every = 0;  // steps between checkpoints; 0 = none
  std::string checkpoint_dir = "checkpoints";
  std::string resume_from;  // checkpoint to continue from (weights, optimizer, step)
};

struct Experiment {
  std::string name;
  ModelConfig model;
  SystemConfig system;
  ParallelConfig parallel;
  TrainingConfig training;

  int micro_batches() const { return training.global_batch / (training.micro_batch * parallel.dp); }
  // Layers on pipeline stage `stage` (all chunks together).
  int layers_on_stage(int stage) const;
  int fewest_stage_layers() const;  // over the pipeline stages
  int most_stage_layers() const;
  // Layers of the fullest model chunk (its stage's layers over vpp), at least 1: the most
  // `training.recompute_layers` may name. With an argument, for that many chunks a stage.
  int most_chunk_layers() const;
  int most_chunk_layers(int vpp) const;
  // Fraction of a chunk's layers whose forward is recomputed under recompute = "full"
  // (1 unless block recomputation names recompute_layers; the average chunk's, for uneven stages).
  double recomputed_fraction() const;
};

// "none", "selective", "full", or "full (N layers a chunk)".
std::string recompute_text(const TrainingConfig& t);
// What the data-parallel ranks shard, as a clause for a plan's line ("" when nothing).
std::string sharding_text(const ParallelConfig& p);
// Compact plan name, e.g. "t8p4d2m1v2": tp, pp, dp, micro-batch, and vpp when interleaved.
std::string plan_name(int tp, int pp, int dp, int micro_batch, int vpp, int cp = 1, int ep = 1);
inline std::string plan_name(const Experiment& e) {
  return plan_name(e.parallel.tp, e.parallel.pp, e.parallel.dp, e.training.micro_batch, e.parallel.vpp, e.parallel.cp,
                   e.parallel.ep);
}

std::string to_string(Norm);
std::string to_string(Activation);
std::string to_string(Position);
std::string to_string(Schedule);
std::string to_string(Recompute);
std::string to_string(RecomputeMethod);
std::string to_string(Precision);
std::string to_string(OptimizerState);

int bytes_per_element(Precision);                 // of activations, 16-bit weights and gradients: fp8 keeps them bf16
double peak_flops(const DeviceSpec&, Precision);  // FLOP/s
// The precision of everything but the FP8 GEMMs: attention, element-wise kernels, the LM head.
Precision non_gemm_precision(Precision);
// Whether gradients are accumulated and reduced in fp32 (training.grad_reduce_in_fp32, or
// Megatron's default: fp32 for bf16, fp8 and fp32 training, 16-bit for fp16), and their bytes.
bool fp32_gradients(const TrainingConfig&);
double gradient_bytes(const TrainingConfig&);
// Bytes of optimizer state per parameter updated (before sharding over DP).
double optimizer_state_bytes(const TrainingConfig&);

// Checks every structural constraint; throws InputError naming the key and what is allowed.
void validate(const Experiment&);
void validate_model_and_system(const Experiment&);  // everything a sweep does not vary
void validate_calibration(const Calibration&);      // every constant positive (or, where 0 means none, not negative)
void validate_plan(const Experiment&);              // tp, pp, dp, vpp, schedule, batch split
// Rules of validate_plan as predicates, for the sweep to test before it builds a plan: tp
// divides the heads and tp and the KV heads divide one another; ep divides the experts and the
// ranks dp*cp it is drawn from (always true for ep = 1); pp*vpp divides the layers.
bool tp_fits_heads(const ModelConfig& m, int tp);
bool ep_fits(const ModelConfig& m, int ep, int dp, int cp);
bool layers_divide(const ModelConfig& m, int pp, int vpp);

}  // namespace parallax
