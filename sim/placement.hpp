// Where ranks sit: the contract's layout puts TP fastest, then DP, then PP (Megatron's
// tp-dp-pp order), and consecutive ranks fill a node; context parallelism sits between TP and
// DP (Megatron-Core's tp-cp-dp-pp). Shared by the simulator and executor.
#pragma once
#include "models/experiment.hpp"

namespace parallax::sim {

struct RankCoords {
  int tp_rank = 0, dp_rank = 0, pp_rank = 0, cp_rank = 0;
};

RankCoords coords_of(int rank, const ParallelConfig& p);
int rank_of(const RankCoords& c, const ParallelConfig& p);
int node_of(int rank, int gpus_per_node);

// Does the activation hop from pipeline stage `stage` to `stage + 1` leave the node?
bool pipeline_hop_inter_node(int stage, const ParallelConfig& p, int gpus_per_node);

}  // namespace parallax::sim
