// The training loop: micro-batches through this rank's pipeline schedule (the sends and
// receives between stages), the gradients' reductions (tensor-parallel LayerNorms under
// sequence parallelism, the tied embedding's two copies, data parallel), then the optimizer
// (exec/optimizer.hpp) at the step's learning rate (exec/lr_schedule.hpp).
#pragma once
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "exec/checkpoint.hpp"
#include "exec/communicator.hpp"
#include "exec/data.hpp"
#include "exec/gpt.hpp"
#include "exec/grad_scaler.hpp"
#include "exec/optimizer.hpp"
#include "exec/process_groups.hpp"
#include "models/experiment.hpp"
#include "results/rank_memory.hpp"
#include "sim/resolved_plan.hpp"

namespace parallax::exec {

struct StepResult {
  int step = 0;  // 1-based
  long consumed_samples = 0;
  double loss = 0, grad_norm = 0, lr = 0;
  // fp16: the loss scale the step's backward used, and the iterations skipped so far because
  // their gradients overflowed (the grad norm of a skipped one is NaN).
  double loss_scale = 1;
  int skipped_iterations = 0;
  // This rank's time in the step: compute of the passes (TP collectives excluded), TP
  // collectives, waiting for pipeline messages, the DP gradient reduction left after the
  // backward (with the tied-embedding reduction), the optimizer, and the whole step.
  double forward_s = 0, backward_s = 0, tp_comm_s = 0, pp_comm_s = 0, dp_comm_s = 0, optimizer_s = 0, iteration_s = 0;
  enum Kind { forward, backward, recv, dp_comm, optimizer };
  // This rank's actions: kind, chunk, micro-batch (-1 for none), start relative to the step's
  // start, duration; seconds.
  struct Event {
    Kind kind;
    int chunk, microbatch;
    double start, duration;
  };
  std::vector<Event> events;
};
const char* to_string(StepResult::Kind k);

class Trainer {
 public:
  // Random init, or training.init_from's weights, or training.resume_from's full state. Each
  // DP rank takes global_batch/dp sequences of every global batch, split in micro-batches that
  // go through the pipeline schedule; gradients are summed over the DP group.
  // The plan (and the kernels) must outlive the trainer.
  Trainer(const sim::ResolvedPlan& plan, Groups groups, kernels::Kernels& kernels);

  int steps_done() const { return iterations_; }
  StepResult step();
  // Collective over the world (the sharded optimizer state is gathered over DP, the slices to
  // rank 0, which writes).
  void save_checkpoint(const std::string& path, const std::string& config_json);
  const Gpt& model() const { return model_; }
  results::RankMemory memory() const;  // after a step: the bytes this rank holds

 private:
  void run_schedule(StepResult& r, double& loss, std::chrono::steady_clock::time_point start);
  void reduce_gradients(StepResult& r, double& loss, std::chrono::steady_clock::time_point start);
  bool unscale_gradients();

  const Experiment& e_;
  Groups groups_;
  Gpt model_;
  TokenData data_;
  const sim::PipelineSchedule& schedule_;
  Optimizer optimizer_;
  // DP reduction started during each chunk's last backward (not with the sharded optimizer).
  bool overlap_ = false;
  std::vector<int> inputs_, targets_;
  std::vector<kernels::Bytes> sends_;  // activations and gradients being sent (the backend's memory), reused
  double message_bytes_peak_ = 0;      // the most the pipeline's messages held at once
  DynamicGradScaler scaler_;           // fp16's loss scale
  float loss_scale_ = 1;
  int iterations_ = 0,
      skipped_ = 0;  // iterations run, and skipped (fp16); resumed runs count from the optimizer's steps
};

}  // namespace parallax::exec
