// Pipeline schedules as per-rank action lists (GPipe, 1F1B, interleaved 1F1B), generated once
// and consumed by both the simulator (which times them) and the executor (which runs them).
//
// Virtual stage of (rank r, chunk c) is c*pp + r (Megatron's interleaved layer assignment:
// chunk c of rank r holds layers [(c*pp + r)*L/(pp*vpp), ...)). An action's inputs arrive from
// the neighbouring virtual stage: a forward needs the forward of virtual stage - 1, a backward
// the backward of virtual stage + 1; the sends are implied by the list.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "models/experiment.hpp"

namespace parallax::sim {

enum class Pass { forward, backward };

struct Action {
  Pass pass;
  int microbatch;
  int chunk;
};

struct PipelineSchedule {
  Schedule type = Schedule::one_f_one_b;
  int stages = 1;                          // pp
  int chunks = 1;                          // vpp
  int microbatches = 1;                    // per iteration and pipeline
  std::vector<std::vector<Action>> ranks;  // one list per pipeline rank

  int virtual_stages() const { return stages * chunks; }
  int virtual_stage(int rank, int chunk) const { return chunk * stages + rank; }
  int rank_of_virtual(int vs) const { return vs % stages; }
  int chunk_of_virtual(int vs) const { return vs / stages; }
};

PipelineSchedule make_schedule(Schedule type, int pp, int vpp, int microbatches);

// Forward passes run before the first backward on `rank` (Megatron: p - r - 1 for 1F1B;
// (p - r - 1)*2 + (v - 1)*p for interleaved, capped by the total).
int warmup_forwards(Schedule type, int pp, int vpp, int microbatches, int rank);

// Largest number of (micro-batch, chunk) activations held at once by one rank's list.
int peak_in_flight(const std::vector<Action>& actions);

// Runs the lists through a message exchange with unbounded buffers: std::nullopt if every
// action completes, else a description of where the ranks are stuck.
std::optional<std::string> find_deadlock(const PipelineSchedule& s);

std::string describe(const Action& a);  // "F3.1": forward, micro-batch 3, chunk 1

}  // namespace parallax::sim
