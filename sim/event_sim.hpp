// Discrete-event simulation of a pipeline schedule: each rank runs its steps in order (the
// action list with its transfers, PipelineSchedule::steps); a receive waits until its message
// has arrived, a pass starts when its rank is free, a send delivers after the hop's time (and
// holds its sender that long when sends block). Yields per-rank finish times, busy time by
// kind, and a timeline.
#pragma once
#include <string>
#include <vector>

#include "sim/pipeline_schedule.hpp"

namespace parallax::sim {

// Durations of one micro-batch's pass through one virtual stage, by component.
struct PassCost {
  double compute = 0;    // GEMMs and element-wise kernels
  double recompute = 0;  // forward work repeated inside the backward
  double tp_comm = 0;    // exposed tensor-parallel collectives
  double dp_comm = 0;    // exposed weight gathers and gradient reduce-scatters of FSDP
  double total() const { return compute + recompute + tp_comm + dp_comm; }
};

struct SimInput {
  const PipelineSchedule* schedule = nullptr;
  std::vector<PassCost> forward;   // per virtual stage
  std::vector<PassCost> backward;  // per virtual stage
  std::vector<double> hop;         // per virtual stage: transfer time to the next virtual stage
  bool blocking_p2p = true;        // the sender waits for its transfer (Megatron's batched isend/irecv + wait)
  std::vector<double> dp_exposed;  // per rank, after its last backward
  std::vector<double> optimizer;   // per rank, after the gradient reduction
  bool record_timeline = false;
};

struct TimelineEvent {
  int rank = 0;  // pipeline rank
  int stage = 0;
  int chunk = 0;
  int microbatch = -1;
  std::string kind;  // forward, backward, send, dp_comm, optimizer
  double start = 0;
  double duration = 0;
};

struct RankTotals {
  double forward = 0, backward = 0;  // compute of the forward and backward passes
  double recompute = 0, tp_comm = 0, pp_comm = 0, dp_comm = 0, optimizer = 0;
  double finish = 0;  // end of the optimizer step
  double compute() const { return forward + backward; }
  double idle() const { return finish - (compute() + recompute + tp_comm + pp_comm + dp_comm + optimizer); }
};

struct SimResult {
  double makespan = 0;
  std::vector<RankTotals> ranks;
  std::vector<TimelineEvent> timeline;
  bool deadlock = false;
};

SimResult simulate(const SimInput& in);

}  // namespace parallax::sim
