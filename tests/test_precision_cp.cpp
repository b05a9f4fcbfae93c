// FP8 GEMMs and context parallelism against hand-computed costs.
#define BOOST_TEST_MODULE precision_cp
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "models/toml_reader.hpp"
#include "sim/collectives.hpp"
#include "sim/csv.hpp"
#include "sim/gemm_model.hpp"
#include "sim/layer_costs.hpp"
#include "sim/memory.hpp"
#include "sim/placement.hpp"
#include "sim/plan_costs.hpp"
#include "sim/sweep.hpp"
#include "sim/validation.hpp"

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
// A published-runs table written inline, validated with the shipped calibration.
sim::ValidationReport validate_text(const std::string& csv) { return sim::validate_runs(parse_csv(csv, "t.csv"), {}); }

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

BOOST_AUTO_TEST_CASE(nemo_rows_run_as_nemo_performance_recipes_do) {
  // A NeMo row: TP collectives pipelined with their GEMMs, 16-bit gradients, the distributed
  // optimizer, overlapped sends in the interleaved schedule; a Megatron-LM row: none of the
  // first two, but the same overlapped sends once it is Megatron-Core.
  const auto report = validate_text(
      "row_id,source_id,model,layers,hidden,heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,micro_batch,global_batch,"
      "seq_parallel,precision,framework,iteration_time_s_reported,iteration_time_s_derived,"
      "tokens_per_s_per_gpu_reported\n"
      "1,s,a,32,4096,32,4096,32000,H100,64,4,4,4,2,1,128,yes,fp8,NeMo 24.07,,3.0,\n"
      "2,s,a,32,4096,32,4096,32000,H100,64,4,4,4,2,1,128,yes,bf16,Megatron-Core r0.8.0,,3.0,\n"
      "3,s,a,32,4096,32,4096,32000,A100-SXM4-80GB,64,4,4,4,2,1,128,yes,fp16,Megatron-LM,,3.0,\n"
      "4,s,a,32,4096,32,4096,32000,H100,,4,4,4,2,1,128,yes,fp8,NeMo 24.07,,,1000\n"
      "5,s,a,32,4096,32,4096,32000,H100,64,4,4,4,2,1,128,yes,AMP bfloat16,Megatron-LM,,3.0,\n"
      "6,s,a,32,4096,32,4096,32000,H100,64,4,4,4,2,1,128,yes,mixed (16-bit; fp16 vs bf16 not verified),"
      "Megatron-LM,,3.0,\n"
      "7,s,a,32,4096,32,4096,32000,H100,64,4,4,4,2,1,128,yes,bf16_with_fp8_mixed,NeMo 2.0,,3.0,\n"
      "8,s,a,32,4096,32,4096,32000,A100-SXM4-80GB,64,4,4,4,2,1,128,no,fp16,\"Megatron-LM, DDP impl=local\",,3.0,\n"
      "9,s,a,32,4096,32,4096,32000,A100-SXM4-80GB,64,4,4,4,2,1,128,no,fp16,\"Megatron-LM, DDP impl=torch\",,3.0,\n");
  BOOST_TEST_REQUIRE(report.rows.size() == 9u);
  // Megatron-LM's local DDP all-reduces after the last backward; torch DDP overlaps it.
  BOOST_TEST(!report.rows[7].experiment.parallel.overlap_grad_reduce);
  BOOST_TEST(report.rows[8].experiment.parallel.overlap_grad_reduce);
  BOOST_TEST(report.rows[7].predicted_time_s > report.rows[8].predicted_time_s);
  // The precision: any FP8 mention, else the first format the text names.
  BOOST_TEST((report.rows[4].experiment.training.precision == Precision::bf16));
  BOOST_TEST((report.rows[5].experiment.training.precision == Precision::fp16));
  BOOST_TEST((report.rows[6].experiment.training.precision == Precision::fp8));
  // Only a throughput and the parallel degrees: 64 GPUs, 128 * 4096 tokens at 1000 per GPU-second.
  BOOST_TEST(report.rows[3].skipped.empty());
  BOOST_TEST(report.rows[3].experiment.system.gpus == 64);
  BOOST_TEST(*report.rows[3].published_time_s == 128.0 * 4096 / (1000.0 * 64), tolerance(1e-12));
  BOOST_TEST(!report.rows[3].time_measured);
  const auto& nemo = report.rows[0].experiment;
  BOOST_TEST(nemo.parallel.tp_comm_overlap);
  BOOST_TEST(nemo.parallel.overlap_p2p_comm);
  BOOST_TEST(nemo.parallel.distributed_optimizer);
  BOOST_TEST(!fp32_gradients(nemo.training));
  const auto& mcore = report.rows[1].experiment;
  BOOST_TEST(!mcore.parallel.tp_comm_overlap);
  BOOST_TEST(mcore.parallel.overlap_p2p_comm);
  BOOST_TEST(fp32_gradients(mcore.training));
  BOOST_TEST(!report.rows[2].experiment.parallel.overlap_p2p_comm);
  // NeMo 1.x (24.xx) keeps 16-bit remainders of the master weights (Apex DistributedFusedAdam);
  // NeMo 2.0 and Megatron-Core the fp32 master.
  BOOST_TEST((nemo.training.optimizer_state == OptimizerState::remainders));
  BOOST_TEST(report.rows[0].searched.find("optimizer_state=remainders") != std::string::npos);
  BOOST_TEST((report.rows[6].experiment.training.optimizer_state == OptimizerState::fp32));
  BOOST_TEST((mcore.training.optimizer_state == OptimizerState::fp32));
}

BOOST_AUTO_TEST_CASE(a_recipe_naming_megatron_core_optimizer_keeps_fp32_state) {
  // A NeMo 24.xx recipe that names Megatron-Core's optimizer (optim.name: mcore_distributed_optim,
  // as DGX Cloud's Grok-1 recipe does) keeps the fp32 master and moments: no remainders, nothing
  // searched. Its gated-GeLU experts cost what SwiGLU ones do.
  const auto report = validate_text(
      "row_id,source_id,model,layers,hidden,ffn_hidden,heads,kv_heads,seq_len,vocab,arch_notes,gpu,num_gpus,tp,pp,"
      "dp,cp,vpp,micro_batch,global_batch,recompute,seq_parallel,optimizer_sharding,precision,framework,"
      "iteration_time_s_reported,iteration_time_s_derived\n"
      "1,s,a,8,6144,32768,48,8,8192,128256,\"MoE: 8 experts top-2, EP 8; gated GeLU (GeGLU) experts, RMSNorm\","
      "H100,64,4,1,,2,n/a,1,1024,none,yes,distributed optimizer (mcore_distributed_optim),bf16,"
      "\"NeMo 24.09 (dev container, mcore_distributed_optim)\",20.6,\n"
      "2,s,a,8,6144,32768,48,8,8192,128256,\"MoE: 8 experts top-2, EP 8; gated GeLU (GeGLU) experts, RMSNorm\","
      "H100,64,4,1,,2,n/a,1,1024,none,yes,distributed optimizer,bf16,NeMo 24.09,20.6,\n");
  BOOST_TEST_REQUIRE(report.rows.size() == 2u);
  const auto& e = report.rows[0].experiment;
  BOOST_TEST(report.rows[0].skipped.empty());
  BOOST_TEST((e.training.optimizer_state == OptimizerState::fp32));
  BOOST_TEST(report.rows[0].searched.find("optimizer_state") == std::string::npos);
  BOOST_TEST((report.rows[1].experiment.training.optimizer_state == OptimizerState::remainders));
  BOOST_TEST((e.model.activation == Activation::swiglu));
  BOOST_TEST(e.model.experts == 8);
  BOOST_TEST(e.model.top_k == 2);
  BOOST_TEST(e.parallel.ep == 8);
  BOOST_TEST(e.parallel.dp == 8);
}

BOOST_AUTO_TEST_CASE(published_numbers_may_be_grouped_annotated_or_not_applicable) {
  // "2,304" GPUs and a "1,152" batch are thousands, "8 (inferred)" is 8, and a vpp marked
  // "n/a" is no interleaving (only a blank one is searched).
  const auto report = validate_text(
      "row_id,source_id,model,layers,hidden,heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,micro_batch,global_batch,"
      "seq_parallel,precision,framework,iteration_time_s_reported,iteration_time_s_derived\n"
      "1,s,a,96,12288,96,4096,131072,H100,\"2,304\",8 (inferred),6,48,n/a,1,\"1,152\",yes,bf16,Megatron-Core,5.3,\n"
      "2,s,a,96,12288,96,4096,131072,H100,2304,8,6,48,,1,1152,yes,bf16,Megatron-Core,5.3,\n");
  BOOST_TEST_REQUIRE(report.rows.size() == 2u);
  const auto& e = report.rows[0].experiment;
  BOOST_TEST(report.rows[0].skipped.empty());
  BOOST_TEST(e.system.gpus == 2304);
  BOOST_TEST(e.training.global_batch == 1152);
  BOOST_TEST(e.parallel.tp == 8);
  BOOST_TEST(e.parallel.vpp == 1);
  BOOST_TEST(report.rows[0].searched.find("vpp") == std::string::npos);
  BOOST_TEST(report.rows[1].searched.find("vpp=") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(out_of_memory_marks_and_ranges_are_read_as_written) {
  // "OOM" in any case or with a note is a run that did not fit; a measured range is its
  // midpoint; a range where a count belongs is refused for that row alone.
  const std::string head =
      "row_id,source_id,model,layers,hidden,heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,micro_batch,global_batch,"
      "recompute,precision,framework,iteration_time_s_reported,iteration_time_s_derived,mem_measured_GB\n";
  const std::string plan = "s,a,96,12288,96,2048,51200,A100-SXM4-80GB,384,8,8,6,1,";
  const auto report = validate_text(head + "1," + plan + "1,1536,full,fp16,Megatron-LM,100,,oom (80 GB)\n" + "2," +
                                    plan + "1,1536,full,fp16,Megatron-LM,100,, OOM\n" + "3," + plan +
                                    "1,1536,full,fp16,Megatron-LM,100,,out of memory\n" + "4," + plan +
                                    "1,1536,full,fp16,Megatron-LM,100-110,,60–65\n" + "5," + plan +
                                    "1-2,1536,full,fp16,Megatron-LM,100,,\n");
  BOOST_TEST_REQUIRE(report.rows.size() == 5u);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(report.rows[i].oom);
    BOOST_TEST(!report.rows[i].measured_memory_gib.has_value());
  }
  BOOST_TEST(report.oom_rows == 3);
  BOOST_TEST(!report.rows[3].oom);
  BOOST_TEST(report.rows[3].published_time_s.value_or(0) == 105.0);
  BOOST_TEST(report.rows[3].measured_memory_gib.value_or(0) == 62.5);
  BOOST_TEST(report.rows[4].skipped == "column micro_batch = \"1-2\" is not a whole count");
}

BOOST_AUTO_TEST_CASE(nemo_1x_rows_fall_back_to_bf16_adam_state_before_recomputing) {
  // Nemotron-4 340B on 128 H100 (NeMo 24.07): with the default state the plan fits only with
  // recomputation; NeMo's recipe keeps Adam's moments in bf16 instead (optim.dtype: bf16),
  // and so does the search, which takes it because it fits without recomputing and is faster.
  // On 512 GPUs the default fits as it is and stays.
  const auto report = validate_text(
      "row_id,source_id,model,layers,hidden,ffn_hidden,heads,kv_heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,"
      "micro_batch,global_batch,precision,framework,iteration_time_s_reported,iteration_time_s_derived\n"
      "1,s,a,96,18432,73728,96,8,4096,256000,H100,128,8,8,,12,1,32,fp8,NeMo 24.07,3.18,\n"
      "2,s,a,96,18432,73728,96,8,4096,256000,H100,512,8,8,,12,1,128,fp8,NeMo 24.07,3.26,\n"
      "3,s,a,96,18432,73728,96,8,4096,256000,H100,128,8,8,,12,1,32,fp8,NeMo 25.11,3.18,\n"
      "4,s,a,96,18432,73728,96,8,4096,256000,H100,512,8,8,,12,1,128,bf16,NeMo 1.23,3.26,\n"
      "5,s,a,96,18432,73728,96,8,4096,256000,H100,512,8,8,,12,1,128,bf16,NeMo Framework Launcher,3.26,\n");
  BOOST_TEST_REQUIRE(report.rows.size() == 5u);
  // NeMo 1.x named by its version or its launcher.
  BOOST_TEST((report.rows[3].experiment.training.optimizer_state == OptimizerState::remainders));
  BOOST_TEST((report.rows[4].experiment.training.optimizer_state == OptimizerState::remainders));
  // With the recomputation given, a plan that fits keeps the default state: bf16 moments would
  // only shave the optimizer step.
  const auto given = validate_text(
      "row_id,source_id,model,layers,hidden,ffn_hidden,heads,kv_heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,"
      "micro_batch,global_batch,recompute,precision,framework,iteration_time_s_reported,iteration_time_s_derived\n"
      "1,s,a,96,18432,73728,96,8,4096,256000,H100,128,8,8,,12,1,32,full,fp8,NeMo 24.07,3.18,\n");
  BOOST_TEST_REQUIRE(given.rows.size() == 1u);
  BOOST_TEST(given.rows[0].fits);
  BOOST_TEST((given.rows[0].experiment.training.optimizer_state == OptimizerState::remainders));
  const auto& small = report.rows[0].experiment.training;
  BOOST_TEST((small.optimizer_state == OptimizerState::bf16));
  BOOST_TEST((small.recompute == Recompute::none));
  BOOST_TEST(report.rows[0].fits);
  Experiment fp32_state = report.rows[0].experiment;
  fp32_state.training.optimizer_state = OptimizerState::remainders;
  BOOST_TEST(!sim::predict(fp32_state).fits);
  BOOST_TEST((report.rows[1].experiment.training.optimizer_state == OptimizerState::remainders));
  BOOST_TEST((report.rows[1].experiment.training.recompute == Recompute::none));
  // NeMo 2.x runs Megatron-Core's optimizer: no such knob, so it recomputes.
  BOOST_TEST((report.rows[2].experiment.training.optimizer_state == OptimizerState::fp32));
  BOOST_TEST((report.rows[2].experiment.training.recompute != Recompute::none));
}

BOOST_AUTO_TEST_CASE(deepspeed_rows_fill_stages_greedily) {
  // 78 layers on 12 stages: DeepSpeed's partition_balanced gives eleven stages of 7 and a last
  // of 1 (BigScience's chronicles-prequel.md: "the last stage has 1 block, while the rest have
  // 7"); other frameworks give the first 78 mod 12 = 6 stages one layer more. DeepSpeed's
  // per-pass host time and its slower gradient reduction across nodes come with the framework.
  const auto report = validate_text(
      "row_id,source_id,model,layers,hidden,heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,micro_batch,global_batch,"
      "seq_parallel,precision,framework,iteration_time_s_reported,iteration_time_s_derived\n"
      "1,s,a,78,4096,32,2048,50304,A100-SXM4-80GB,96,1,12,8,1,1,96,no,fp16,Megatron-DeepSpeed,10,\n"
      "2,s,a,78,4096,32,2048,50304,A100-SXM4-80GB,96,1,12,8,1,1,96,no,fp16,Megatron-LM,10,\n");
  BOOST_TEST_REQUIRE(report.rows.size() == 2u);
  const std::vector<int> greedy{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 1}, even{7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6};
  BOOST_TEST(report.rows[0].experiment.parallel.stage_layers == greedy, boost::test_tools::per_element());
  BOOST_TEST(report.rows[1].experiment.parallel.stage_layers == even, boost::test_tools::per_element());
  const Calibration& deepspeed = report.rows[0].experiment.system.calibration;
  const Calibration& megatron = report.rows[1].experiment.system.calibration;
  BOOST_TEST(deepspeed.pass_overhead_us > 0);
  BOOST_TEST(deepspeed.dp_reduce_efficiency < 1.0);
  BOOST_TEST(megatron.pass_overhead_us == 0.0);
  BOOST_TEST(megatron.dp_reduce_efficiency == 1.0);
}

BOOST_AUTO_TEST_CASE(a_layer_timed_alone_is_checked_against_the_layer_cost) {
  // Korthikanti et al. 2022, Table 4: one 22B layer, no global batch, its forward and backward
  // in other_measured. The prediction is the model's layer cost of that plan, and the report
  // keeps the two errors apart from the iteration times.
  const auto report = validate_text(
      "row_id,source_id,model,layers,hidden,heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,micro_batch,global_batch,"
      "recompute,seq_parallel,precision,framework,iteration_time_s_reported,iteration_time_s_derived,other_measured\n"
      "33,k,22B,1,6144,64,2048,51200,A100-SXM4-80GB,8,8,1,1,1,4,,full,no,fp16,Megatron-LM (2022),,,"
      "\"per-layer forward 7.7 ms, backward 19.5 ms, combined 27.2 ms\"\n"
      "34,k,22B,1,6144,64,2048,51200,A100-SXM4-80GB,8,8,1,1,1,4,,none,no,fp16,Megatron-LM (2022),,,\n"
      "35,k,22B,1,6144,64,2048,51200,A100-SXM4-80GB,8,8,1,1,1,4,8,full,no,fp16,Megatron-LM (2022),0.1,,"
      "\"per-layer forward 7.7 ms, backward 19.5 ms, combined 27.2 ms\"\n");
  BOOST_TEST_REQUIRE(report.rows.size() == 3u);
  const auto& row = report.rows[0];
  BOOST_TEST(row.skipped.empty());
  BOOST_TEST_REQUIRE(row.published_layer.has_value());
  BOOST_TEST(row.published_layer->forward_ms == 7.7);
  BOOST_TEST(row.published_layer->backward_ms == 19.5);
  const auto cost = sim::transformer_layer_cost(row.experiment);
  BOOST_TEST(row.experiment.training.global_batch == 4);
  BOOST_TEST(row.predicted_layer->forward_ms == 1e3 * cost.forward.total(), tolerance(1e-12));
  BOOST_TEST(row.predicted_layer->backward_ms == 1e3 * cost.backward.total(), tolerance(1e-12));
  BOOST_TEST(cost.backward.recompute > 0);  // the full recomputation is inside the backward
  BOOST_TEST(row.layer_only());
  BOOST_TEST(report.rows[1].skipped == "no global batch");
  // A row that also publishes an iteration time is checked on both.
  const auto& both = report.rows[2];
  BOOST_TEST(!both.layer_only());
  BOOST_TEST(both.predicted_time_s > 0);
  BOOST_TEST(both.predicted_layer->backward_ms == row.predicted_layer->backward_ms, tolerance(1e-12));
  BOOST_TEST(report.time.rows == 1);
  BOOST_TEST(report.layer_forward.rows == 2);
  BOOST_TEST(report.layer_backward.max_abs_pct == std::fabs(100 * (row.predicted_layer->backward_ms / 19.5 - 1)),
             tolerance(1e-12));
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
