// Reading published-runs rows: how each framework's recipe is run (NeMo, Megatron-Core's
// optimizer, DeepSpeed's stage filling, a blank optimizer sharding), how cells are written
// (grouped, annotated, ranges, OOM marks), and a layer timed on its own.
#define BOOST_TEST_MODULE published_rows
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "models/toml_reader.hpp"
#include "sim/layer_costs.hpp"
#include "sim/predict.hpp"
#include "validation/csv.hpp"
#include "validation/validation.hpp"

using namespace parallax;
using boost::test_tools::tolerance;

namespace {
// A published-runs table written inline, validated with the shipped calibration.
sim::ValidationReport validate_text(const std::string& csv) { return sim::validate_runs(parse_csv(csv, "t.csv"), {}); }
// Rows that share their first cells: row i (from `first`) is "i,<plan><tail>", under `head`.
sim::ValidationReport validate_rows(const std::string& head, const std::string& plan,
                                    std::initializer_list<std::string> tails, int first = 1) {
  std::string csv = head;
  for (const auto& tail : tails) csv += std::to_string(first++) + "," + plan + tail + "\n";
  return validate_text(csv);
}
}  // namespace

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
      "9,s,a,32,4096,32,4096,32000,A100-SXM4-80GB,64,4,4,4,2,1,128,no,fp16,\"Megatron-LM, DDP impl=torch\",,3.0,\n"
      "10,s,a,32,4096,32,4096,32000,A100-SXM4-80GB,64,4,4,4,2,1,128,no,fp16,PTD-P,,3.0,\n");
  BOOST_TEST_REQUIRE(report.rows.size() == 10u);
  // SC21's name for Megatron-LM is Megatron-LM of its time: s x s scores on an A100, no
  // overlapped pipeline sends.
  BOOST_TEST(!report.rows[9].experiment.training.flash_attention);
  BOOST_TEST(!report.rows[9].experiment.parallel.overlap_p2p_comm);
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

BOOST_AUTO_TEST_CASE(a_blank_sharding_is_searched_where_the_framework_offers_it) {
  // Llama 3.1 70B on 64 H100 (t4p4c2 v5, DGX Cloud's plan) does not fit with a whole Adam state
  // on every rank: a blank optimizer_sharding is searched, and the sharded state chosen, under
  // Megatron-Core, Megatron-LM from 2022 and DeepSpeed; Megatron-LM of 2020 had no such option.
  const std::string head =
      "row_id,source_id,model,layers,hidden,ffn_hidden,heads,kv_heads,seq_len,vocab,arch_notes,gpu,num_gpus,"
      "tp,pp,dp,cp,vpp,micro_batch,global_batch,seq_parallel,optimizer_sharding,precision,framework,"
      "iteration_time_s_reported,iteration_time_s_derived\n";
  const std::string plan =
      "s,a,80,8192,28672,64,8,8192,128256,\"SwiGLU, RMSNorm, RoPE, untied\",H100,64,4,4,,2,5,1,128,✓,";
  const auto report = validate_rows(
      head, plan,
      {",bf16,Megatron-Core 0.9,14.7,", ",bf16,Megatron-LM (2022),14.7,", ",bf16,Megatron-DeepSpeed,14.7,",
       ",bf16,Megatron-LM (2020),14.7,", "none,bf16,Megatron-Core 0.9,14.7,"});
  BOOST_TEST_REQUIRE(report.rows.size() == 5u);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT("row " << i + 1) {
      BOOST_TEST(report.rows[i].experiment.parallel.distributed_optimizer);
      BOOST_TEST(report.rows[i].fits);
      BOOST_TEST(report.rows[i].searched.find("distributed_optimizer=true") != std::string::npos);
    }
  }
  // A check mark is a yes: sequence parallelism is given, not searched.
  BOOST_TEST(report.rows[0].experiment.parallel.sequence_parallel);
  BOOST_TEST(report.rows[0].searched.find("sequence_parallel") == std::string::npos);
  // "unknown" (or "n/a") is searched as a blank is, for the sharding and sequence parallelism.
  const std::string unsure =
      "s,a,80,8192,28672,64,8,8192,128256,\"SwiGLU, RMSNorm, RoPE, untied\",H100,64,4,4,,2,5,1,128,unknown,";
  const auto unknown =
      validate_rows(head, unsure, {"unknown,bf16,Megatron-Core 0.9,14.7,", "n/a,bf16,Megatron-Core 0.9,14.7,"});
  BOOST_TEST_REQUIRE(unknown.rows.size() == 2u);
  for (const auto& row : unknown.rows) {
    BOOST_TEST(row.experiment.parallel.distributed_optimizer);
    BOOST_TEST(row.searched.find("distributed_optimizer=true") != std::string::npos);
    BOOST_TEST(row.searched.find("sequence_parallel=") != std::string::npos);
  }
  for (int i = 3; i < 5; ++i) {
    BOOST_TEST(!report.rows[i].experiment.parallel.distributed_optimizer);
    BOOST_TEST(!report.rows[i].fits);
    BOOST_TEST(report.rows[i].searched.find("distributed_optimizer") == std::string::npos);
  }
  // Written sharding: a yes is the distributed optimizer, ZeRO stage 0 shards nothing, and
  // hybrid sharding (HSDP) is refused rather than read as either.
  const auto written =
      validate_rows(head, plan,
                    {"yes (inferred),bf16,Megatron-Core 0.9,14.7,", "ZeRO stage 0,bf16,Megatron-DeepSpeed,14.7,",
                     "HSDP,bf16,Megatron-Core 0.9,14.7,"},
                    6);
  BOOST_TEST_REQUIRE(written.rows.size() == 3u);
  BOOST_TEST(written.rows[0].experiment.parallel.distributed_optimizer);
  BOOST_TEST(!written.rows[1].experiment.parallel.distributed_optimizer);
  BOOST_TEST(written.rows[2].skipped.starts_with("column optimizer_sharding = \"HSDP\" names hybrid sharding"));
}

BOOST_AUTO_TEST_CASE(block_recomputation_keeps_its_layer_count) {
  // Megatron's block method recomputes the first N layers of each chunk (8 here: 96 layers over
  // 6 stages in 2 chunks); the uniform method, in groups of N, recomputes them all, and so does
  // a block of more layers than a chunk has.
  const std::string head =
      "row_id,source_id,model,layers,hidden,heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,micro_batch,global_batch,"
      "seq_parallel,recompute,precision,framework,iteration_time_s_reported,iteration_time_s_derived\n";
  const std::string plan = "s,a,96,12288,96,2048,51200,A100-SXM4-80GB,384,8,6,8,2,1,1536,yes,";
  const auto report = validate_rows(
      head, plan,
      {"\"full (block, 3 layers)\",bf16,Megatron-Core,60,", "\"full (uniform, 1 layer)\",bf16,Megatron-Core,60,",
       "\"block, --recompute-num-layers 12\",bf16,Megatron-Core,60,", "none,bf16,Megatron-Core,60,"});
  BOOST_TEST_REQUIRE(report.rows.size() == 4u);
  BOOST_TEST(report.rows[0].experiment.training.recompute_layers == 3);
  BOOST_TEST(report.rows[1].experiment.training.recompute_layers == 0);
  BOOST_TEST(report.rows[2].experiment.training.recompute_layers == 8);
  // Recomputing 3 of 8 layers costs between none and all of them.
  BOOST_TEST(report.rows[3].predicted_time_s < report.rows[0].predicted_time_s);
  BOOST_TEST(report.rows[0].predicted_time_s < report.rows[1].predicted_time_s);
  BOOST_TEST(report.rows[2].predicted_time_s == report.rows[1].predicted_time_s, tolerance(1e-9));
  // With the layout blank, each layout tried recomputes at most its own chunk.
  const auto open = validate_rows(head, "s,a,96,12288,96,2048,51200,A100-SXM4-80GB,384,,,,1,1,1536,yes,",
                                  {"\"full (block, 96 layers)\",bf16,Megatron-Core,60,"});
  BOOST_TEST_REQUIRE(open.rows.size() == 1u);
  BOOST_TEST(open.rows[0].skipped.empty());
  const Experiment& chosen = open.rows[0].experiment;
  BOOST_TEST(open.rows[0].fits);
  BOOST_TEST(chosen.parallel.pp > 1);
  BOOST_TEST(chosen.training.recompute_layers == chosen.most_stage_layers());
}

BOOST_AUTO_TEST_CASE(oom_marks_ranges_and_separators_are_read_as_written) {
  // "OOM" in any case or with a note is a run that did not fit; a measured range is its
  // midpoint; a range where a count belongs is refused for that row alone.
  const std::string head =
      "row_id,source_id,model,layers,hidden,heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,micro_batch,global_batch,"
      "recompute,precision,framework,iteration_time_s_reported,iteration_time_s_derived,mem_measured_GB\n";
  const std::string plan = "s,a,96,12288,96,2048,51200,A100-SXM4-80GB,384,8,8,6,1,";
  const auto report =
      validate_rows(head, plan,
                    {"1,1536,full,fp16,Megatron-LM,100,,oom (80 GB)", "1,1536,full,fp16,Megatron-LM,100,, OOM",
                     "1,1536,full,fp16,Megatron-LM,100,,out of memory", "1,1536,full,fp16,Megatron-LM,100-110,,60–65",
                     "1-2,1536,full,fp16,Megatron-LM,100,,"});
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

  // A number the text goes on past is refused for its row, not cut short: a decimal comma
  // (124 s, not 124.1), digit groups split by a blank or a narrow no-break space (2, not 2048;
  // 1, not 1536), a clock time (2 s, not 124).
  const auto cut = validate_rows(head, plan,
                                 {"1,1536,full,fp16,Megatron-LM,\"124,1\",,", "1,2 048,full,fp16,Megatron-LM,100,,",
                                  "1,1536,full,fp16,Megatron-LM,2:04,,", "1,\"1,536\",full,fp16,Megatron-LM,124.1 s,,",
                                  "1,1\u202F536,full,fp16,Megatron-LM,100,,"},
                                 6);
  BOOST_TEST_REQUIRE(cut.rows.size() == 5u);
  BOOST_TEST(cut.rows[0].skipped ==
             "column iteration_time_s_reported = \"124,1\" is not one number as written; write it with a decimal "
             "point and no separators");
  BOOST_TEST(cut.rows[1].skipped.starts_with("column global_batch = \"2 048\" is not one number"));
  BOOST_TEST(cut.rows[2].skipped.starts_with("column iteration_time_s_reported = \"2:04\" is not one number"));
  BOOST_TEST(cut.rows[4].skipped.starts_with("column global_batch = \"1\u202F536\" is not one number"));
  // Thousands grouped by commas and a unit after the number still read as before.
  BOOST_TEST(cut.rows[3].skipped.empty());
  BOOST_TEST(cut.rows[3].published_time_s.value_or(0) == 124.1);
  BOOST_TEST(cut.rows[3].experiment.training.global_batch == 1536);
  // A count written inside text is refused rather than read as blank (which would be 96 heads
  // here, not 8 groups of keys and values).
  const auto grouped = validate_text(
      "row_id,source_id,model,layers,hidden,heads,kv_heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,micro_batch,"
      "global_batch,recompute,precision,framework,iteration_time_s_reported,iteration_time_s_derived\n"
      "1,s,a,96,12288,96,GQA-8,2048,51200,A100-SXM4-80GB,384,8,8,6,1,1536,full,fp16,Megatron-LM,100,\n");
  BOOST_TEST(grouped.rows.at(0).skipped ==
             "column kv_heads = \"GQA-8\" does not begin with its count (leave it blank, n/a or unknown if not given)");
  // A count with text run into it is refused, not read by its leading digits (8 of "8abc", 2
  // layers of "2 4") nor as blank ("abc" would search every tp); a note after a blank and the
  // words for not given are read as before.
  const auto mangled =
      validate_rows(head, plan.substr(0, plan.size() - 8),
                    {"8abc,8,6,1,1,1536,full,fp16,Megatron-LM,100,,", "8,8,6,1,1,2 4,full,fp16,Megatron-LM,100,,",
                     "abc,8,6,1,1,1536,full,fp16,Megatron-LM,100,,",
                     "8 (inferred),8,6,n/a,unknown,1536,full,fp16,Megatron-LM,100,,"});
  BOOST_TEST_REQUIRE(mangled.rows.size() == 4u);
  BOOST_TEST(mangled.rows[0].skipped ==
             "column tp = \"8abc\" is not one number as written (a note follows a blank "
             "or goes in parentheses)");
  BOOST_TEST(mangled.rows[1].skipped.starts_with("column global_batch = \"2 4\" is not one number"));
  BOOST_TEST(mangled.rows[2].skipped ==
             "column tp = \"abc\" is not a number (leave it blank, n/a or unknown if not given)");
  BOOST_TEST(mangled.rows[3].skipped.empty());
  BOOST_TEST(mangled.rows[3].experiment.parallel.tp == 8);
  // No run measures a time, memory or rate of zero or below (a zero time made every mean
  // infinite) and a hexadecimal number is not a table's (C++ reads "0x7c" as 124); a run that
  // did not fit keeps its OOM whatever its time cell holds.
  const auto impossible = validate_rows(head, plan,
                                        {"1,1536,full,fp16,Megatron-LM,0,,", "1,1536,full,fp16,Megatron-LM,-124.1,,",
                                         "1,1536,full,fp16,Megatron-LM,100,,0", "1,1536,full,fp16,Megatron-LM,0x7c,,",
                                         "1,1536,full,fp16,Megatron-LM,0,,OOM"},
                                        12);
  BOOST_TEST_REQUIRE(impossible.rows.size() == 5u);
  BOOST_TEST(impossible.rows[0].skipped == "column iteration_time_s_reported = \"0\" is not a positive measurement");
  BOOST_TEST(impossible.rows[1].skipped ==
             "column iteration_time_s_reported = \"-124.1\" is not a positive measurement");
  BOOST_TEST(impossible.rows[2].skipped == "column mem_measured_GB = \"0\" is not a positive measurement");
  BOOST_TEST(impossible.rows[3].skipped == "column iteration_time_s_reported = \"0x7c\" is not a decimal number");
  BOOST_TEST(impossible.rows[4].skipped.empty());
  BOOST_TEST(impossible.rows[4].oom);
  BOOST_TEST(!impossible.rows[4].published_time_s.has_value());
  BOOST_TEST(impossible.time.rows == 0);
}

BOOST_AUTO_TEST_CASE(a_table_may_leave_out_columns_no_row_needs) {
  // No source_id, num_gpus or derived-time column: the GPUs are the product of the degrees and
  // the row is checked on its measured time. Without an architecture column nothing can be.
  const auto report = validate_text(
      "row_id,model,layers,hidden,heads,seq_len,vocab,gpu,tp,pp,dp,micro_batch,global_batch,recompute,precision,"
      "framework,iteration_time_s_reported\n"
      "1,a,96,12288,96,2048,51200,A100-SXM4-80GB,8,8,6,1,1536,full,fp16,Megatron-LM,100\n");
  BOOST_TEST_REQUIRE(report.rows.size() == 1u);
  BOOST_TEST(report.rows[0].skipped.empty());
  BOOST_TEST(report.rows[0].experiment.system.gpus == 384);
  BOOST_TEST(report.rows[0].published_time_s.value_or(0) == 100.0);
  BOOST_TEST(report.time.rows == 1);
  BOOST_CHECK_THROW(validate_text("row_id,model,layers,heads,seq_len,vocab,gpu,global_batch\n1,a,96,96,2048,51200,A100,"
                                  "1536\n"),
                    InputError);
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
  // A layer time that is not a positive decimal skips its row alone (". ms" stopped the whole
  // table with "error: stod", a zero made the layer means infinite).
  const auto bad = validate_text(
      "row_id,source_id,model,layers,hidden,heads,seq_len,vocab,gpu,num_gpus,tp,pp,dp,vpp,micro_batch,global_batch,"
      "recompute,seq_parallel,precision,framework,iteration_time_s_reported,iteration_time_s_derived,other_measured\n"
      "36,k,22B,1,6144,64,2048,51200,A100-SXM4-80GB,8,8,1,1,1,4,,full,no,fp16,Megatron-LM (2022),,,"
      "\"per-layer forward . ms, backward 19.5 ms\"\n"
      "37,k,22B,1,6144,64,2048,51200,A100-SXM4-80GB,8,8,1,1,1,4,,full,no,fp16,Megatron-LM (2022),,,"
      "\"per-layer forward 0 ms, backward 19.5 ms\"\n"
      "38,k,22B,1,6144,64,2048,51200,A100-SXM4-80GB,0,8,1,1,1,4,,full,no,fp16,Megatron-LM (2022),,,"
      "\"per-layer forward 7.7 ms, backward 19.5 ms\"\n");
  BOOST_TEST_REQUIRE(bad.rows.size() == 3u);
  BOOST_TEST(bad.rows[0].skipped == "column other_measured: a per-layer time of \". ms\" is not a positive number");
  BOOST_TEST(bad.rows[1].skipped == "column other_measured: a per-layer time of \"0 ms\" is not a positive number");
  BOOST_TEST(bad.rows[2].skipped == "column num_gpus = \"0\" is not a positive count");
  BOOST_TEST(bad.layer_forward.rows == 0);
}

BOOST_AUTO_TEST_CASE(kendall_tau_counts_concordant_and_discordant_pairs) {
  int pairs = 0;
  // Same order: every pair concordant; reversed: every pair discordant.
  BOOST_TEST(sim::kendall_tau({1, 2, 3, 4}, {10, 20, 30, 40}, 0, &pairs) == 1.0);
  BOOST_TEST(pairs == 6);
  BOOST_TEST(sim::kendall_tau({1, 2, 3, 4}, {40, 30, 20, 10}, 0, &pairs) == -1.0);
  // One swapped neighbour among 4: 5 concordant, 1 discordant, tau = 4/6.
  BOOST_TEST(sim::kendall_tau({1, 2, 3, 4}, {10, 30, 20, 40}, 0, &pairs) == 4.0 / 6.0,
             boost::test_tools::tolerance(1e-12));
  // Pairs whose published values lie within 5 % of each other are not counted: 10 and 10.4 tie.
  BOOST_TEST(sim::kendall_tau({2, 1, 3}, {10, 10.4, 30}, 0.05, &pairs) == 1.0);
  BOOST_TEST(pairs == 2);
  BOOST_TEST(sim::kendall_tau({1, 2}, {5, 5}, 0, &pairs) == 0.0);  // ties only
  BOOST_TEST(pairs == 0);
}

BOOST_AUTO_TEST_CASE(prediction_intervals_come_from_the_class_then_the_device_then_all_rows) {
  sim::IntervalTable table;
  table.classes = {{"*", "*", 200, -10, 25}, {"*", "A", 50, -5, 10}, {"nemo", "A", 20, 0, 20}};
  // An error e = (predicted - published) / published puts the published time at t / (1 + e).
  const auto own = sim::prediction_interval(table, "nemo", "A", 12.0);
  BOOST_TEST(own.p10_s == 12.0 / 1.2, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(own.p90_s == 12.0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(own.of.rows == 20);
  const auto device = sim::prediction_interval(table, "megatron-core", "A", 11.0);
  BOOST_TEST(device.p10_s == 10.0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(device.p90_s == 11.0 / 0.95, boost::test_tools::tolerance(1e-15));
  const auto all = sim::prediction_interval(table, "nemo", "B", 9.0);
  BOOST_TEST(all.p10_s == 9.0 / 1.25, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(all.p90_s == 10.0, boost::test_tools::tolerance(1e-15));
  // [7.2, 10] and [10, 11.58] touch; [10, 12] and [7.2, 9.9] do not.
  BOOST_TEST(sim::overlaps(all, device));
  BOOST_TEST(!sim::overlaps(own, sim::PredictionInterval{7.2, 9.9, {}}));
  // The shipped table: a fallback over all rows, every class fitted on rows with P10 <= P90.
  const sim::IntervalTable shipped = sim::interval_table();
  int fallbacks = 0;
  for (const auto& c : shipped.classes) {
    fallbacks += c.framework == "*" && c.device == "*";
    BOOST_TEST(c.rows >= 10);
    BOOST_TEST(c.p10_pct <= c.p90_pct);
  }
  BOOST_TEST(fallbacks == 1);
  // A plan's class is its framework's family: NeMo 2.x on H100s is read against NeMo's rows.
  const Experiment nemo = load_experiment_text(
      "[model]\npreset=\"llama3-8b\"\n[system]\npreset=\"dgx-h100\"\ngpus=8\n[parallel]\ntp=1\npp=1\n"
      "[training]\nglobal_batch=8\nframework=\"nemo-2\"\n",
      "test");
  const auto of = sim::with_interval(sim::predict(nemo), nemo, shipped).interval->of;
  BOOST_TEST(of.framework == "nemo");
  BOOST_TEST(of.device == "H100-SXM5-80GB");
}
