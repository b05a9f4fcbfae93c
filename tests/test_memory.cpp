// Activation and parameter memory against Korthikanti et al. 2022 (Table 2) by hand.
#define BOOST_TEST_MODULE memory
#include <boost/test/unit_test.hpp>

#include "sim/memory.hpp"
#include "sim/pipeline_schedule.hpp"

using namespace parallax;
using boost::test_tools::tolerance;

namespace {
Experiment gpt22b(int tp, bool sp, Recompute r) {
  Experiment e;
  e.model = {"22b", 48, 6144, 64, 64, 4 * 6144, 2048, 51200, Norm::layernorm, Activation::gelu, Position::learned,
             true};
  e.parallel.tp = tp;
  e.parallel.sequence_parallel = sp;
  e.training.micro_batch = 4;
  e.training.recompute = r;
  e.training.precision = Precision::fp16;
  return e;
}
const double s = 2048, b = 4, h = 6144, a = 64;
}  // namespace

BOOST_AUTO_TEST_CASE(no_parallelism_is_34sbh_plus_5as2b) {
  BOOST_TEST(sim::layer_activation_bytes(gpt22b(1, false, Recompute::none)) == s * b * h * (34 + 5 * a * s / h),
             tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(tensor_parallel_is_eq2) {
  const double t = 8;
  BOOST_TEST(
      sim::layer_activation_bytes(gpt22b(8, false, Recompute::none)) == s * b * h * (10 + 24 / t + 5 * a * s / (h * t)),
      tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(sequence_parallel_is_eq4) {
  const double t = 8;
  BOOST_TEST(sim::layer_activation_bytes(gpt22b(8, true, Recompute::none)) == s * b * h / t * (34 + 5 * a * s / h),
             tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(selective_recompute_drops_the_attention_scores) {
  const double t = 8;
  BOOST_TEST(sim::layer_activation_bytes(gpt22b(8, true, Recompute::selective)) == 34 * s * b * h / t,
             tolerance(1e-12));
  BOOST_TEST(sim::layer_activation_bytes(gpt22b(8, false, Recompute::selective)) == s * b * h * (10 + 24 / t),
             tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(full_recompute_keeps_the_layer_input) {
  BOOST_TEST(sim::layer_activation_bytes(gpt22b(8, false, Recompute::full)) == 2 * s * b * h, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(gpt_layer_has_12h2_plus_13h_parameters) {
  const ModelConfig m = gpt22b(1, false, Recompute::none).model;
  BOOST_TEST(sim::layer_params_per_device(m, 1) == 12 * h * h + 13 * h, tolerance(1e-12));
  // TP splits the matrices and their biases except the row-parallel biases and the norms.
  BOOST_TEST(sim::layer_params_per_device(m, 8) == (12 * h * h + 7 * h) / 8 + 6 * h, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(first_stage_of_1f1b_holds_p_microbatches) {
  Experiment e = gpt22b(8, true, Recompute::selective);
  e.parallel.pp = 4;
  e.parallel.dp = 1;
  e.training.global_batch = 64;
  e.system.device.memory_gib = 80;
  e.system.calibration.memory_overhead_gib = 0;
  const auto sched = sim::make_schedule(Schedule::one_f_one_b, 4, 1, 16);
  const auto mem = sim::stage_memory(e, sched);
  const double per_layer = sim::layer_activation_bytes(e);
  // Stage 1 (no embedding, no head): 3 micro-batches of 12 layers in flight.
  BOOST_TEST(mem[1].activations == 3 * 12 * per_layer, tolerance(1e-12));
  // Mixed fp16: 2-byte weights and gradients, 16 bytes of optimizer state per parameter.
  const double params = sim::stage_params_per_device(e, 1);
  BOOST_TEST(mem[1].weights == 2 * params, tolerance(1e-12));
  BOOST_TEST(mem[1].gradients == 2 * params, tolerance(1e-12));
  BOOST_TEST(mem[1].optimizer == 16 * params, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(block_recompute_keeps_the_other_layers_whole) {
  // 48 layers on one stage, 12 of them recomputed (Megatron's --recompute-method block
  // --recompute-num-layers 12): 12 keep their input only, 36 keep everything.
  Experiment full = gpt22b(8, true, Recompute::full), block = full, none = gpt22b(8, true, Recompute::none);
  for (Experiment* e : {&full, &block, &none}) {
    e->training.global_batch = 4;
    e->system.gpus = 8;
  }
  block.training.recompute_layers = 12;
  const double a_full = sim::stage_memory_at(full, 0, 1, 1).activations;
  const double a_block = sim::stage_memory_at(block, 0, 1, 1).activations;
  BOOST_TEST(a_block - a_full == 36 * (sim::layer_activation_bytes(none) - sim::layer_activation_bytes(full)),
             tolerance(1e-9));
  BOOST_TEST(block.recomputed_fraction() == 0.25, tolerance(1e-12));
  BOOST_CHECK_NO_THROW(validate_plan(block));
  block.training.recompute_layers = 49;
  BOOST_CHECK_THROW(validate_plan(block), InputError);
  none.training.recompute_layers = 12;
  BOOST_CHECK_THROW(validate_plan(none), InputError);
}

BOOST_AUTO_TEST_CASE(swiglu_keeps_both_halves_of_the_up_projection) {
  // Korthikanti's Table 2 term by term for a SwiGLU MLP of width f (t = 1, fp16, dropout):
  // outside the MLP as GPT's 18sbh (LN inputs 4, QKV and MLP inputs 4, masks 2, Q K V 6,
  // projection input 2); the MLP keeps its fused gate-and-up output (2 x 2sbf) and the product
  // that feeds the down projection (2sbf); the scores, softmax and dropout 5as^2b.
  Experiment e = gpt22b(1, false, Recompute::none);
  e.model.activation = Activation::swiglu;
  e.model.ffn_hidden = 16384;
  const double f = 16384;
  BOOST_TEST(sim::layer_activation_bytes(e) == 18 * s * b * h + 6 * s * b * f + 5 * a * s * s * b, tolerance(1e-12));
  e.model.activation = Activation::gelu;  // GeLU's MLP keeps f once before and once after it
  BOOST_TEST(sim::layer_activation_bytes(e) == 18 * s * b * h + 4 * s * b * f + 5 * a * s * s * b, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(last_stage_holds_the_logits_and_their_gradient) {
  // Two stages of 24 layers, no dropout (the first stage keeps no embedding mask): the last stage
  // holds its layers' activations plus, for one micro-batch, the logits of its vocabulary slice in
  // 16 bits and in fp32 for the loss, and their fp32 gradient — (2 + 4 + 4) bytes a logit; fp32
  // training keeps one fp32 tensor and its gradient, 8 bytes.
  for (const auto& [precision, bytes_per_logit] : {std::pair{Precision::fp16, 10.0}, {Precision::fp32, 8.0}}) {
    Experiment e = gpt22b(8, true, Recompute::selective);
    e.model.dropout = 0;
    e.parallel.pp = 2;
    e.training.precision = precision;
    const double layers = 24, tokens = s * b, vocab_slice = 51200 / 8.0;
    const double held = sim::stage_memory_at(e, 1, 1, 1).activations;
    BOOST_TEST(held - layers * sim::layer_activation_bytes(e) == tokens * vocab_slice * bytes_per_logit,
               tolerance(1e-12));
    BOOST_TEST(sim::stage_memory_at(e, 0, 1, 1).activations == layers * sim::layer_activation_bytes(e),
               tolerance(1e-12));
  }
}
