#include "exec/process_groups.hpp"

namespace parallax::exec {

namespace {
MpiCommunicator node_of(const MpiCommunicator& world) {
  MPI_Comm node;
  MPI_Comm_split_type(world.handle(), MPI_COMM_TYPE_SHARED, world.rank(), MPI_INFO_NULL, &node);
  return MpiCommunicator(node);
}
}  // namespace

MpiProcessGroups::MpiProcessGroups(MpiCommunicator& world, const sim::ResolvedPlan& plan)
    : MpiProcessGroups(world, plan.coords(world.rank()), plan.experiment.parallel) {}

// Each group: the ranks that share every other coordinate (the colour), ordered by their own.
MpiProcessGroups::MpiProcessGroups(MpiCommunicator& world, const sim::RankCoords& me, const ParallelConfig& p)
    : world_(world),
      tp_(world.split(me.pp_rank * p.dp + me.dp_rank, me.tp_rank)),
      pp_(world.split(me.dp_rank * p.tp + me.tp_rank, me.pp_rank)),
      dp_(world.split(me.pp_rank * p.tp + me.tp_rank, me.dp_rank)),
      embedding_(world.split(
          me.pp_rank == 0 || me.pp_rank == p.pp - 1 ? me.dp_rank * p.tp + me.tp_rank : p.tp * p.dp + world.rank(),
          me.pp_rank)),
      node_(node_of(world)) {}

}  // namespace parallax::exec
