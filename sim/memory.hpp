// Memory of each pipeline stage's devices: weights, gradients, optimizer state, activations
// (Korthikanti et al. 2022, sec. 4 and Table 2, generalised term by term), other.
#pragma once
#include <array>
#include <vector>

#include "models/experiment.hpp"
#include "sim/pipeline_schedule.hpp"

namespace parallax::sim {

struct StageMemory {
  int stage = 0;
  double weights = 0, gradients = 0, optimizer = 0, activations = 0, other = 0;
  double total() const { return weights + gradients + optimizer + activations + other; }
};

// Parameters of one transformer layer held by one TP rank (and, for MoE, one EP rank).
double layer_params_per_device(const ModelConfig& m, int tp, int ep = 1);
// The expert part of them (0 for a dense model).
double layer_expert_params_per_device(const ModelConfig& m, int tp, int ep);
// The vocabulary-parallel word embedding (or untied output layer) held by one TP rank.
double vocab_params_per_device(const ModelConfig& m, int tp);
// The first stage's embedding: words, and positions when they are learned.
double embedding_params_per_device(const ModelConfig& m, int tp);
// Whether the last stage holds output weights of its own: untied, or the tied copy kept when
// pp > 1 (not when one stage holds both the embedding and the head).
bool head_holds_output_weights(const ModelConfig& m, const ParallelConfig& p);
// The last stage's head: the final norm, and the output weights when it holds them.
double head_params_per_device(const ModelConfig& m, const ParallelConfig& p);
// Weight tensors as Megatron stores them (a fused QKV and, for SwiGLU, a fused gate/up
// projection; a bias beside each weight and norm of a LayerNorm model): a layer's dense and
// expert ones on one EP rank, the embedding's and the head's. DeepSpeed's early ZeRO-3
// (parallel.fsdp_per_tensor) runs one collective per tensor.
struct WeightTensors {
  int dense = 0, experts = 0;
};
WeightTensors layer_weight_tensors(const ModelConfig& m, int ep);
int embedding_weight_tensors(const ModelConfig& m);
int head_weight_tensors(const ModelConfig& m, const ParallelConfig& p);
// The largest weight tensor of a layer held by one TP rank.
double largest_layer_tensor_per_device(const ModelConfig& m, int tp);
// The data-parallel groups over which a device's parameters are replicated: the dense ones
// over the dp*cp ranks (stride tp), the expert ones over the dp*cp/ep ranks that hold the same
// experts (stride tp*ep). Gradients are reduced, and state and weights sharded, within them.
struct ReplicaGroup {
  double params;
  int ranks, stride;
};
std::array<ReplicaGroup, 2> replica_groups(const ParallelConfig& p, double params, double experts);
// Parameters held by one device of pipeline stage `stage`, and the expert part of them.
double stage_params_per_device(const Experiment& e, int stage);
double stage_expert_params_per_device(const Experiment& e, int stage);
// Parameters whose optimizer state this device keeps, of the `params` it holds
// (stage_params_per_device): all of them, or with the distributed optimizer 1/(dp*cp) of the
// dense ones and 1/(dp*cp/ep) of the expert ones.
double sharded_state_params(const Experiment& e, int stage, double params);
// Activation bytes one layer keeps for one micro-batch until its backward.
double layer_activation_bytes(const Experiment& e);
// Bytes of one layer's full (not recomputed) activations: the working set while it recomputes.
double layer_working_bytes(const Experiment& e);

// One stage's memory when it holds `in_flight` (micro-batch, chunk) activations of `chunks` chunks.
StageMemory stage_memory_at(const Experiment& e, int stage, int in_flight, int chunks);
std::vector<StageMemory> stage_memory(const Experiment& e, const PipelineSchedule& s);

}  // namespace parallax::sim
