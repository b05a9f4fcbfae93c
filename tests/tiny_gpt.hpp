// What the executor's unit tests share: the tiny experiment (4 layers, T=32, V=256, micro-batches
// of 2) and two micro-batches in flight through a model, as a pipeline keeps them.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "exec/gpt.hpp"
#include "models/toml_reader.hpp"

namespace parallax::test {

inline Experiment tiny_experiment(const std::string& recompute = "none") {
  return load_experiment_text(
      "[model]\npreset=\"tiny-gpt\"\nlayers=4\nseq_len=32\nvocab=256\n[system]\npreset=\"cpu\"\ngpus=1\n"
      "[training]\nglobal_batch=2\nmicro_batch=2\nprecision=\"fp32\"\nrecompute=\"" +
          recompute + "\"\n",
      "test");
}

// Two micro-batches in flight (forward, forward, backward, backward); the gradients and losses.
inline std::pair<std::vector<float>, float> two_micro_batches(exec::Gpt& g, const ModelConfig& m) {
  g.init(11);
  g.zero_grads();
  const int n = 2 * m.seq_len;
  std::vector<int> in(n), tg(n), in2(n);
  for (int i = 0; i < n; ++i) in[i] = (i * 37) % m.vocab, tg[i] = (i * 91 + 5) % m.vocab, in2[i] = (i * 13) % m.vocab;
  float loss = g.forward(0, 0, nullptr, in.data(), tg.data());
  loss += g.forward(0, 1, nullptr, in2.data(), tg.data(), 2);  // sequences 2 and 3 of the stream
  g.backward(0, 0, nullptr, 0.5f);
  g.backward(0, 1, nullptr, 0.5f);
  g.fold_tied_gradient();
  return {std::vector<float>(g.grads().begin(), g.grads().end()), loss};
}

}  // namespace parallax::test
