// The training loop: gradient accumulation over micro-batches, global-norm clipping, AdamW
// with decoupled weight decay on 2-D weights only (as nanoGPT), and a learning rate with
// linear warm-up then cosine (or linear, or constant) decay to min_lr over the run's steps.
#pragma once
#include <string>

#include "exec/checkpoint.hpp"
#include "exec/communicator.hpp"
#include "exec/data.hpp"
#include "exec/gpt.hpp"
#include "models/experiment.hpp"

namespace parallax::exec {

struct StepResult {
  int step = 0;  // 1-based
  long consumed_samples = 0;
  double loss = 0, grad_norm = 0, lr = 0;
  double forward_s = 0, backward_s = 0, dp_comm_s = 0, optimizer_s = 0, iteration_s = 0;
  // This rank's actions in the step: kind (0 forward, 1 backward, 2 dp_comm, 3 optimizer),
  // micro-batch (-1 for none), start relative to the step's start, duration; seconds.
  struct Event {
    int kind, microbatch;
    double start, duration;
  };
  std::vector<Event> events;
};

class Trainer {
 public:
  // Random init, or training.init_from's weights, or training.resume_from's full state.
  // `data_parallel` is this rank's DP group: each rank takes global_batch/dp sequences of every
  // global batch and the gradients are summed over the group.
  Trainer(const Experiment& e, Communicator& data_parallel);

  int steps_done() const { return optimizer_.step; }
  StepResult step();
  // Collective over the DP group (the sharded optimizer state is gathered); rank 0 writes.
  void save_checkpoint(const std::string& path, const std::string& config_json);
  double learning_rate(int step_index) const;  // step_index counts from 0
  const Gpt& model() const { return model_; }

 private:
  const Experiment& e_;
  Communicator& comm_;
  Gpt model_;
  TokenData data_;
  // The AdamW state of the parameters this rank updates: all of them, or with the distributed
  // optimizer (ZeRO-1) the block [shard_begin_, shard_begin_ + shard_counts_[rank]) of the
  // flat buffer, split evenly over the DP group.
  OptimizerState optimizer_;
  bool sharded_ = false;
  std::vector<long> shard_counts_;
  long shard_begin_ = 0;
  std::vector<int> inputs_, targets_;
};

}  // namespace parallax::exec
