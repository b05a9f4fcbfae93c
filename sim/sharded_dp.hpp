// Data parallelism by what its ranks shard (ZeRO stages 0-3; FSDP with and without resharding
// after forward, prefetched or tensor by tensor): the collectives each micro-batch and each
// step run, and their time on the critical path of a pass.
#pragma once
#include "models/experiment.hpp"
#include "sim/layer_costs.hpp"
#include "sim/memory.hpp"

namespace parallax::sim {

// Payload bytes (the whole buffer, before a ring's (n-1)/n) that one micro-batch's passes move
// for `params` weights of one replica group: FSDP gathers the 16-bit weights for the forward and,
// resharded after it, again for the backward; ZeRO-2 and FSDP reduce-scatter the gradients.
struct PassTraffic {
  double forward_gather = 0, backward_gather = 0, backward_reduce_scatter = 0;
};
PassTraffic pass_traffic(const Experiment& e, double params);

// Payload bytes moved once a step, after the last micro-batch's backward: the gradient
// all-reduce (no sharding), or the reduce-scatter (ZeRO-1) and the gather of the updated 16-bit
// weights (ZeRO-1 and 2); nothing under FSDP, whose weights stay sharded.
struct StepTraffic {
  double all_reduce = 0, reduce_scatter = 0, all_gather = 0;
};
StepTraffic step_traffic(const Experiment& e, double params);

// A pass's sharded-DP traffic into `c` (dp_comm of forward and backward): `params` weights held
// by this TP rank, `experts` of them expert weights, in `tensors`; `regathered` the share of the
// units whose recompute forward gathers the weights again (tensor by tensor only). Prefetched, a
// unit's gathers and reduce-scatters hide behind the pass's compute and only what outlasts it is
// exposed; ZeRO-2's reduce-scatters hide only with overlap_grad_reduce.
void add_sharded_traffic(LayerCost& c, const Experiment& e, double params, double experts, WeightTensors tensors,
                         double regathered = 0);

}  // namespace parallax::sim
