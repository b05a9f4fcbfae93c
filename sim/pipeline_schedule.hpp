// Pipeline schedules as per-rank action lists (GPipe, 1F1B, interleaved 1F1B), generated once
// and consumed by both the simulator (which times them) and the executor (which runs them).
//
// Virtual stage of (rank r, chunk c) is c*pp + r (Megatron's interleaved layer assignment:
// chunk c of rank r holds layers [(c*pp + r)*L/(pp*vpp), ...)). An action's inputs arrive from
// the neighbouring virtual stage: a forward needs the forward of virtual stage - 1, a backward
// the backward of virtual stage + 1. `steps` spells the transfers out: each pass preceded by
// the receive of its input and followed by the send of its output, with the peer and the tag
// that pair them, in the order both consumers perform them.
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

// One step of a rank's list: a pass, or the send or receive of one micro-batch's activation
// (direction forward) or gradient (direction backward) to or from the rank of a neighbouring
// virtual stage.
enum class Op { forward, backward, send, recv };
struct Step {
  Op op;
  int microbatch;
  int chunk;  // this rank's chunk whose pass the transfer feeds or follows
  Pass direction = Pass::forward;
  int peer = -1;  // pipeline rank at the other end of a transfer
  int tag = -1;   // the same on a send and on its receive
};

struct PipelineSchedule {
  Schedule type = Schedule::one_f_one_b;
  int stages = 1;                          // pp
  int chunks = 1;                          // vpp
  int microbatches = 1;                    // per iteration and pipeline
  std::vector<std::vector<Action>> ranks;  // one list per pipeline rank
  std::vector<std::vector<Step>> steps;    // the same lists with their transfers

  int virtual_stages() const { return stages * chunks; }
  int virtual_stage(int rank, int chunk) const { return chunk * stages + rank; }
  int rank_of_virtual(int vs) const { return vs % stages; }
  int chunk_of_virtual(int vs) const { return vs / stages; }
};

PipelineSchedule make_schedule(Schedule type, int pp, int vpp, int microbatches);

// The steps of each rank's action list (PipelineSchedule::steps). A message's tag names its
// micro-batch, receiving virtual stage and direction, modulo 32768 (MPI's least upper bound):
// tags repeat only beyond 16384 (micro-batch, stage) pairs, and messages with one tag between
// two ranks arrive in order, so the pairing holds.
std::vector<std::vector<Step>> with_transfers(const PipelineSchedule& s);

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
