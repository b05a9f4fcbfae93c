// Activation recomputation in the executor: which layers each method recomputes, gradients
// equal to the bit with and without it, and the activation memory it saves against the
// simulator's prediction for the same plan.
#define BOOST_TEST_MODULE recompute
#include <boost/test/unit_test.hpp>

#include "exec/gpt.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "sim/memory.hpp"
#include "tests/tiny_gpt.hpp"

using namespace parallax;
using namespace parallax::exec;

namespace {
using Groups = std::vector<std::pair<int, int>>;

Experiment experiment(const std::string& recompute) { return test::tiny_experiment(recompute); }
using test::two_micro_batches;
}  // namespace

BOOST_AUTO_TEST_CASE(each_method_recomputes_megatrons_layers) {
  const RecomputePolicy none{}, selective{Recompute::selective, RecomputeMethod::block, 0};
  BOOST_TEST(recompute_groups(none, 4).empty());
  BOOST_TEST(recompute_groups(selective, 4).empty());
  // uniform, groups of 3 over 7 layers: [0,2] [3,5] [6,6]; 0 or 1: every layer alone
  BOOST_TEST((recompute_groups({Recompute::full, RecomputeMethod::uniform, 3}, 7) == Groups{{0, 2}, {3, 5}, {6, 6}}));
  BOOST_TEST((recompute_groups({Recompute::full, RecomputeMethod::uniform, 0}, 2) == Groups{{0, 0}, {1, 1}}));
  // block: the first N layers one at a time, all of them for 0, no more than the chunk holds
  BOOST_TEST((recompute_groups({Recompute::full, RecomputeMethod::block, 2}, 5) == Groups{{0, 0}, {1, 1}}));
  BOOST_TEST((recompute_groups({Recompute::full, RecomputeMethod::block, 0}, 3) == Groups{{0, 0}, {1, 1}, {2, 2}}));
  BOOST_TEST((recompute_groups({Recompute::full, RecomputeMethod::block, 5}, 2) == Groups{{0, 0}, {1, 1}}));
}

// With dropout too: the recomputed forward draws the masks the first one drew.
BOOST_AUTO_TEST_CASE(recomputation_changes_no_bit_of_the_gradients) {
  for (const double dropout : {0.0, 0.2}) {
    BOOST_TEST_CONTEXT("dropout " << dropout) {
      ModelConfig m = experiment("none").model;
      m.dropout = dropout;
      kernels::CpuKernels cpu;
      Gpt reference(m, 2, cpu);
      const auto [grads, loss] = two_micro_batches(reference, m);
      if (dropout > 0) {
        ModelConfig plain = m;
        plain.dropout = 0;
        Gpt without(plain, 2, cpu);
        BOOST_TEST(two_micro_batches(without, plain).second != loss);  // the masks drop something
      }
      for (const RecomputePolicy& p : {RecomputePolicy{Recompute::selective, RecomputeMethod::block, 0},
                                       RecomputePolicy{Recompute::full, RecomputeMethod::block, 0},
                                       RecomputePolicy{Recompute::full, RecomputeMethod::block, 3},
                                       RecomputePolicy{Recompute::full, RecomputeMethod::uniform, 3},
                                       RecomputePolicy{Recompute::full, RecomputeMethod::uniform, 4}}) {
        Gpt g(m, 2, cpu, {}, nullptr, p);
        const auto [other, other_loss] = two_micro_batches(g, m);
        BOOST_TEST(other_loss == loss);
        BOOST_TEST(other == grads, boost::test_tools::per_element());
      }
    }
  }
}

// Activations held per micro-batch, counted by hand (B=2, T=32, C=64, 4 heads, L=4, V=256;
// BT = 64 tokens): a layer keeps LN1, QKV (3C), the attention output, LN2's input and output,
// MLP up and GeLU (4C each) and its output: 16 floats of C a token, the LayerNorm statistics
// (4 a token), the log-sum-exp (4 a token) and the probabilities (4 heads x T x T a sequence)
// unless selective; the projections' outputs pass through a work buffer, not counted. The
// head keeps LN_f (C a token, 2 statistics), the logits (V), the losses, row maxima and sums.
BOOST_AUTO_TEST_CASE(activation_memory_is_counted_and_falls_as_predicted) {
  const long BT = 64, C = 64, V = 256, probs = 2L * 4 * 32 * 32;
  const long layer_selective = 16 * BT * C + 4 * BT + 4 * BT;
  const long head = BT * C + 2 * BT + BT * V + 3 * BT;
  auto measured = [&](const std::string& recompute) {
    const Experiment e = experiment(recompute);
    kernels::CpuKernels cpu;
    Gpt g(e.model, 2, cpu, {}, nullptr, recompute_policy(e.training));
    two_micro_batches(g, e.model);
    return g.activations_peak_bytes();
  };
  const double none = measured("none"), selective = measured("selective"), full = measured("full");
  BOOST_TEST(selective == 4.0 * (2 * (BT * C + 4 * layer_selective + head)));
  BOOST_TEST(none == selective + 4.0 * 2 * 4 * probs);
  // Full: each micro-batch keeps every layer's output; the workspace holds one layer's
  // activations but its output (kept), with the probabilities.
  BOOST_TEST(full == 4.0 * (2 * (BT * C + 4 * BT * C + head) + layer_selective - BT * C + probs));

  // The simulator's prediction for the same plan, one micro-batch in flight: full recomputation
  // lowers the activations by the same factor within 10 %.
  auto predicted = [&](const std::string& recompute) {
    return sim::stage_memory_at(experiment(recompute), 0, 1, 1).activations;
  };
  auto one_in_flight = [&](const std::string& recompute) {
    const Experiment e = experiment(recompute);
    kernels::CpuKernels cpu;
    Gpt g(e.model, 2, cpu, {}, nullptr, recompute_policy(e.training));
    std::vector<int> tokens(BT, 1);
    g.forward(0, 0, nullptr, tokens.data(), tokens.data());
    g.backward(0, 0, nullptr, 1.0f);
    return g.activations_peak_bytes();
  };
  const double predicted_factor = predicted("none") / predicted("full");
  const double measured_factor = one_in_flight("none") / one_in_flight("full");
  BOOST_TEST_MESSAGE("activation memory none/full: predicted " << predicted_factor << ", measured " << measured_factor);
  BOOST_TEST(std::abs(measured_factor / predicted_factor - 1) < 0.10);
}
