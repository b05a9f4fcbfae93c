#include "sim/sharded_dp.hpp"

#include <algorithm>
#include <array>

#include "sim/collectives.hpp"
#include "sim/gemm_model.hpp"
#include "sim/placement.hpp"

namespace parallax::sim {

// Volumes per Rajbhandari et al. 2020 (ZeRO, sec. 7: stages 1 and 2 move what DP's all-reduce
// does, stage 3 half as much again) and Zhao et al. 2023 (PyTorch FSDP, sec. 3.2: FULL_SHARD
// gathers twice and reduce-scatters once a micro-batch, SHARD_GRAD_OP gathers once).
PassTraffic pass_traffic(const Experiment& e, double params) {
  const auto& p = e.parallel;
  PassTraffic t;
  if (!p.shards_gradients()) return t;
  const double weight = bytes_per_element(e.training.precision), grad = gradient_bytes(e.training);
  t.backward_reduce_scatter = params * grad;
  if (p.fsdp) {
    t.forward_gather = params * weight;
    t.backward_gather = p.reshard_after_forward ? params * weight : 0;
  }
  return t;
}

StepTraffic step_traffic(const Experiment& e, double params) {
  const double weight = bytes_per_element(e.training.precision), grad = gradient_bytes(e.training);
  StepTraffic t;
  switch (e.parallel.zero_stage()) {
    case 0:
      t.all_reduce = params * grad;
      break;
    case 1:
      t.reduce_scatter = params * grad;
      t.all_gather = params * weight;
      break;
    case 2:
      t.all_gather = params * weight;
      break;
    default:
      break;
  }
  return t;
}

// Gathered tensor by tensor (fsdp_per_tensor), as DeepSpeed's ZeRO-3 of 2021 does
// (partition_parameters.py: torch.distributed.all_gather into one view per rank, then a copy into
// each parameter; reduce_scatter from one view per rank, waited on), each collective pays its
// ring latency and blocks: all of it is exposed. PyTorch's list collectives copy the n views out
// of (into) a flat buffer, so each gather reads and writes the weights twice and each
// reduce-scatter the gradients once.
void add_sharded_traffic(LayerCost& c, const Experiment& e, double params, double experts, WeightTensors tensors,
                         double regathered) {
  const auto& p = e.parallel;
  if (!p.shards_gradients() || p.dp * p.cp < 2) return;
  const std::array<int, 2> count{tensors.dense, tensors.experts};
  const auto groups = replica_groups(p, params, experts);
  double forward = 0, backward_gather = 0, reduce = 0;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const ReplicaGroup& g = groups[i];
    if (g.params <= 0 || g.ranks < 2) continue;
    const GroupLink link = group_link(e.system, g.ranks, g.stride);
    const int k = p.fsdp_per_tensor ? std::max(1, count[i]) : 1;  // collectives: one per tensor, or one
    const PassTraffic t = pass_traffic(e, g.params);
    forward += k * collective_time(Collective::all_gather, t.forward_gather / k, g.ranks, link);
    backward_gather += k * collective_time(Collective::all_gather, t.backward_gather / k, g.ranks, link);
    reduce += k * collective_time(Collective::reduce_scatter, t.backward_reduce_scatter / k, g.ranks, link);
  }
  if (p.fsdp_per_tensor) {
    const double weight = bytes_per_element(e.training.precision), grad = gradient_bytes(e.training);
    const double copies = memory_time(4 * params * weight, e.system);
    forward += copies;
    if (backward_gather > 0) backward_gather += copies;
    reduce += memory_time(2 * params * grad, e.system);
    c.forward.dp_comm = forward;
    c.backward.dp_comm = (1 + regathered) * backward_gather + reduce;
    return;
  }
  c.forward.dp_comm = std::max(0.0, forward - c.forward.compute);
  const double hidden_by = c.backward.compute + c.backward.recompute;
  if (p.fsdp || p.overlap_grad_reduce)
    c.backward.dp_comm = std::max(0.0, backward_gather + reduce - hidden_by);
  else
    c.backward.dp_comm = reduce;
}

}  // namespace parallax::sim
