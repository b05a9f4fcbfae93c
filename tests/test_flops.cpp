// FLOP counts against the papers' closed forms.
#define BOOST_TEST_MODULE flops
#include <boost/test/unit_test.hpp>

#include "models/toml_reader.hpp"
#include "sim/flops.hpp"
#include "sim/layer_costs.hpp"
#include "sim/predict.hpp"

using namespace parallax;

namespace {
Experiment gpt(int L, int h, int a, int s, int V, int B) {
  Experiment e;
  e.model = {"t", L, h, a, a, 4 * h, s, V, Norm::layernorm, Activation::gelu, Position::learned, true};
  e.training.global_batch = B;
  return e;
}
}  // namespace

BOOST_AUTO_TEST_CASE(model_flops_is_korthikanti_eq7_for_gpt) {
  const Experiment e = gpt(96, 12288, 96, 2048, 51200, 1536);
  const double h = 12288, s = 2048, L = 96, V = 51200, B = 1536;
  const double expected = 72 * B * s * L * h * h * (1 + s / (6 * h) + V / (12 * L * h));
  BOOST_TEST(sim::model_flops(e) == expected, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(megatron96_reproduces_bloom_probe_row_76) {
  // BigScience log: 112.49 TFLOP/s per GPU from 143.31 s on 384 GPUs (published_runs.csv row 76).
  const Experiment e = gpt(72, 14336, 64, 2048, 250880, 2048);
  BOOST_TEST(sim::megatron96_flops(e) / (143.31 * 384) / 1e12 == 112.49, boost::test_tools::tolerance(1e-3));
}

BOOST_AUTO_TEST_CASE(hardware_flops_add_the_recomputed_forward) {
  Experiment e = gpt(24, 2048, 16, 2048, 51200, 8);
  const double tokens = 8.0 * 2048;
  e.training.recompute = Recompute::full;
  BOOST_TEST(sim::hardware_flops(e) - sim::model_flops(e) == tokens * 24 * sim::layer_forward_flops_per_token(e.model),
             boost::test_tools::tolerance(1e-12));
  e.training.recompute = Recompute::selective;
  BOOST_TEST(sim::hardware_flops(e) - sim::model_flops(e) == tokens * 24 * 4.0 * 2048 * 2048,
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(gqa_swiglu_matches_megatron_core_formula) {
  // Megatron-Core num_floating_point_operations: 12*B*s*L*h^2*[(1 + g/a + s/h)*(q/h) + (ffn/h)*1.5 + V/(2*L*h)]
  const ModelConfig m = model_preset("llama3-8b");
  Experiment e;
  e.model = m;
  e.training.global_batch = 4;
  const double B = 4, s = m.seq_len, L = m.layers, h = m.hidden, g = m.kv_heads, a = m.heads, f = m.ffn_hidden,
               V = m.vocab;
  const double expected = 12 * B * s * L * h * h * ((1 + g / a + s / h) * 1.0 + (f / h) * 1.5 + V / (2 * L * h));
  BOOST_TEST(sim::model_flops(e) == expected, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(block_recompute_counts_its_share_of_the_forward) {
  Experiment e = load_experiment_text(
      "[model]\npreset=\"gpt3-175b\"\n[system]\npreset=\"dgx-a100-80g\"\ngpus=64\n[parallel]\ntp=8\npp=8\n"
      "[training]\nglobal_batch=64\nmicro_batch=1\nrecompute=\"full\"\n",
      "test");
  const double all = sim::hardware_flops(e) - sim::model_flops(e);
  e.training.recompute_layers = 3;  // of 12 a stage
  BOOST_TEST(sim::hardware_flops(e) - sim::model_flops(e) == all / 4, boost::test_tools::tolerance(1e-12));
  const auto c = sim::transformer_layer_cost(e);
  BOOST_TEST(c.backward.recompute == c.forward.compute / 4, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(mfu_counts_model_flops_and_hfu_the_recomputed_ones) {
  // GPT-3 175B on 1024 A100s with full recomputation: MFU from Korthikanti eq. (7), HFU from
  // SC21 eq. (3) (the forward run twice), both over the predicted time and the bf16 peak, by hand.
  Experiment e = load_experiment_file(PARALLAX_SOURCE_DIR "/experiments/example.toml",
                                      {"training.recompute=full", "training.recompute_layers=0"});
  const sim::Prediction p = sim::predict(e);
  const double h = 12288, s = 2048, L = 96, V = 51200, B = e.training.global_batch, gpus = e.system.gpus;
  const double peak = 312e12;  // A100 bf16 dense
  const double model = 72 * B * s * L * h * h * (1 + s / (6 * h) + V / (12 * L * h));
  const double hardware = 96 * B * s * L * h * h * (1 + s / (6 * h) + V / (16 * L * h));
  BOOST_TEST(p.mfu == model / (p.iteration_time_s * gpus * peak), boost::test_tools::tolerance(1e-9));
  BOOST_TEST(p.hfu == hardware / (p.iteration_time_s * gpus * peak), boost::test_tools::tolerance(1e-9));
  BOOST_TEST(p.hfu > p.mfu * 1.3);
}
