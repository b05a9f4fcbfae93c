#include "sim/plan_costs.hpp"

#include <algorithm>
#include <cmath>

#include "sim/collectives.hpp"
#include "sim/gemm_model.hpp"
#include "sim/memory.hpp"
#include "sim/placement.hpp"
#include "sim/sharded_dp.hpp"

namespace parallax::sim {

namespace {
PassCost scaled(const PassCost& c, double k) { return {c.compute * k, c.recompute * k, c.tp_comm * k, c.dp_comm * k}; }
void add(PassCost& a, const PassCost& b) {
  a.compute += b.compute;
  a.recompute += b.recompute;
  a.tp_comm += b.tp_comm;
  a.dp_comm += b.dp_comm;
}

// Megatron-Core DDP bucket: max(40M, 1M * dp) parameters.
double bucket_params(int dp) { return std::max(40e6, 1e6 * dp); }
}  // namespace

// Gradient reduction (all-reduce, or reduce-scatter + parameter all-gather with the
// distributed optimizer), bucketed; with overlap_grad_reduce the buckets are reduced while
// the last micro-batch's backward is still running, so only what outlasts it is exposed.
// Returns the time left on the critical path after the stage's last backward. Context-parallel
// ranks hold the same weights, so gradients are reduced over the dp*cp ranks (Megatron-Core);
// expert weights only over the dp*cp/ep ranks that hold the same experts (stride tp*ep).
// Across nodes the reduction runs at the framework's dp_reduce_efficiency of the link (DeepSpeed's
// ZeRO stage 0-2 reduction: fitted, docs/cost-model.md; Megatron's: 1).
double exposed_data_parallel_time(const Experiment& e, int stage, double last_backward) {
  const auto& p = e.parallel;
  double exposed = 0;
  const double params = stage_params_per_device(e, stage);
  const double experts = stage_expert_params_per_device(e, stage);
  const int n = p.dp * p.cp;
  // ZeRO-2 and FSDP reduce each micro-batch's gradients inside its backward (sharded_dp).
  if (n > 1) {
    double reduce = 0, gather = 0;
    for (const ReplicaGroup& g : replica_groups(p, params, experts)) {
      if (g.params <= 0) continue;  // no expert weights
      GroupLink link = group_link(e.system, g.ranks, g.stride);
      if (link.inter_node) link.busbw *= e.system.calibration.dp_reduce_efficiency;
      const StepTraffic t = step_traffic(e, g.params);
      reduce += collective_time(Collective::all_reduce, t.all_reduce, g.ranks, link) +
                collective_time(Collective::reduce_scatter, t.reduce_scatter, g.ranks, link);
      gather += collective_time(Collective::all_gather, t.all_gather, g.ranks, link);
    }
    const double buckets = std::max(1.0, std::ceil(params / bucket_params(n)));
    exposed += p.overlap_grad_reduce ? std::max(reduce / buckets, reduce - last_backward) : reduce;
    exposed += p.overlap_param_gather ? gather / buckets : gather;
  }
  // Tied embeddings: first and last stage all-reduce the embedding gradient (Megatron's
  // embedding group), after the pipeline has drained: a pairwise exchange (exchange_link).
  if (p.pp > 1 && e.model.tied_embeddings && (stage == 0 || stage == p.pp - 1)) {
    const double grad_bytes = gradient_bytes(e.training);
    const double bytes = vocab_params_per_device(e.model, p.tp) * grad_bytes;
    const bool inter = pipeline_hop_inter_node(p.pp - 1, p, e.system.gpus_per_node);
    exposed += collective_time(Collective::all_reduce, bytes, 2, exchange_link(e.system, inter));
  }
  return exposed;
}

// The optimizer step over the parameters this device updates, memory-bound. Bytes per
// parameter in Megatron's optimizer: Adam reading weights, gradient and both moments and
// writing weights and moments (28), the global norm (4); in mixed precision also the fp32 ->
// 16-bit weight copy (6), with fp16 the loss-scale unscale and inf check (8), with fp8 the
// cast of the new weights to FP8 and its transpose (4), and without gradient-accumulation
// fusion the copy of 16-bit gradients to fp32 (6). Clipping rescales
// only when the norm exceeds the threshold, which steady training rarely does. Plus zeroing
// the whole gradient buffer (8 bytes per parameter held). With 16-bit remainders the fp32
// master is the bf16 weight and its remainder (the same 28, no copy); with bf16 moments and no
// master, Adam reads weights, gradient and moments and writes them back in 16 bits (14).
double optimizer_time(const Experiment& e, int stage) {
  const double params = stage_params_per_device(e, stage);
  const double updated = sharded_state_params(e, stage, params);
  const Precision precision = e.training.precision;
  const OptimizerState state = e.training.optimizer_state;
  double per_param = (state == OptimizerState::bf16 ? 14.0 : 28.0) + 4.0;
  if (precision != Precision::fp32)
    per_param += (state == OptimizerState::fp32 ? 6.0 : 0.0) + (e.training.gradient_accumulation_fusion ? 0.0 : 6.0);
  if (precision == Precision::fp16) per_param += 8.0;
  if (precision == Precision::fp8) per_param += 4.0;
  return memory_time(per_param * updated + 8.0 * (e.parallel.shards_gradients() ? updated : params), e.system);
}

bool blocking_p2p(const ParallelConfig& p) { return !(p.overlap_p2p_comm && p.schedule == Schedule::interleaved); }

double pipeline_hop_time(const Experiment& e, bool inter) {
  const auto& p = e.parallel;
  // Activations cross stages split over the TP ranks (Megatron's scatter/gather optimisation,
  // or sequence parallelism) and are gathered again over NVLink.
  const double activation_bytes = bytes_per_element(e.training.precision) *
                                  static_cast<double>(e.training.micro_batch) * e.model.seq_len / p.cp * e.model.hidden;
  const bool split = p.tp > 1 && (p.sequence_parallel || p.pipeline_scatter_gather);
  const double regather = split && !p.sequence_parallel ? collective_time(Collective::all_gather, activation_bytes,
                                                                          p.tp, group_link(e.system, p.tp, 1))
                                                        : 0.0;
  return p2p_time(split ? activation_bytes / p.tp : activation_bytes, e.system, inter) + regather;
}

double pipeline_hop_time(const Experiment& e, int rank) {
  return pipeline_hop_time(e, pipeline_hop_inter_node(rank, e.parallel, e.system.gpus_per_node));
}

SimInput sim_input(const Experiment& e, const PipelineSchedule& schedule, const LayerCosts& costs) {
  const LayerCost &layer = costs.layer, &embedding = costs.embedding, &head = costs.head;
  const auto& p = e.parallel;
  const int V = schedule.virtual_stages();
  SimInput in;
  in.schedule = &schedule;
  in.blocking_p2p = blocking_p2p(p);
  in.forward.resize(V);
  in.backward.resize(V);
  in.hop.assign(V, 0.0);
  for (int vs = 0; vs < V; ++vs) {
    const int rank = schedule.rank_of_virtual(vs);
    const double layers = static_cast<double>(e.layers_on_stage(rank)) / schedule.chunks;
    in.forward[vs] = scaled(layer.forward, layers);
    in.backward[vs] = scaled(layer.backward, layers);
    if (vs == 0) {
      add(in.forward[vs], embedding.forward);
      add(in.backward[vs], embedding.backward);
    }
    if (vs == V - 1) {
      add(in.forward[vs], head.forward);
      add(in.backward[vs], head.backward);
    }
    in.hop[vs] = pipeline_hop_time(e, rank);
    const double overhead = e.system.calibration.pass_overhead_us * 1e-6;
    in.forward[vs].compute += overhead;
    in.backward[vs].compute += overhead;
  }
  in.dp_exposed.resize(p.pp);
  in.optimizer.resize(p.pp);
  for (int r = 0; r < p.pp; ++r) {
    double last_backward = 0;
    for (int c = 0; c < schedule.chunks; ++c) last_backward += in.backward[schedule.virtual_stage(r, c)].total();
    in.dp_exposed[r] = exposed_data_parallel_time(e, r, last_backward);
    in.optimizer[r] = optimizer_time(e, r);
  }
  return in;
}

}  // namespace parallax::sim
