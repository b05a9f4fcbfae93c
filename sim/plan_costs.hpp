// What one plan costs per pipeline stage, shared by the event simulation (predict) and the
// closed-form estimate of the sweep: per-pass durations, transfers between stages, exposed
// data-parallel reduction and the optimizer step.
#pragma once
#include "models/experiment.hpp"
#include "sim/event_sim.hpp"
#include "sim/layer_costs.hpp"
#include "sim/pipeline_schedule.hpp"

namespace parallax::sim {

// Time of one activation (or gradient) transfer between neighbouring pipeline stages.
double pipeline_hop_time(const Experiment& e, bool inter_node);
// ... from pipeline rank `rank` to the next.
double pipeline_hop_time(const Experiment& e, int rank);
// Whether a stage waits for its own sends (all but an interleaved schedule with overlap_p2p_comm).
bool blocking_p2p(const ParallelConfig& p);
// DP gradient reduction (and parameter gather) left exposed after the stage's last backward.
double exposed_data_parallel_time(const Experiment& e, int stage, double last_backward);
// The optimizer step of one device of `stage`.
double optimizer_time(const Experiment& e, int stage);

SimInput sim_input(const Experiment& e, const PipelineSchedule& schedule, const LayerCosts& costs);

}  // namespace parallax::sim
