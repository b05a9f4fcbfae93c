// Per-device time of one micro-batch through one transformer layer and through the first
// stage's embedding and last stage's LM head and loss, under the plan's TP, SP, recomputation,
// precision and attention kernel.
#pragma once
#include "models/experiment.hpp"
#include "sim/event_sim.hpp"

namespace parallax::sim {

struct LayerCost {
  PassCost forward;
  PassCost backward;   // with the recomputation it triggers
  double kernels = 0;  // kernels launched per layer (fwd + bwd), for reference
};

LayerCost transformer_layer_cost(const Experiment& e);
LayerCost embedding_cost(const Experiment& e);  // first stage: token (+position) embedding
LayerCost head_cost(const Experiment& e);       // last stage: final norm, LM head, cross-entropy

// All three for one experiment.
struct LayerCosts {
  LayerCost layer, embedding, head;
};
LayerCosts layer_costs(const Experiment& e);

// Vocabulary padded as Megatron does: to a multiple of 128*tp.
long long padded_vocab(const ModelConfig& m, int tp);

}  // namespace parallax::sim
