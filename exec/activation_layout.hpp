// Where the activations of a rank's model chunks live during a micro-batch's forward and
// backward, and which of them activation recomputation drops (Korthikanti et al. 2022, sec. 5;
// Megatron's --recompute-granularity full with --recompute-method uniform | block).
//
// A chunk's activations are its input X, per layer the tensors of LayerAct, and on the head
// chunk those of HeadAct. Each micro-batch in flight keeps those it needs until its backward
// (its "state"); the layers of a recompute group keep only what the group's input and output
// need, and their other activations live in one workspace that the backward fills again by
// re-running the group's forward just before its backward. The outputs of the two projections
// are never kept (the residual additions that read them follow at once). The gradients of the
// activations have a place for everything, one chunk at a time.
#pragma once
#include <utility>
#include <vector>

#include "exec/shard.hpp"
#include "models/experiment.hpp"

namespace parallax::exec {

// Activations of a layer, in order: LayerNorm 1 output and statistics, QKV, attention output,
// its row log-sum-exp and softmax probabilities (none kept under selective recomputation), the
// attention projection, the residual after attention, LayerNorm 2
// output and statistics, MLP up, GeLU, MLP down, the residual after the MLP (the layer's output).
enum LayerAct {
  LN1,
  LN1_MEAN,
  LN1_RSTD,
  QKV,
  ATTY,
  LSE,
  PROBS,
  ATTPROJ,
  RES2,
  LN2,
  LN2_MEAN,
  LN2_RSTD,
  FCH,
  FCH_GELU,
  FCPROJ,
  RES3,
  ACTS_PER_LAYER
};
// The head chunk's: final LayerNorm output and statistics, the logits (probabilities after the
// forward), the per-token losses, the softmax row maxima and sums.
enum HeadAct { LNF, LNF_MEAN, LNF_RSTD, LOGITS, LOSSES, ROWMAX, ROWSUM, HEAD_ACTS };

// Which layers of each chunk are recomputed, from training.recompute*.
struct RecomputePolicy {
  Recompute recompute = Recompute::none;
  RecomputeMethod method = RecomputeMethod::block;
  int layers = 0;  // training.recompute_layers; 0 = every layer, one at a time
  // Whether a layer's forward keeps the attention probabilities (T x T per head) for its
  // backward: not under selective recomputation, which recomputes them from the log-sum-exp.
  bool keeps_attention_probabilities() const { return recompute != Recompute::selective; }
};
RecomputePolicy recompute_policy(const TrainingConfig& t);

// Groups [first, last] of a chunk's layers (counted within the chunk) whose forward the
// backward re-runs: uniform, every layer in groups of `layers` (the last one shorter); block,
// the first `layers` layers one by one (all of them for 0). None without full recomputation.
std::vector<std::pair<int, int>> recompute_groups(const RecomputePolicy& p, int chunk_layers);

class ActivationLayout {
 public:
  ActivationLayout() = default;
  // Floats of each activation of a layer and of the head for one micro-batch, as kept, and of
  // their gradients (which are whole where sequence parallelism keeps a rank's rows only).
  struct Sizes {
    std::vector<long> layer, head;
  };
  // Under mixed precision, which activations of a layer and of the head are kept in 16 bits
  // (the others, statistics and the loss's fp32 logits, in fp32); empty: all fp32.
  struct Halves {
    std::vector<bool> layer, head;
  };
  ActivationLayout(const std::vector<Chunk>& chunks, const Sizes& kept, const Sizes& grads,
                   const RecomputePolicy& policy, const Halves& halves = {});

  // Activation `i` of a chunk: 0 is X, then layer l's LayerAct a is 1 + l*ACTS_PER_LAYER + a,
  // then the head's.
  static int layer_index(int layer, int a) { return 1 + layer * ACTS_PER_LAYER + a; }
  static int head_index(int layers, int a) { return 1 + layers * ACTS_PER_LAYER + a; }

  struct Place {
    bool kept;    // in the micro-batch's state; else in the recompute workspace
    bool half;    // in the 16-bit part of the state or workspace; else in its fp32 part
    long offset;  // elements from the start of that part
  };
  Place place(int chunk, int i) const { return places_[chunk][i]; }
  long state_size(int chunk) const { return state_sizes_[chunk]; }      // fp32 elements
  long state16_size(int chunk) const { return state16_sizes_[chunk]; }  // 16-bit elements
  long workspace_size() const { return workspace_size_; }
  // The place at the workspace's start that the projections' outputs pass through (never kept
  // for the backward: a work buffer, not an activation).
  long transient_size() const { return transient_size_; }
  long workspace16_size() const { return workspace16_size_; }
  // The gradients' buffer: every activation of one chunk.
  long grad_offset(int chunk, int i) const { return grad_offsets_[chunk][i]; }
  long grad_size(int chunk) const { return grad_sizes_[chunk]; }
  long largest_grad_size() const;
  const std::vector<std::pair<int, int>>& groups(int chunk) const { return groups_[chunk]; }

 private:
  std::vector<std::vector<Place>> places_;
  std::vector<std::vector<long>> grad_offsets_;
  std::vector<long> state_sizes_, state16_sizes_, grad_sizes_;
  std::vector<std::vector<std::pair<int, int>>> groups_;
  long workspace_size_ = 0, workspace16_size_ = 0, transient_size_ = 0;
};

}  // namespace parallax::exec
