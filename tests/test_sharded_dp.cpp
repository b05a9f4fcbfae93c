// Sharded data parallelism (ZeRO stages 1-3, FSDP with and without resharding after forward)
// against hand counts of what it moves and holds.
#define BOOST_TEST_MODULE sharded_dp
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <set>

#include "models/sweep_spec.hpp"
#include "models/toml_reader.hpp"
#include "sim/collectives.hpp"
#include "sim/fast_estimate.hpp"
#include "sim/layer_costs.hpp"
#include "sim/memory.hpp"
#include "sim/plan_costs.hpp"
#include "sim/predict.hpp"
#include "sim/sharded_dp.hpp"
#include "sim/sweep.hpp"

using namespace parallax;
using boost::test_tools::tolerance;
using sim::Collective;

namespace {
Experiment llama8b(int gpus, int global_batch, const std::string& precision, const std::string& sharding) {
  return load_experiment_text("[model]\npreset=\"llama3-8b\"\n[system]\npreset=\"dgx-h100\"\ngpus=" +
                                  std::to_string(gpus) + "\n[parallel]\ntp=1\npp=1\n" + sharding +
                                  "\n[training]\nmicro_batch=1\nglobal_batch=" + std::to_string(global_batch) +
                                  "\nprecision=\"" + precision + "\"\n",
                              "test");
}

// Bytes one rank sends in a step for `params` weights on n ranks: every collective's payload
// times its ring factor (nccl-tests' busbw factors), the passes once per micro-batch.
double step_volume(const Experiment& e, double params) {
  const int n = e.parallel.dp;
  const auto f = [n](Collective c) { return sim::busbw_factor(c, n); };
  const sim::PassTraffic pass = sim::pass_traffic(e, params);
  const sim::StepTraffic step = sim::step_traffic(e, params);
  return e.micro_batches() * ((pass.forward_gather + pass.backward_gather) * f(Collective::all_gather) +
                              pass.backward_reduce_scatter * f(Collective::reduce_scatter)) +
         step.all_reduce * f(Collective::all_reduce) + step.reduce_scatter * f(Collective::reduce_scatter) +
         step.all_gather * f(Collective::all_gather);
}
}  // namespace

BOOST_AUTO_TEST_CASE(volumes_match_zero_and_fsdp_documented_traffic) {
  // In fp16 weights and gradients are both 2 bytes, the ZeRO paper's unit: Psi = 2 bytes a
  // parameter, and a ring over n ranks sends (n-1)/n of each payload per rank. Sec. 7 of
  // Rajbhandari et al. 2020: DP's all-reduce 2 Psi, ZeRO-1 and ZeRO-2 2 Psi (reduce-scatter +
  // all-gather), ZeRO-3 3 Psi (two gathers, one reduce-scatter); Zhao et al. 2023 (PyTorch FSDP)
  // likewise FULL_SHARD 3 Psi and SHARD_GRAD_OP 2 Psi. With m micro-batches a step, the passes'
  // collectives run m times: ZeRO-2 (m + 1) Psi, ZeRO-3 3m Psi, SHARD_GRAD_OP 2m Psi.
  const struct {
    const char* sharding;
    double psi_one, psi_four;  // Psi a step at m = 1 and at m = 4
  } cases[] = {{"", 2, 2},
               {"zero_stage=1", 2, 2},
               {"zero_stage=2", 2, 5},
               {"zero_stage=3", 3, 12},
               {"fsdp=true\nreshard_after_forward=false", 2, 8}};
  for (const auto& c : cases) {
    for (const int batch : {8, 32}) {
      const Experiment e = llama8b(8, batch, "fp16", c.sharding);
      BOOST_TEST_REQUIRE(e.micro_batches() == batch / 8);
      const double params = sim::stage_params_per_device(e, 0);
      const double psi = 2 * params * 7.0 / 8;
      BOOST_TEST_CONTEXT(c.sharding << " at m = " << e.micro_batches()) {
        BOOST_TEST(step_volume(e, params) / psi == (batch == 8 ? c.psi_one : c.psi_four), tolerance(1e-12));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(zero2_reduce_scatters_every_micro_batch_and_keeps_a_gradient_shard) {
  // Llama 3 8B on two DGX H100 nodes, bf16 (fp32 gradients), DP 16 across them.
  Experiment e = llama8b(16, 64, "bf16", "zero_stage=2");
  BOOST_TEST(e.parallel.distributed_optimizer);
  BOOST_TEST(e.parallel.shard_gradients);
  BOOST_TEST(e.parallel.zero_stage() == 2);
  const auto& m = e.model;
  const double layer = sim::layer_params_per_device(m, 1), params = sim::stage_params_per_device(e, 0);
  const auto link = sim::group_link(e.system, 16, 1);
  BOOST_TEST(link.inter_node);
  // Each layer's backward reduce-scatters its fp32 gradients; overlapped, what outlasts the
  // backward shows; the forward moves nothing.
  const double reduce = sim::collective_time(Collective::reduce_scatter, 4 * layer, 16, link);
  auto c = sim::transformer_layer_cost(e);
  BOOST_TEST(c.forward.dp_comm == 0.0);
  BOOST_TEST(c.backward.dp_comm == std::max(0.0, reduce - c.backward.compute), tolerance(1e-12));
  e.parallel.overlap_grad_reduce = false;  // DeepSpeed's overlap_comm off: the reduce waits
  c = sim::transformer_layer_cost(e);
  BOOST_TEST(c.backward.dp_comm == reduce, tolerance(1e-12));
  // After the last backward only the updated 16-bit weights are gathered.
  e.parallel.overlap_param_gather = false;
  BOOST_TEST(
      sim::exposed_data_parallel_time(e, 0, 1.0) == sim::collective_time(Collective::all_gather, 2 * params, 16, link),
      tolerance(1e-12));
  // Memory: whole 16-bit weights, a 16th of the fp32 gradients and of Adam's 12 bytes, and one
  // unit's unsharded gradients (the 128K-vocabulary embedding, larger than a layer).
  const double embedding = sim::vocab_params_per_device(m, 1);
  BOOST_TEST_REQUIRE(embedding > layer);
  const sim::StageMemory mem = sim::stage_memory_at(e, 0, 1, 1);
  BOOST_TEST(mem.weights == 2 * params, tolerance(1e-12));
  BOOST_TEST(mem.gradients == 4 * params / 16 + 4 * embedding, tolerance(1e-12));
  BOOST_TEST(mem.optimizer == 12 * params / 16, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(fsdp_without_resharding_gathers_once_a_micro_batch_and_holds_the_stage) {
  Experiment e = llama8b(16, 64, "bf16", "fsdp=true\nreshard_after_forward=false");
  BOOST_TEST(e.parallel.zero_stage() == 3);
  const double layer = sim::layer_params_per_device(e.model, 1), params = sim::stage_params_per_device(e, 0);
  const auto link = sim::group_link(e.system, 16, 1);
  const double gather = sim::collective_time(Collective::all_gather, 2 * layer, 16, link);
  const double reduce = sim::collective_time(Collective::reduce_scatter, 4 * layer, 16, link);
  const auto c = sim::transformer_layer_cost(e);
  BOOST_TEST(c.forward.dp_comm == std::max(0.0, gather - c.forward.compute), tolerance(1e-12));
  BOOST_TEST(c.backward.dp_comm == std::max(0.0, reduce - c.backward.compute), tolerance(1e-12));
  const sim::StageMemory kept = sim::stage_memory_at(e, 0, 1, 1);
  BOOST_TEST(kept.weights == 2 * params / 16 + 2 * params, tolerance(1e-12));
  // Resharded, the backward gathers again and two units replace the whole stage.
  e.parallel.reshard_after_forward = true;
  const auto resharded = sim::transformer_layer_cost(e);
  BOOST_TEST(resharded.backward.dp_comm == std::max(0.0, gather + reduce - resharded.backward.compute),
             tolerance(1e-12));
  const double embedding = sim::vocab_params_per_device(e.model, 1);
  BOOST_TEST(sim::stage_memory_at(e, 0, 1, 1).weights == 2 * params / 16 + 2 * 2 * embedding, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(llama3_405b_at_8k_fits_without_recomputation_only_fully_sharded) {
  // Llama 3 405B at 8K tokens on 8192 H100s, TP 8 with sequence parallelism, 16 pipeline stages
  // (one layer fewer on the first and the last: Llama Team 2024, sec. 3.3.2), DP 64, 1F1B,
  // micro-batch 1, no recomputation. A middle stage holds 8 layers.
  const std::string plan =
      "[model]\npreset=\"llama3-405b\"\n[system]\npreset=\"dgx-h100\"\ngpus=8192\n[parallel]\ntp=8\npp=16\ndp=64\n"
      "sequence_parallel=true\nstage_layers=[7,8,8,8,8,8,8,8,8,8,8,8,8,8,8,7]\n";
  const std::string training = "[training]\nglobal_batch=2048\nmicro_batch=1\nrecompute=\"none\"\nprecision=\"bf16\"\n";
  const Experiment zero1 = load_experiment_text(plan + "distributed_optimizer=true\n" + training, "test");
  const Experiment fsdp = load_experiment_text(plan + "fsdp=true\n" + training, "test");
  // A layer on one TP rank, by hand: QKV 16384 x (16384 + 2 x 8 x 128), output 16384^2, SwiGLU's
  // fused gate/up 16384 x 2 x 53248 and down 53248 x 16384, over 8; two RMSNorm weights whole.
  const double h = 16384, f = 53248;
  const double layer = (h * (h + 2 * 8 * 128) + h * h + 3 * h * f) / 8 + 2 * h;
  BOOST_TEST(sim::layer_params_per_device(fsdp.model, 8) == layer, tolerance(1e-12));
  const double stage = 8 * layer;
  BOOST_TEST(sim::stage_params_per_device(fsdp, 5) == stage, tolerance(1e-12));
  constexpr double GiB = 1024.0 * 1024 * 1024;
  // Distributed optimizer: bf16 weights (2 bytes) and fp32 gradients (4) whole, Adam's fp32
  // master and moments (12) over 64: 18.37 GiB before any activation.
  const sim::StageMemory z = sim::stage_memory_at(zero1, 5, 16, 1);
  BOOST_TEST(z.weights == 2 * stage, tolerance(1e-12));
  BOOST_TEST(z.gradients == 4 * stage, tolerance(1e-12));
  BOOST_TEST(z.optimizer == 12 * stage / 64, tolerance(1e-12));
  BOOST_TEST((z.weights + z.gradients + z.optimizer) / GiB == 18.37, tolerance(1e-3));
  // Fully sharded: 1/64 of each, plus two gathered layers and one layer's gradients.
  const sim::StageMemory s = sim::stage_memory_at(fsdp, 5, 16, 1);
  BOOST_TEST(s.weights == 2 * stage / 64 + 2 * 2 * layer, tolerance(1e-12));
  BOOST_TEST(s.gradients == 4 * stage / 64 + 4 * layer, tolerance(1e-12));
  BOOST_TEST(s.optimizer == 12 * stage / 64, tolerance(1e-12));
  BOOST_TEST((s.weights + s.gradients + s.optimizer) / GiB == 3.804, tolerance(1e-3));
  BOOST_TEST(s.activations == z.activations);
  // The 14.6 GiB it frees is what the plan's peak needs to fit in the device's memory.
  const sim::Prediction pz = sim::predict(zero1), ps = sim::predict(fsdp);
  BOOST_TEST(!pz.fits);
  BOOST_TEST(ps.fits);
}

BOOST_AUTO_TEST_CASE(sharding_keys_are_read_and_checked) {
  const auto read = [](const std::string& sharding) { return llama8b(8, 8, "bf16", sharding).parallel; };
  BOOST_TEST(read("zero_stage=0").zero_stage() == 0);
  BOOST_TEST(read("zero_stage=1").distributed_optimizer);
  BOOST_TEST(!read("zero_stage=1").shard_gradients);
  BOOST_TEST(read("shard_gradients=true").zero_stage() == 2);
  BOOST_TEST(read("zero_stage=3").fsdp);
  BOOST_TEST(read("zero_stage=3").reshard_after_forward);
  const auto refused = [&](const std::string& sharding, const std::string& words) {
    try {
      read(sharding);
    } catch (const InputError& err) {
      return std::string(err.what()).find(words) != std::string::npos;
    }
    return false;
  };
  BOOST_TEST(refused("zero_stage=4", "parallel.zero_stage = 4 must be 0, 1, 2 or 3"));
  BOOST_TEST(refused("zero_stage=2\nfsdp=true", "parallel.zero_stage and parallel.fsdp are both set"));
  BOOST_TEST(refused("reshard_after_forward=false", "parallel.reshard_after_forward = false needs parallel.fsdp"));
}

BOOST_AUTO_TEST_CASE(the_sweep_times_sharded_plans_as_they_would_be_timed_alone) {
  // Under ZeRO-2 and FSDP a layer's cost holds its DP traffic, which depends on dp: a sweep that
  // reused one dp's layer costs for another (same tp, micro-batch, sp, recomputation) would rank
  // plans by the wrong times. Every plan it times equals the closed form of that plan alone.
  const std::string all_stages = "zero_stage=[0, 1, 2, 3]";  // listed in [sweep]
  for (const std::string sharding : {"zero_stage=1", "zero_stage=2", "zero_stage=3", "sweep"}) {
    const bool swept = sharding == "sweep";
    const std::string text = "[model]\npreset=\"llama3-8b\"\n[system]\npreset=\"dgx-h100\"\ngpus=64\n[parallel]\n" +
                             (swept ? std::string() : sharding) +
                             "\n[training]\nglobal_batch=256\nmicro_batch=1\n"
                             "[sweep]\ngpus=[32, 64]\ntp=[1, 2]\nmicro_batch=[1]\nrecompute=[\"selective\"]\n" +
                             (swept ? all_stages : std::string()) + "\n";
    const Experiment base = load_experiment_text(text, "test", {}, false);
    const SweepSpec spec = load_sweep_spec_text(text, "test", {}, base);
    const sim::SweepResult result = sim::run_sweep(base, spec, {1});
    int timed = 0;
    std::set<int> stages;
    for (const auto& plan : result.plans) {
      if (!plan.fits()) continue;
      const Experiment e = sim::plan_experiment(base, plan);
      BOOST_TEST(e.parallel.zero_stage() == (plan.dp > 1 ? plan.zero_stage : e.parallel.zero_stage()));
      stages.insert(plan.zero_stage);
      BOOST_TEST_CONTEXT(sharding << " " << sim::plan_name(plan)) {
        BOOST_TEST(plan.iteration_time_s == sim::fast_iteration_time(e, sim::layer_costs(e)), tolerance(1e-12));
      }
      ++timed;
    }
    BOOST_TEST(timed > 8);
    // Listed, every stage is tried at every dp > 1.
    if (swept) BOOST_TEST((stages == std::set<int>{0, 1, 2, 3}));
  }
}
