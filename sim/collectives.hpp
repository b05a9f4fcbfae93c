// Collective and point-to-point costs in nccl-tests' terms: a collective on a buffer of
// `bytes` moves bytes*busbw_factor through each rank's link, so its time is
//   latency * steps + bytes * busbw_factor / busbw
// (nccl-tests doc/PERFORMANCE.md: all-reduce 2(n-1)/n, all-gather, reduce-scatter and
// all-to-all (n-1)/n).
#pragma once
#include "models/experiment.hpp"

namespace parallax::sim {

enum class Collective { all_reduce, all_gather, reduce_scatter, all_to_all, broadcast };

double busbw_factor(Collective c, int ranks);
int ring_steps(Collective c, int ranks);

// Effective link of a communicator of `size` ranks spaced `stride` ranks apart under the
// contract's placement (consecutive ranks fill a node).
struct GroupLink {
  double busbw = 0;    // bytes/s each rank sustains in the collective
  double latency = 0;  // s per ring step
  bool inter_node = false;
};
GroupLink group_link(const SystemConfig& sys, int size, int stride);

double collective_time(Collective c, double bytes, int ranks, const GroupLink& link);

// The link between two ranks, inside a node or across nodes.
GroupLink pair_link(const SystemConfig& sys, bool inter_node);
// Two ranks exchanging data (a send, or an all-reduce between two ranks, which NCCL runs as
// the same pairwise transfers): across nodes at p2p_efficiency_inter where the system sets it.
GroupLink exchange_link(const SystemConfig& sys, bool inter_node);
// One message of `bytes` between two ranks.
double p2p_time(double bytes, const SystemConfig& sys, bool inter_node);

}  // namespace parallax::sim
