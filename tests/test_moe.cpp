// Mixture of experts against hand-computed parameters, FLOPs, communication and memory.
#define BOOST_TEST_MODULE moe
#include <boost/test/unit_test.hpp>

#include "models/toml_reader.hpp"
#include "sim/collectives.hpp"
#include "sim/flops.hpp"
#include "sim/layer_costs.hpp"
#include "sim/memory.hpp"
#include "sim/plan_costs.hpp"
#include "sim/sweep.hpp"

using namespace parallax;
using boost::test_tools::tolerance;

namespace {
// Mixtral 8x7B on DGX H100 nodes, bf16, flash attention, one sequence of 4096 tokens per micro-batch.
Experiment mixtral(int tp, int ep, int dp) {
  const std::string toml = R"(
[model]
preset = "mixtral-8x7b"
[system]
preset = "dgx-h100"
[training]
micro_batch = 1
flash_attention = true
)";
  Experiment e = load_experiment_text(toml, "test", {}, false);
  e.parallel.tp = tp;
  e.parallel.ep = ep;
  e.parallel.dp = dp;
  e.system.gpus = tp * dp;
  e.training.global_batch = dp;
  return e;
}
}  // namespace

BOOST_AUTO_TEST_CASE(mixtral_has_its_published_parameter_counts) {
  // Jiang et al. 2024: 46.7B parameters, 12.9B active per token (2 of 8 experts).
  const ModelConfig m = model_preset("mixtral-8x7b");
  BOOST_TEST(m.parameters() / 1e9 == 46.7, tolerance(0.002));
  // Active parameters: what a token's forward multiplies (FLOPs / 2), plus the input embedding.
  const double active = m.layers * sim::layer_forward_flops_per_token(m) / 2 -
                        m.layers * sim::attention_core_flops_per_token(m) / 2 + 2.0 * m.hidden * m.vocab;
  BOOST_TEST(active / 1e9 == 12.9, tolerance(0.005));
}

BOOST_AUTO_TEST_CASE(experts_are_split_over_ep_ranks) {
  const ModelConfig m = model_preset("mixtral-8x7b");
  const double h = 4096, f = 14336, kvw = 8 * 128;
  const double attention = h * (h + 2 * kvw) + h * h, norms = 2 * h, router = 8 * h, expert = 3 * h * f;
  BOOST_TEST(sim::layer_params_per_device(m, 1, 1) == attention + norms + router + 8 * expert, tolerance(1e-12));
  BOOST_TEST(sim::layer_params_per_device(m, 2, 4) == attention / 2 + norms + router + 2 * expert / 2,
             tolerance(1e-12));
  BOOST_TEST(sim::layer_expert_params_per_device(m, 2, 4) == 2 * expert / 2, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(all_to_all_is_the_in_layer_communication_without_tp) {
  // tp = 1: no TP collectives. Forward: dispatch and combine, each rank sending its 4096 tokens
  // twice (top 2) of 4096 bf16 values, (ep-1)/ep of it leaving the rank (nccl-tests' busbw).
  const Experiment e = mixtral(1, 8, 8);
  const auto c = sim::transformer_layer_cost(e);
  const double bytes = 2.0 * 2 * 4096 * 4096;
  const double a2a = sim::collective_time(sim::Collective::all_to_all, bytes, 8, sim::group_link(e.system, 8, 1));
  BOOST_TEST(c.forward.tp_comm == 2 * a2a, tolerance(1e-12));
  BOOST_TEST(c.backward.tp_comm == 2 * a2a, tolerance(1e-12));
  BOOST_TEST(
      a2a == 7 * 3e-6 + bytes * 7 / 8 /
                            (e.system.intra_node.bandwidth_gbps * 1e9 * e.system.calibration.busbw_efficiency_intra),
      tolerance(1e-9));
  BOOST_TEST(sim::transformer_layer_cost(mixtral(1, 1, 8)).forward.tp_comm == 0.0);
}

BOOST_AUTO_TEST_CASE(top_k_doubles_the_expert_flops) {
  ModelConfig one = model_preset("mixtral-8x7b"), two = one;
  one.top_k = 1;
  const double mlp = 2.0 * 3 * 4096 * 14336;  // one SwiGLU expert, forward, per token
  BOOST_TEST(sim::layer_forward_flops_per_token(two) - sim::layer_forward_flops_per_token(one) == mlp,
             tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(optimizer_state_of_experts_is_sharded_over_dp_over_ep) {
  Experiment e = mixtral(1, 4, 8);
  e.parallel.distributed_optimizer = true;
  const double experts = sim::stage_expert_params_per_device(e, 0);
  const double dense = sim::stage_params_per_device(e, 0) - experts;
  BOOST_TEST(experts == 32 * 2 * 3 * 4096.0 * 14336, tolerance(1e-12));  // 2 of 8 experts in each of 32 layers
  BOOST_TEST(sim::stage_memory_at(e, 0, 1, 1).optimizer == 12 * (dense / 8 + experts / 2), tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(expert_gradients_are_reduced_over_their_own_replicas) {
  Experiment e = mixtral(1, 4, 8);
  e.parallel.overlap_grad_reduce = false;
  const double experts = sim::stage_expert_params_per_device(e, 0);
  const double dense = sim::stage_params_per_device(e, 0) - experts;
  const double expected =
      sim::collective_time(sim::Collective::all_reduce, 4 * dense, 8, sim::group_link(e.system, 8, 1)) +
      sim::collective_time(sim::Collective::all_reduce, 4 * experts, 2, sim::group_link(e.system, 2, 4));
  BOOST_TEST(sim::exposed_data_parallel_time(e, 0, 0.0) == expected, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(sweep_keeps_the_experiments_expert_parallelism) {
  Experiment e = mixtral(1, 8, 16);
  e.model.seq_len = 2048;
  e.training.global_batch = 64;
  SweepSpec spec;
  spec.gpus = {16};
  const sim::SweepResult r = sim::run_sweep(e, spec, {2, nullptr});
  BOOST_TEST(r.feasible > 0);
  for (const auto& plan : r.plans) {
    BOOST_TEST(plan.ep == 8);
    BOOST_TEST(plan.dp % 8 == 0);
    BOOST_CHECK_NO_THROW(validate(sim::plan_experiment(e, plan)));
  }
}
