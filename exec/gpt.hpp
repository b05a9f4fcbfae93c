// GPT-2 as nanoGPT defines it (learned positions, pre-LayerNorm blocks, attention and MLP
// with biases, GeLU, final LayerNorm, LM head tied to the token embedding), on the
// kernels of a backend (kernels/kernels.hpp): the part of it that one rank holds under tensor
// and pipeline parallelism (exec/shard.hpp), the whole model by default. Parameters carry
// nanoGPT's state_dict names.
//
// Tensor parallelism follows Megatron: the f operator (identity forward, all-reduce of the
// input gradient backward) before each column-parallel GEMM, the g operator (all-reduce
// forward) after each row-parallel one, a vocabulary-parallel embedding (summed over the TP
// group) and cross-entropy (max, sum of exponentials and target loss all-reduced); with
// sequence parallelism an all-gather and a reduce-scatter take their places (tp_input).
//
// Under mixed precision (bf16, fp16) the model holds 16-bit weights, cast from the fp32 master
// weights in params() after each optimizer step, and keeps its activations in 16 bits: a pass
// computes in fp32 buffers of one layer (the kernels leave 16-bit values in them, see
// kernels/cpu/mixed_precision.hpp) that are cast to the kept 16-bit tensors after the layer's
// forward and back before its backward, exactly (the values are on the 16-bit grid).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "exec/activation_layout.hpp"
#include "exec/communicator.hpp"
#include "exec/shard.hpp"
#include "kernels/kernels.hpp"
#include "models/experiment.hpp"

namespace parallax::exec {

class Gpt {
 public:
  // Throws InputError for a model the executor cannot run (not GPT-2's architecture). `tp` is
  // the tensor-parallel group (layout.tp ranks), needed when layout.tp > 1. Under full
  // recomputation the forward keeps only each recompute group's input and output, and the
  // backward re-runs the group's forward first (the same kernels on the same inputs: the
  // numbers are those of a run without recomputation, bit for bit).
  Gpt(const ModelConfig& model, int micro_batch, kernels::Kernels& kernels, const Layout& layout = {},
      Communicator* tp = nullptr, const RecomputePolicy& recompute = {}, Precision precision = Precision::fp32,
      Communicator* dp = nullptr);

  // Each whole tensor from (seed, name): N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)),
  // biases 0, LayerNorm weights 1; this rank keeps its slice, so every layout starts from the
  // same weights. Padded vocabulary rows 0.
  void init(std::uint64_t seed);
  // Under mixed precision, the 16-bit weights the passes read (weights16()), from params():
  // init and load_checkpoint cast them once they have filled params(). The optimizer then keeps
  // the fp32 master weights, and the model lets params() go (release_fp32_weights).
  void cast_weights();
  kernels::Halves& weights16() { return params16_; }
  void release_fp32_weights() { kernels::Floats(k_.memory()).swap(params_); }
  // Under FSDP (layout.fsdp, dp > 1, `dp` the DP group) the weights held, fp32 or 16-bit, shrink
  // to this rank's block of the flat buffer; a pass gathers its layer's weights over the DP group.
  void shard_weights();
  Precision precision() const { return precision_; }
  // Dropout (model.dropout, nanoGPT's four sites: the embeddings' sum, the attention
  // probabilities, the attention's and the MLP's outputs before their residual additions)
  // draws its masks from this seed (training.seed in a run), 0 until set.
  void seed_dropout(std::uint64_t seed);

  // One chunk's forward for micro-batch `mb`: from the tokens (embedding chunk) or from the
  // activation `x` (a message: activation_size() elements of message_dtype()) received from the
  // previous stage. Keeps the activations until the micro-batch's backward. Returns the mean
  // cross-entropy on the head chunk, else 0.
  // `first_sample`, the index of the micro-batch's first sequence in the stream of training
  // sequences, names the elements its dropout masks draw (kernels/dropout.hpp).
  float forward(int chunk, int mb, const void* x, const int* inputs, const int* targets, long first_sample = 0);
  const void* output(int chunk, int mb) const;  // a message, after a non-head chunk's forward
  // What pipeline stages exchange: activations and their gradients in fp32, or in 16 bits.
  Dtype message_dtype() const { return dtype_of(precision_); }
  // Accumulates the gradient of loss_scale * mean loss (head chunk) or of <dy, output> into
  // grads() and releases the micro-batch's activations. `ready`, when given, is called with
  // each range [offset, offset + size) of grads() the pass will not touch again (final
  // LayerNorm, each layer in reverse order, then the embeddings), so that its reduction can
  // start while the rest of the backward runs; `poll`, when given, is called between kernels
  // so that the communication library can advance those reductions.
  void backward(int chunk, int mb, const void* dy, float loss_scale,
                const std::function<void(long offset, long size)>& ready = {}, const std::function<void()>& poll = {});
  // The gradient of the chunk's input (a message), after the backward of a non-embedding chunk
  // (valid until the next backward).
  const void* input_grad();

  // The whole model on one rank: chunk 0, micro-batch 0.
  float forward(const int* inputs, const int* targets) { return forward(0, 0, nullptr, inputs, targets); }
  void backward(float loss_scale, const std::function<void(long, long)>& ready = {}) {
    backward(0, 0, nullptr, loss_scale, ready);
    fold_tied_gradient();
  }
  void zero_grads();
  // Where one rank holds both the embedding and the LM head, the head's share of the tied
  // embedding's gradient accumulates apart and is added here (embedding + head: the sum the
  // two end stages of a pipeline form, so that every layout adds in the same order); the
  // share starts again from 0. Done by the embedding chunk's backward when it reports the
  // tensor ready, and by the whole-model backward; otherwise call it after the last backward.
  void fold_tied_gradient();

  const Layout& layout() const { return layout_; }
  const std::vector<Chunk>& chunks() const { return chunks_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const ParamTensor& tensor(const std::string& name) const;
  bool holds(const std::string& name) const;
  kernels::Floats& params() { return params_; }
  const kernels::Floats& params() const { return params_; }
  kernels::Floats& grads() { return grads_; }
  kernels::Kernels& kernels() { return k_; }
  const ModelConfig& model() const { return model_; }
  int padded_vocab() const { return Vp_; }
  int micro_batch() const { return B_; }
  // Floats of a chunk's input and output: [B*T*C], or this rank's rows of them under sequence
  // parallelism (what pipeline stages exchange).
  long activation_size() const { return rows_ * C_; }
  // Under sequence parallelism, sums each LayerNorm parameter's gradient over the TP group (each
  // rank saw its own rows only); done by the backward for what it reports ready, otherwise call
  // it after the last backward of the step.
  void sum_sequence_parallel_grads();
  // Seconds spent in tensor-parallel collectives since the last call.
  double take_tp_comm_seconds();
  // Bytes of activations held for the backward (Korthikanti et al.'s count): the most that the
  // micro-batches in flight held at once since construction, with the recompute workspace.
  double activations_peak_bytes() const;
  // Bytes of the weights held (fp32, and the 16-bit ones under mixed precision), of the
  // gradients, and of the passes' work buffers (the activations' gradients of one chunk, the
  // attention's scratch, the projections' outputs on their way to the residual addition, the
  // whole input sequence parallelism gathers for a GEMM, as Megatron's global memory buffer;
  // under mixed precision the fp32 view of one layer's weights and the
  // fp32 buffers one layer computes in: the CPU kernels' working copies, like the gradients').
  double weight_bytes() const {
    const double gathered = fsdp_ ? static_cast<double>(view_.size()) * sizeof(float) : 0;  // a layer's
    return static_cast<double>(params_.size()) * sizeof(float) + static_cast<double>(params16_.size()) * 2 + gathered;
  }
  double gradient_bytes() const { return static_cast<double>(grads_.size() + head_grad_.size()) * sizeof(float); }
  double work_bytes() const;

 private:
  struct State {  // one micro-batch's activations in one chunk
    explicit State(std::pmr::memory_resource* memory) : acts(memory), acts16(memory), inputs(memory), targets(memory) {}
    kernels::Floats acts;
    kernels::Halves acts16;                 // those kept in 16 bits under mixed precision
    std::pmr::vector<int> inputs, targets;  // the kernels read them: the backend's memory
    long first_sample = 0;
    double bytes() const {
      return static_cast<double>(acts.size()) * sizeof(float) + static_cast<double>(acts16.size()) * 2;
    }
  };
  using LayerActs = std::array<float*, ACTS_PER_LAYER>;
  // The dropouts of one layer of a micro-batch: the attention probabilities, the attention's and
  // the MLP's outputs.
  struct LayerDropouts {
    kernels::Dropout probabilities, attention_output, mlp_output;
  };
  enum class DropoutSite { embedding, probabilities, attention_output, mlp_output };
  // Layer -1 is the embedding's; a hidden-state site covers this rank's rows (mine()).
  kernels::Dropout dropout(const State& s, int layer, DropoutSite site) const;
  LayerDropouts layer_dropouts(const State& s, int chunk, int layer) const;
  bool mixed() const { return precision_ != Precision::fp32; }
  State& state(int chunk, int mb);
  void release(int chunk, int mb);
  // The weights of tensor idx as the kernels read them: params(), or under mixed precision its
  // fp32 view, which view_weights fills with the tensor ranges [first, last] a pass reads (cast
  // from the 16-bit weights, or gathered over the DP group under FSDP).
  float* p(int idx) { return mixed() || fsdp_ ? view_.data() + view_at_[idx] : params_.data() + tensors_[idx].offset; }
  void view_weights(std::initializer_list<std::pair<int, int>> ranges);
  void gather_weights(long begin, long end, float* to);  // FSDP: [begin, end) of the flat buffer
  void allocate_storage();  // the buffers of mixed precision and FSDP, after acts_ and kept_sizes_
  float* g(int idx) { return grads_.data() + tensors_[idx].offset; }
  // Activation i (ActivationLayout) of a micro-batch where the kernels read and write it: its
  // place, or under mixed precision, for one kept in 16 bits, its place in the fp32 buffers of
  // one layer (compute_), which stash casts to its 16-bit place and unstash back.
  float* act(State& s, int chunk, int i);
  std::uint16_t* home16(State& s, int chunk, int i);
  long act_size(int chunk, int i) const;
  void stash(State& s, int chunk, int i);
  void unstash(State& s, int chunk, int i);
  void stash_layer(State& s, int chunk, int layer, bool kept_only);
  void unstash_layer(State& s, int chunk, int layer);   // all but its output, which its backward does not read
  void take_input(State& s, int chunk, const void* x);  // a received message into activation X
  float* grad(int chunk, int i) { return dacts_.data() + acts_.grad_offset(chunk, i); }
  LayerActs layer_acts(State& s, int chunk, int layer);
  LayerActs layer_grads(int chunk, int layer);
  // One transformer layer (first parameter tensor `pi`) from its input `in`; the backward adds
  // the input's gradient into `din`, calling `poll` between kernels.
  void layer_forward(int pi, const float* in, const LayerActs& y, const LayerDropouts& d);
  void layer_backward(int pi, const float* in, float* din, const LayerActs& y, const LayerActs& dy,
                      const LayerDropouts& d, const std::function<void()>& poll);
  void head_forward(State& s, int chunk, const float* in, const int* targets);
  void head_backward(State& s, int chunk, const float* in, float* din, float loss_scale);
  // An all-reduce over the TP group (sum: the g and f operators; max: the softmax), timed.
  void tp_reduce(float* data, long n, bool max = false);
  // The TP collectives around the tensor-parallel regions, timed. Without sequence parallelism:
  // tp_input is the identity (f forward), tp_output an all-reduce (g forward) and
  // tp_input_backward an all-reduce (f backward). With it (Korthikanti et al. 2022, sec. 4.2.2):
  // tp_input all-gathers this rank's rows into a whole tensor, tp_output reduce-scatters a
  // whole tensor into this rank's rows (at mine()), and each one's backward is the other.
  const float* tp_input(const float* x);
  void tp_output(float* whole);
  void tp_input_backward(float* whole) { tp_output(whole); }
  void tp_output_backward(float* whole) {
    if (sp_) tp_all_gather(whole);
  }
  void tp_all_gather(float* whole);  // this rank's rows (at mine()) to every rank
  float* mine(float* whole) const { return whole + first_row_ * C_; }
  void sum_sequence_parallel_grads(int first_tensor, int last_tensor);

  ModelConfig model_;
  kernels::Kernels& k_;
  Layout layout_;
  Communicator* tp_;
  int B_, T_, C_, L_, NH_, V_, Vp_;
  int Cl_, NHl_, Vl_;              // per TP rank: hidden of attention, heads, vocabulary rows
  int vocab_begin_, vocab_valid_;  // this rank's first vocabulary row, and its rows that are real tokens
  std::vector<Chunk> chunks_;
  std::vector<ParamTensor> tensors_;
  kernels::Floats params_, grads_;
  int wte_ = -1, wpe_ = -1, lnf_ = -1;  // tensor indices, -1 where this rank has none
  std::vector<bool> layernorm_;         // per tensor: a LayerNorm's weight or bias
  std::vector<int> layer_param_;        // per chunk: index of its first layer's first tensor
  ActivationLayout acts_;
  kernels::Floats workspace_;                      // recomputed layers' activations, the projections' outputs
  std::map<std::pair<int, int>, State> states_;    // in flight, by (chunk, micro-batch)
  double state_bytes_ = 0, state_bytes_peak_ = 0;  // bytes held by states_, now and at most
  std::vector<State> pool_;                        // released states, reused
  kernels::Floats head_grad_;                      // the LM head's share of the tied embedding gradient
  kernels::Floats dacts_;                          // activation gradients of the running backward (the input's first)
  kernels::Floats scratch_;                        // attention's T x T work space
  double tp_comm_s_ = 0;
  std::uint64_t dropout_stream_ = 0;
  bool keeps_probs_ = false;  // the attention probabilities kept for the backward (RecomputePolicy)
  // Sequence parallelism: this rank's rows_ tokens from first_row_ of the micro-batch's B*T
  // outside the tensor-parallel regions; `gathered_` holds a whole [B*T, C] input of a GEMM.
  bool sp_ = false;
  long rows_ = 0, first_row_ = 0;
  kernels::Floats gathered_;
  // Mixed precision: the 16-bit weights, the fp32 view of those a pass reads (view_at_: where
  // each tensor starts in it, -1 when absent), the 16-bit part of the recompute workspace, the
  // fp32 buffers of one layer's activations (compute_at_: where activation a of a layer starts,
  // then X, then the head's LNF), and the input's gradient as a 16-bit message.
  Precision precision_ = Precision::fp32;
  ActivationLayout::Sizes kept_sizes_;
  kernels::Halves params16_, workspace16_, input_grad16_;
  kernels::Floats view_, compute_;
  std::vector<long> view_at_, compute_at_;
  // FSDP: the DP group, each rank's block of the flat buffer and where this rank's begins, and
  // the 16-bit weights of a range being gathered.
  Communicator* dp_ = nullptr;
  bool fsdp_ = false;
  std::vector<long> shard_blocks_;
  long shard_begin_ = 0;
  kernels::Halves gathered16_;
};

}  // namespace parallax::exec
