// FP8 GEMMs and context parallelism against hand-computed costs.
#define BOOST_TEST_MODULE precision_cp
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "models/toml_reader.hpp"
#include "sim/collectives.hpp"
#include "sim/gemm_model.hpp"
#include "sim/layer_costs.hpp"
#include "sim/memory.hpp"
#include "sim/placement.hpp"
#include "sim/plan_costs.hpp"
#include "sim/sweep.hpp"

using namespace parallax;
using boost::test_tools::tolerance;

namespace {
// Llama-3 70B shape on DGX H100 nodes, bf16, flash attention, one micro-batch of 8192 tokens.
Experiment llama70b(int tp, int cp, int dp, Precision precision) {
  const std::string toml = R"(
[model]
preset = "llama3-70b"
seq_len = 8192
[system]
preset = "dgx-h100"
[training]
micro_batch = 1
flash_attention = true
)";
  Experiment e = load_experiment_text(toml, "test", {}, false);
  e.parallel.tp = tp;
  e.parallel.cp = cp;
  e.parallel.dp = dp;
  e.system.gpus = tp * cp * dp;
  e.training.global_batch = dp;
  e.training.precision = precision;
  return e;
}
}  // namespace

BOOST_AUTO_TEST_CASE(fp8_gemm_runs_at_the_fp8_peak) {
  const SystemConfig h100 = system_preset("dgx-h100");
  // Large and aligned: compute-bound, full waves, so time = FLOPs / (peak * efficiency * k_util).
  const sim::Gemm g{8192, 8192, 8192, 1};
  const double bf16 = sim::gemm_time(g, h100, Precision::bf16) - h100.calibration.kernel_launch_us * 1e-6;
  const double fp8 = sim::gemm_time(g, h100, Precision::fp8) - h100.calibration.kernel_launch_us * 1e-6;
  BOOST_TEST(bf16 / fp8 == h100.device.peak_tflops_fp8 / h100.device.peak_tflops_bf16, tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(fp8_needs_a_device_with_fp8_tensor_cores) {
  Experiment e = llama70b(8, 1, 1, Precision::fp8);
  e.system = system_preset("dgx-a100-80g");
  e.system.gpus = 8;
  BOOST_CHECK_EXCEPTION(validate(e), InputError, [](const InputError& err) {
    return std::string(err.what()).find("peak_tflops_fp8") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(fp8_speeds_up_only_the_linear_layers) {
  const auto bf16 = sim::transformer_layer_cost(llama70b(8, 1, 1, Precision::bf16));
  const auto fp8 = sim::transformer_layer_cost(llama70b(8, 1, 1, Precision::fp8));
  BOOST_TEST(fp8.forward.compute < bf16.forward.compute);
  // Attention stays bf16 and the casts add memory traffic: well short of twice as fast.
  BOOST_TEST(fp8.forward.compute > 0.5 * bf16.forward.compute);
  BOOST_TEST(fp8.forward.tp_comm == bf16.forward.tp_comm, tolerance(1e-12));  // communication stays bf16
}

BOOST_AUTO_TEST_CASE(fp8_keeps_weight_copies_for_its_gemms) {
  // bf16 weights everywhere, plus an FP8 copy and its transpose of each transformer-layer
  // weight; the embedding and the LM head run in bf16 and have none.
  Experiment e = llama70b(8, 1, 1, Precision::fp8);
  e.parallel.pp = 1;
  const double params = sim::stage_params_per_device(e, 0);
  const double layers = 80 * sim::layer_params_per_device(e.model, 8, 1);
  BOOST_TEST(params - layers ==
                 sim::embedding_params_per_device(e.model, 8) + sim::head_params_per_device(e.model, e.parallel),
             tolerance(1e-12));
  BOOST_TEST(sim::stage_memory_at(e, 0, 1, 1).weights == 2 * params + 2 * layers, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(optimizer_state_sets_the_bytes_adam_keeps_and_moves) {
  // Sharded over dp = 4: fp32 master and moments 12 bytes, 16-bit remainders and fp32 moments
  // 10, bf16 moments without a master 4. The step (memory-bound) moves 38, 32 and 18 bytes per
  // parameter updated, plus zeroing the 4-byte gradient buffer of every parameter held (8).
  Experiment e = llama70b(8, 1, 4, Precision::bf16);
  e.parallel.distributed_optimizer = true;
  const double params = sim::stage_params_per_device(e, 0), state = params / 4;
  for (auto [s, bytes, moved] : {std::tuple{OptimizerState::fp32, 12.0, 38.0},
                                 {OptimizerState::remainders, 10.0, 32.0},
                                 {OptimizerState::bf16, 4.0, 18.0}}) {
    e.training.optimizer_state = s;
    BOOST_TEST(sim::stage_memory_at(e, 0, 1, 1).optimizer == bytes * state, tolerance(1e-12));
    BOOST_TEST(sim::optimizer_time(e, 0) == sim::memory_time(moved * state + 8 * params, e.system), tolerance(1e-12));
  }
  // Both keep bf16 weights beside them: fp16 and fp32 training are refused.
  for (Precision p : {Precision::fp16, Precision::fp32}) {
    e.training.precision = p;
    BOOST_CHECK_EXCEPTION(validate(e), InputError, [](const InputError& err) {
      return std::string(err.what()).find("training.optimizer_state = \"bf16\" needs bf16 weights") !=
             std::string::npos;
    });
  }
}

BOOST_AUTO_TEST_CASE(fp8_keeps_the_inputs_of_its_gemms_in_fp8) {
  // Transformer Engine saves the FP8 casts of the QKV, fc1 and fc2 inputs (1 byte instead of
  // 2) and an FP8 copy of the projection input beside the bf16 attention output. Per layer,
  // with t = 8 and no SP, bf16 - fp8 = s*b*(2h - h/t + f/t) bytes: the QKV and fc1 inputs (not
  // split over TP), less the projection's extra copy, plus the fc2 input (both split).
  const Experiment bf16 = llama70b(8, 1, 1, Precision::bf16), fp8 = llama70b(8, 1, 1, Precision::fp8);
  const double s = 8192, h = 8192, f = 28672, t = 8;
  BOOST_TEST(sim::layer_activation_bytes(bf16) - sim::layer_activation_bytes(fp8) == s * (2 * h - h / t + f / t),
             tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(gradients_in_16_bit_halve_the_buffer_and_the_reduction) {
  Experiment e = llama70b(8, 1, 2, Precision::bf16);
  e.parallel.overlap_grad_reduce = false;
  const double params = sim::stage_params_per_device(e, 0);
  const auto link = sim::group_link(e.system, 2, 8);
  // Megatron's default for bf16: an fp32 main-gradient buffer, reduced in fp32.
  BOOST_TEST(!e.training.grad_reduce_in_fp32.has_value());
  BOOST_TEST(sim::stage_memory_at(e, 0, 1, 1).gradients == 4 * params, tolerance(1e-12));
  BOOST_TEST(sim::exposed_data_parallel_time(e, 0, 0.0) ==
                 sim::collective_time(sim::Collective::all_reduce, 4 * params, 2, link),
             tolerance(1e-12));
  const double optimizer = sim::stage_memory_at(e, 0, 1, 1).optimizer;
  // NeMo's grad_reduce_in_fp32 = False: 16-bit buffer and reduction, the same optimizer state.
  e.training.grad_reduce_in_fp32 = false;
  BOOST_TEST(sim::stage_memory_at(e, 0, 1, 1).gradients == 2 * params, tolerance(1e-12));
  BOOST_TEST(sim::stage_memory_at(e, 0, 1, 1).optimizer == optimizer, tolerance(1e-12));
  BOOST_TEST(sim::exposed_data_parallel_time(e, 0, 0.0) ==
                 sim::collective_time(sim::Collective::all_reduce, 2 * params, 2, link),
             tolerance(1e-12));
  // fp16 defaults to 16-bit gradients; fp32 training cannot have them.
  e.training.grad_reduce_in_fp32.reset();
  e.training.precision = Precision::fp16;
  BOOST_TEST(gradient_bytes(e.training) == 2.0);
  e.training.precision = Precision::fp32;
  e.training.grad_reduce_in_fp32 = false;
  BOOST_CHECK_EXCEPTION(validate(e), InputError, [](const InputError& err) {
    return std::string(err.what()).find("training.grad_reduce_in_fp32 = false") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(fsdp_shards_the_weights_and_gathers_them_every_pass) {
  Experiment e = llama70b(8, 1, 4, Precision::bf16);
  e.parallel.overlap_grad_reduce = false;
  e.parallel.fsdp = true;
  const auto& m = e.model;
  const double params = sim::stage_params_per_device(e, 0), layer = sim::layer_params_per_device(m, 8);
  const double embedding = static_cast<double>(sim::padded_vocab(m, 8)) * m.hidden / 8;
  // A quarter of the weights and gradients stays, plus two gathered units and one unit's
  // gradients (the largest unit here: the 128K-vocabulary embedding, larger than a layer).
  BOOST_TEST_REQUIRE(embedding > layer);
  const sim::StageMemory mem = sim::stage_memory_at(e, 0, 1, 1);
  BOOST_TEST(mem.weights == params / 4 * 2 + 2 * embedding * 2, tolerance(1e-12));
  BOOST_TEST(mem.gradients == params / 4 * 4 + embedding * 4, tolerance(1e-12));
  BOOST_TEST(mem.optimizer == params / 4 * 12, tolerance(1e-12));
  // Each layer's forward gathers its 16-bit weights from the 4 DP ranks (stride 8: across
  // nodes), the backward gathers them again and reduce-scatters fp32 gradients; what outlasts
  // the pass's compute is exposed.
  const auto link = sim::group_link(e.system, 4, 8);
  const double gather = sim::collective_time(sim::Collective::all_gather, 2 * layer, 4, link);
  const double reduce = sim::collective_time(sim::Collective::reduce_scatter, 4 * layer, 4, link);
  const auto c = sim::transformer_layer_cost(e);
  BOOST_TEST(c.forward.dp_comm == std::max(0.0, gather - c.forward.compute), tolerance(1e-12));
  BOOST_TEST(c.backward.dp_comm == std::max(0.0, gather + reduce - c.backward.compute), tolerance(1e-12));
  // With compute made negligible, all of it shows.
  e.system.calibration.gemm_efficiency = 1e6;
  e.system.calibration.memory_efficiency = 1e6;
  e.system.calibration.flash_attention_efficiency = 1e6;
  e.system.calibration.kernel_launch_us = 0;
  const auto fast = sim::transformer_layer_cost(e);
  BOOST_TEST(fast.forward.dp_comm == gather - fast.forward.compute, tolerance(1e-9));
  BOOST_TEST(fast.forward.dp_comm > 0.99 * gather);
  // Nothing is left to reduce after the last backward (one stage: no tied-embedding exchange).
  BOOST_TEST(sim::exposed_data_parallel_time(e, 0, 0.0) == 0.0);
}

BOOST_AUTO_TEST_CASE(deepspeed_2021_zero3_gathers_tensor_by_tensor_and_blocks) {
  // GPT-3 175B without model parallelism on 48 DGX A100 nodes, fp16, full recomputation: each
  // of a layer's 12 weight tensors (LayerNorm model: every weight with its bias) is gathered
  // from the 384 ranks with a collective of its own, three times (forward, recompute, backward),
  // and its gradient reduce-scattered once, all of it exposed.
  Experiment e = load_experiment_text(
      "[model]\npreset=\"gpt3-175b\"\n[system]\npreset=\"dgx-a100-80g\"\nnodes=48\n[parallel]\ntp=1\npp=1\n"
      "fsdp=true\nfsdp_per_tensor=true\n[training]\nglobal_batch=1536\nmicro_batch=4\nrecompute=\"full\"\n"
      "precision=\"fp16\"\n",
      "test");
  const auto& m = e.model;
  BOOST_TEST(sim::layer_weight_tensors(m, 1).dense == 12);
  BOOST_TEST(sim::layer_weight_tensors(m, 1).experts == 0);
  const double layer = sim::layer_params_per_device(m, 1);
  BOOST_TEST(layer == 12.0 * 12288 * 12288 + 13.0 * 12288);
  const auto link = sim::group_link(e.system, 384, 1);
  const double latency = 6e-6 * 383;  // one ring of 383 steps per extra tensor (HDR InfiniBand)
  const double gather = sim::collective_time(sim::Collective::all_gather, 2 * layer, 384, link) + 11 * latency +
                        sim::memory_time(4 * 2 * layer, e.system);
  const double reduce = sim::collective_time(sim::Collective::reduce_scatter, 2 * layer, 384, link) + 11 * latency +
                        sim::memory_time(2 * 2 * layer, e.system);
  const auto c = sim::transformer_layer_cost(e);
  BOOST_TEST(c.forward.dp_comm == gather, tolerance(1e-12));
  BOOST_TEST(c.backward.dp_comm == 2 * gather + reduce, tolerance(1e-12));
  // The prefetched unit gathering of the same plan hides almost all of it.
  e.parallel.fsdp_per_tensor = false;
  const auto unit = sim::transformer_layer_cost(e);
  BOOST_TEST(unit.forward.dp_comm < 0.1 * c.forward.dp_comm);
  // Memory holds two gathered tensors, not two layers: the largest tensor of a layer is the
  // 12288 x 49152 up projection, and on this one stage the 51200 x 12288 embedding is larger.
  const double up = 12288.0 * 49152, embedding = static_cast<double>(sim::padded_vocab(m, 1)) * m.hidden;
  BOOST_TEST(sim::largest_layer_tensor_per_device(m, 1) == up);
  BOOST_TEST_REQUIRE(embedding > up);
  const sim::StageMemory unit_mem = sim::stage_memory_at(e, 0, 1, 1);
  e.parallel.fsdp_per_tensor = true;
  const sim::StageMemory tensor_mem = sim::stage_memory_at(e, 0, 1, 1);
  BOOST_TEST(unit_mem.weights - tensor_mem.weights == 2 * 2 * (layer - embedding), tolerance(1e-9));
  BOOST_TEST(unit_mem.gradients - tensor_mem.gradients == 2 * (layer - embedding), tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(framework_knobs_are_read_from_toml) {
  const Experiment e = load_experiment_text(
      "[model]\npreset=\"llama3-8b\"\n[system]\npreset=\"dgx-h100\"\ngpus=8\n[parallel]\npp=2\nvpp=2\n"
      "overlap_p2p_comm=true\nfsdp=true\n[training]\nglobal_batch=8\ngrad_reduce_in_fp32=false\n"
      "optimizer_state=\"remainders\"\n",
      "test");
  BOOST_TEST(e.parallel.overlap_p2p_comm);
  BOOST_TEST(e.parallel.fsdp);
  BOOST_TEST((e.training.grad_reduce_in_fp32 == std::optional<bool>(false)));
  BOOST_TEST((e.training.optimizer_state == OptimizerState::remainders));
}

BOOST_AUTO_TEST_CASE(context_parallel_divides_every_activation) {
  // Korthikanti eq. 4 (SP) with s -> s/cp, the score tensor (s/cp) x s: eq. 4 divided by cp.
  Experiment one = llama70b(8, 1, 1, Precision::bf16), two = llama70b(8, 2, 1, Precision::bf16);
  for (Experiment* e : {&one, &two}) {
    e->training.flash_attention = false;
    e->parallel.sequence_parallel = true;
  }
  BOOST_TEST(sim::layer_activation_bytes(two) == sim::layer_activation_bytes(one) / 2, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(context_parallel_ring_is_exposed_beyond_the_attention) {
  Experiment e = llama70b(4, 2, 1, Precision::bf16);
  e.system.calibration.flash_attention_efficiency = 1e9;  // attention takes no time: the ring is all exposed
  e.system.calibration.kernel_launch_us = 0;
  const auto c = sim::transformer_layer_cost(e);
  const double E = 2, s = 8192, h = 8192, kv = 8, d = 128, t = 4;
  const auto tp_link = sim::group_link(e.system, 4, 1);
  const auto cp_link = sim::group_link(e.system, 2, 4);
  const double tp = 2 * sim::collective_time(sim::Collective::all_reduce, E * s / 2 * h, 4, tp_link);
  const double ring = sim::collective_time(sim::Collective::all_gather, 2 * E * s * kv / t * d, 2, cp_link);
  BOOST_TEST(c.forward.tp_comm == tp + ring, tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(context_parallel_ranks_sit_between_tp_and_dp) {
  ParallelConfig p;
  p.tp = 2, p.cp = 2, p.dp = 3, p.pp = 2;
  for (int r = 0; r < 24; ++r) BOOST_TEST(sim::rank_of(sim::coords_of(r, p), p) == r);
  const auto c = sim::coords_of(2, p);  // next after the first TP pair: same DP rank, cp rank 1
  BOOST_TEST(c.tp_rank == 0);
  BOOST_TEST(c.cp_rank == 1);
  BOOST_TEST(c.dp_rank == 0);
  BOOST_TEST(sim::coords_of(4, p).dp_rank == 1);
  BOOST_TEST(sim::coords_of(12, p).pp_rank == 1);
}

BOOST_AUTO_TEST_CASE(gradients_are_reduced_over_dp_times_cp) {
  Experiment e = llama70b(8, 2, 2, Precision::bf16);
  e.parallel.overlap_grad_reduce = false;
  const double grads = sim::stage_params_per_device(e, 0) * 4;  // fp32 gradients under bf16
  const double expected = sim::collective_time(sim::Collective::all_reduce, grads, 4, sim::group_link(e.system, 4, 8));
  BOOST_TEST(sim::exposed_data_parallel_time(e, 0, 0.0) == expected, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(context_parallel_is_validated) {
  Experiment e = llama70b(8, 3, 1, Precision::bf16);  // 8192 is not divisible by 2*3
  BOOST_CHECK_EXCEPTION(validate(e), InputError, [](const InputError& err) {
    return std::string(err.what()).find("parallel.cp = 3") != std::string::npos;
  });
  e = llama70b(8, 2, 1, Precision::bf16);
  e.system.gpus = 8;
  BOOST_CHECK_EXCEPTION(validate(e), InputError, [](const InputError& err) {
    return std::string(err.what()).find("tp*cp*pp*dp = 8*2*1*1 = 16") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(sweep_keeps_the_experiments_context_parallelism) {
  Experiment e = llama70b(8, 2, 4, Precision::bf16);  // 64 GPUs
  e.training.global_batch = 32;
  SweepSpec spec;
  spec.gpus = {64};
  const sim::SweepResult r = sim::run_sweep(e, spec, {2, nullptr});
  BOOST_TEST(r.feasible > 0);
  for (const auto& plan : r.plans) {
    BOOST_TEST(plan.cp == 2);
    BOOST_TEST(plan.tp * plan.cp * plan.pp * plan.dp == 64);
    BOOST_CHECK_NO_THROW(validate(sim::plan_experiment(e, plan)));
  }
}
