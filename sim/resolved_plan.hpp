// A plan resolved once from an experiment: the experiment, its pipeline schedule with the
// transfers, and where each rank sits. The simulator predicts it and the executor runs it, so
// both read the same schedule and the same placement.
#pragma once
#include "models/experiment.hpp"
#include "sim/pipeline_schedule.hpp"
#include "sim/placement.hpp"

namespace parallax::sim {

struct ResolvedPlan {
  Experiment experiment;
  PipelineSchedule schedule;
  RankCoords coords(int rank) const { return coords_of(rank, experiment.parallel); }
};

// Builds the schedule of a checked experiment (models' validate).
ResolvedPlan resolve(const Experiment& e);

}  // namespace parallax::sim
