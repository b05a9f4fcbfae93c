// GPT-2 as nanoGPT defines it (learned positions, pre-LayerNorm blocks, attention and MLP
// with biases, GeLU, final LayerNorm, LM head tied to the token embedding), fp32 on the CPU
// kernels. Parameters carry nanoGPT's state_dict names; the vocabulary is padded to a multiple
// of 128 and the padded rows never take part in the loss.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/experiment.hpp"

namespace parallax::exec {

struct ParamTensor {
  std::string name;            // nanoGPT state_dict key
  std::vector<long> shape;     // torch layout ([out, in] for linear weights)
  long offset = 0, size = 0;   // in the flat parameter buffer
  bool weight_decay = false;   // 2-D weights decay, biases and LayerNorm parameters do not
};

class Gpt {
 public:
  // Throws InputError for a model the executor cannot run (not GPT-2's architecture).
  Gpt(const ModelConfig& model, int micro_batch);

  // Each tensor from (seed, name): N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)),
  // biases 0, LayerNorm weights 1; padded vocabulary rows 0.
  void init(std::uint64_t seed);

  // Mean cross-entropy over the micro-batch's B*T targets; keeps the activations.
  float forward(const int* inputs, const int* targets);
  // Accumulates the gradient of loss_scale * mean loss into grads(). `ready`, when given, is
  // called with each contiguous range [offset, offset + size) of grads() as soon as the pass
  // will not touch it again (final LayerNorm, each layer in reverse order, then the
  // embeddings), so that its reduction can start while the rest of the backward runs.
  void backward(float loss_scale, const std::function<void(long offset, long size)>& ready = {});
  void zero_grads();

  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const ParamTensor& tensor(const std::string& name) const;
  std::vector<float>& params() { return params_; }
  const std::vector<float>& params() const { return params_; }
  std::vector<float>& grads() { return grads_; }
  const ModelConfig& model() const { return model_; }
  int padded_vocab() const { return Vp_; }
  int micro_batch() const { return B_; }

 private:
  float* p(int idx) { return params_.data() + tensors_[idx].offset; }
  float* g(int idx) { return grads_.data() + tensors_[idx].offset; }

  ModelConfig model_;
  int B_, T_, C_, L_, NH_, V_, Vp_;
  std::vector<ParamTensor> tensors_;
  std::vector<float> params_, grads_;
  std::vector<float> acts_, dacts_;  // activations and their gradients, one buffer each
  std::vector<float> scratch_;       // attention's T x T work space
  std::vector<int> inputs_, targets_;
  std::vector<long> act_offsets_;     // offsets of the activations in acts_ (and of their gradients in dacts_)
  float* act(int i) { return acts_.data() + act_offsets_[i]; }
  float* dact(int i) { return dacts_.data() + act_offsets_[i]; }
};

}  // namespace parallax::exec
