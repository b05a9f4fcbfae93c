#include "sim/placement.hpp"

namespace parallax::sim {

RankCoords coords_of(int rank, const ParallelConfig& p) {
  RankCoords c;
  c.tp_rank = rank % p.tp;
  c.cp_rank = (rank / p.tp) % p.cp;
  c.dp_rank = (rank / (p.tp * p.cp)) % p.dp;
  c.pp_rank = rank / (p.tp * p.cp * p.dp);
  return c;
}

int rank_of(const RankCoords& c, const ParallelConfig& p) {
  return c.tp_rank + p.tp * (c.cp_rank + p.cp * (c.dp_rank + p.dp * c.pp_rank));
}

int node_of(int rank, int gpus_per_node) { return rank / gpus_per_node; }

bool pipeline_hop_inter_node(int stage, const ParallelConfig& p, int gpus_per_node) {
  const int from = rank_of({0, 0, stage}, p);
  const int to = rank_of({0, 0, (stage + 1) % p.pp}, p);
  return node_of(from, gpus_per_node) != node_of(to, gpus_per_node);
}

}  // namespace parallax::sim
