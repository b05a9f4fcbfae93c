// Tensor parallelism, with and without sequence parallelism, on ranks that are threads of this
// process: the loss and every gradient equal the single process's, so a missing f or g
// operator, a missing all-gather or reduce-scatter, or a LayerNorm gradient not summed over
// the group fails here without MPI.
#define BOOST_TEST_MODULE tensor_parallel
#include <array>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <map>
#include <thread>

#include "exec/gpt.hpp"
#include "exec/thread_communicator.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "models/toml_reader.hpp"

using namespace parallax;
using namespace parallax::exec;

namespace {
using Whole = std::map<std::string, std::vector<float>>;  // whole gradient tensors by name

ModelConfig tiny(double dropout = 0) {
  ModelConfig m = model_preset("tiny-gpt");  // 2 layers, hidden 64, 4 heads
  m.seq_len = 16;
  m.dropout = dropout;
  m.vocab = 300;  // padded to 128*tp: some rows of the last ranks' slices are padding
  return m;
}

struct Pass {
  float loss = 0;
  Whole grads;  // each rank's slices in place in the whole tensors, zeros elsewhere
};

// One forward and backward of two sequences.
Pass run_rank(Gpt& g, const Layout& l) {
  const int n = 2 * g.model().seq_len;
  std::vector<int> in(n), tg(n);
  for (int i = 0; i < n; ++i) in[i] = (i * 37 + 11) % g.model().vocab, tg[i] = (i * 91 + 5) % g.model().vocab;
  g.init(5);
  g.zero_grads();
  Pass out;
  out.loss = g.forward(in.data(), tg.data());
  g.backward(1.0f);
  g.sum_sequence_parallel_grads();
  for (const ParamTensor& t : g.tensors()) {
    long size = 1;
    for (long d : t.shape) size *= d;
    auto& whole = out.grads.try_emplace(t.name, size, 0.0f).first->second;
    slice_to_whole(t, l.tp, l.tp_rank, g.grads().data() + t.offset, whole.data());
  }
  return out;
}

// The ranks' passes on threads; the gradients of tensors cut over the group put together, those
// whole on every rank checked to agree.
Pass tensor_parallel(int tp, bool sp, const RecomputePolicy& recompute, double dropout) {
  ThreadGroup group(tp);
  std::vector<Pass> passes(tp);
  std::vector<std::thread> ranks;
  for (int r = 0; r < tp; ++r)
    ranks.emplace_back([&, r] {
      ThreadCommunicator comm(group, r);
      const Layout l{tp, r, 1, 0, 1, 0, {}, sp};
      kernels::CpuKernels cpu;
      Gpt g(tiny(dropout), 2, cpu, l, &comm, recompute);
      passes[r] = run_rank(g, l);
    });
  for (auto& t : ranks) t.join();
  Pass out = passes[0];
  for (const ParamTensor& t : rank_tensors(tiny(), Layout{})) {
    std::vector<float>& whole = out.grads.at(t.name);
    for (int r = 1; r < tp; ++r) {
      const std::vector<float>& theirs = passes[r].grads.at(t.name);
      float worst = 0;
      for (size_t i = 0; i < whole.size(); ++i) {
        if (t.split != Split::none)
          whole[i] += theirs[i];
        else
          worst = std::max(worst, std::abs(theirs[i] - whole[i]) / (1e-6f + 1e-5f * std::abs(whole[i])));
      }
      BOOST_TEST(worst <= 1.0f, t.name << " differs between rank 0 and rank " << r);
    }
    BOOST_TEST(passes[tp - 1].loss == out.loss);
  }
  return out;
}
}  // namespace

// With dropout, each rank draws the masks of its heads and of its rows (sequence parallel) or
// of the whole tensor (not): the same elements as the single process.
BOOST_AUTO_TEST_CASE(tensor_and_sequence_parallel_gradients_equal_the_single_process) {
  for (const double dropout : {0.0, 0.2}) {
    BOOST_TEST_CONTEXT("dropout " << dropout) {
      kernels::CpuKernels cpu;
      Gpt single(tiny(dropout), 2, cpu);
      const Pass reference = run_rank(single, Layout{});
      const RecomputePolicy none{}, full{Recompute::full, RecomputeMethod::uniform, 2};
      for (const auto& [tp, sp, recompute] : {std::tuple{2, false, none}, std::tuple{2, true, none},
                                              std::tuple{4, true, none}, std::tuple{2, true, full}}) {
        BOOST_TEST_CONTEXT("tp " << tp << (sp ? ", sequence parallel" : "")
                                 << (recompute.layers ? ", full recompute" : "")) {
          const Pass got = tensor_parallel(tp, sp, recompute, dropout);
          BOOST_TEST(std::abs(got.loss - reference.loss) < 1e-5f);
          for (const auto& [name, want] : reference.grads) {
            const std::vector<float>& have = got.grads.at(name);
            float worst = 0, scale = 0;
            for (size_t i = 0; i < want.size(); ++i) {
              worst = std::max(worst, std::abs(have[i] - want[i]));
              scale = std::max(scale, std::abs(want[i]));
            }
            BOOST_TEST(worst <= 1e-5f * std::max(1.0f, scale), name << ": max |delta| " << worst << " of " << scale);
          }
        }
      }
    }
  }
}

// How NCCL's unique id reaches a group: rank 1's 128 bytes (any bit pattern, NaN-shaped words and
// a length that is no multiple of 8 included) arrive unchanged on every rank.
BOOST_AUTO_TEST_CASE(broadcast_bytes_carries_any_bits) {
  const int n = 3;
  ThreadGroup group(n);
  std::vector<std::array<unsigned char, 131>> got(n);
  std::array<unsigned char, 131> id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<unsigned char>(i * 37 + 255 * (i % 8 == 7));
  std::vector<std::thread> ranks;
  for (int r = 0; r < n; ++r)
    ranks.emplace_back([&, r] {
      ThreadCommunicator comm(group, r);
      got[r].fill(0);
      if (r == 1) got[r] = id;
      broadcast_bytes(comm, got[r].data(), static_cast<long>(got[r].size()), 1);
    });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < n; ++r) BOOST_TEST((got[r] == id), "rank " << r);
}
