// This rank's process groups: the world and its tensor-, pipeline- and data-parallel groups,
// placed as the contract places ranks (TP fastest, then DP, then PP; a group's rank is the
// coordinate), the embedding group (Megatron's: the first and the last pipeline stage, which
// both hold the tied embedding), and the ranks sharing this rank's node. One object, built
// once and passed in.
#pragma once
#include "exec/communicator.hpp"
#include "exec/mpi_communicator.hpp"
#include "sim/resolved_plan.hpp"

namespace parallax::exec {

// The groups a trainer talks through, whatever implements them.
struct Groups {
  Communicator& world;
  Communicator& tp;
  Communicator& pp;
  Communicator& dp;
  Communicator& embedding;  // the end stages of this rank's pipeline; a rank alone elsewhere
};

// The groups over MPI, split from the world by the plan's placement.
class MpiProcessGroups {
 public:
  MpiProcessGroups(MpiCommunicator& world, const sim::ResolvedPlan& plan);
  Groups groups() { return {world_, tp_, pp_, dp_, embedding_}; }
  const MpiCommunicator& node() const { return node_; }  // the ranks of this rank's node

 private:
  MpiProcessGroups(MpiCommunicator& world, const sim::RankCoords& me, const ParallelConfig& p);
  MpiCommunicator& world_;
  MpiCommunicator tp_, pp_, dp_, embedding_, node_;
};

}  // namespace parallax::exec
