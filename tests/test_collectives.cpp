// Collective costs in nccl-tests' bus-bandwidth terms, by hand.
#define BOOST_TEST_MODULE collectives
#include <boost/test/unit_test.hpp>

#include "models/toml_reader.hpp"
#include "sim/collectives.hpp"
#include "sim/cpu_threads.hpp"
#include "sim/gemm_model.hpp"
#include "sim/layer_costs.hpp"
#include "sim/memory.hpp"
#include "sim/plan_costs.hpp"

using namespace parallax;
using namespace parallax::sim;
using boost::test_tools::tolerance;

BOOST_AUTO_TEST_CASE(busbw_factors_are_nccl_tests) {
  BOOST_TEST(busbw_factor(Collective::all_reduce, 8) == 2.0 * 7 / 8, tolerance(1e-12));
  BOOST_TEST(busbw_factor(Collective::all_gather, 8) == 7.0 / 8, tolerance(1e-12));
  BOOST_TEST(busbw_factor(Collective::reduce_scatter, 4) == 3.0 / 4, tolerance(1e-12));
  BOOST_TEST(busbw_factor(Collective::all_reduce, 1) == 0.0);
}

BOOST_AUTO_TEST_CASE(all_reduce_time_inside_a_node) {
  SystemConfig s = system_preset("dgx-a100-80g");
  const GroupLink link = group_link(s, 8, 1);
  BOOST_TEST(!link.inter_node);
  const double busbw = 300e9 * s.calibration.busbw_efficiency_intra;
  BOOST_TEST(link.busbw == busbw, tolerance(1e-12));
  const double bytes = 1e9;
  BOOST_TEST(collective_time(Collective::all_reduce, bytes, 8, link) == 14 * 3e-6 + bytes * 1.75 / busbw,
             tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(groups_across_nodes_use_their_members_nics) {
  SystemConfig s = system_preset("dgx-a100-80g");
  s.gpus = 64;
  // DP group of 8 with tp = 8: one member per node, one NIC.
  const GroupLink one = group_link(s, 8, 8);
  BOOST_TEST(one.inter_node);
  BOOST_TEST(one.busbw == 25e9 * s.calibration.busbw_efficiency_inter, tolerance(1e-12));
  // DP group of 16 with tp = 2: four members per node drive four NICs.
  const GroupLink four = group_link(s, 16, 2);
  BOOST_TEST(four.busbw == 4 * 25e9 * s.calibration.busbw_efficiency_inter, tolerance(1e-12));
  // TP group of 4 stays inside the node.
  BOOST_TEST(!group_link(s, 4, 1).inter_node);
}

BOOST_AUTO_TEST_CASE(pipeline_sends_across_nodes_use_their_own_efficiency) {
  // DGX systems leave p2p_efficiency_inter at 0: a send runs at the collectives' efficiency.
  const SystemConfig dgx = system_preset("dgx-a100-80g");
  const double bytes = 1e8;
  BOOST_TEST(p2p_time(bytes, dgx, true) ==
                 dgx.inter_node.latency_us * 1e-6 + bytes / (25e9 * dgx.calibration.busbw_efficiency_inter),
             tolerance(1e-12));
  // Jean Zay's sends run at their fitted share of the Omni-Path links (6.25 GB/s per GPU),
  // its collectives at theirs; inside a node both use NVLink.
  const SystemConfig jz = system_preset("jean-zay-a100-80g");
  BOOST_TEST(jz.calibration.p2p_efficiency_inter > jz.calibration.busbw_efficiency_inter);
  BOOST_TEST(p2p_time(bytes, jz, true) ==
                 jz.inter_node.latency_us * 1e-6 + bytes / (6.25e9 * jz.calibration.p2p_efficiency_inter),
             tolerance(1e-12));
  BOOST_TEST(p2p_time(bytes, jz, false) ==
                 jz.intra_node.latency_us * 1e-6 + bytes / (300e9 * jz.calibration.busbw_efficiency_intra),
             tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(the_tied_embedding_all_reduce_is_a_pairwise_exchange) {
  // GPT-3 175B on Jean Zay, t8 p8 d1: the first and the last stage all-reduce the tied
  // embedding's gradient (fp32 under bf16) between two nodes, at the send efficiency.
  Experiment e = load_experiment_text(R"(
[model]
preset = "gpt3-175b"
[system]
preset = "jean-zay-a100-80g"
nodes = 8
[parallel]
tp = 8
pp = 8
[training]
global_batch = 16
micro_batch = 1
)",
                                      "t", {});
  const double bytes = vocab_params_per_device(e.model, 8) * 4;
  const GroupLink pair = exchange_link(e.system, true);
  BOOST_TEST(pair.busbw == 6.25e9 * e.system.calibration.p2p_efficiency_inter, tolerance(1e-12));
  const double expected = collective_time(Collective::all_reduce, bytes, 2, pair);
  BOOST_TEST(exposed_data_parallel_time(e, 0, 0) == expected, tolerance(1e-12));
  BOOST_TEST(exposed_data_parallel_time(e, 7, 0) == expected, tolerance(1e-12));
  BOOST_TEST(exposed_data_parallel_time(e, 3, 0) == 0.0);
}

BOOST_AUTO_TEST_CASE(a_framework_reduction_efficiency_slows_only_gradients_crossing_nodes) {
  // GPT-3 175B, t8 p1 d2 on two DGX A100 nodes, gradients all-reduced after the last backward:
  // at dp_reduce_efficiency 0.25 the bandwidth term takes four times as long, the ring
  // latency does not change. With t4 d2 on one node the two replicas share it: no change at all.
  const auto plan = [](int tp, int nodes, const std::string& efficiency) {
    return load_experiment_text(R"(
[model]
preset = "gpt3-175b"
[system]
preset = "dgx-a100-80g"
nodes = )" + std::to_string(nodes) + R"(
[system.calibration]
dp_reduce_efficiency = )" + efficiency +
                                    R"(
[parallel]
tp = )" + std::to_string(tp) + R"(
pp = 1
distributed_optimizer = false
overlap_grad_reduce = false
[training]
global_batch = 16
micro_batch = 1
precision = "bf16"
)",
                                "t", {});
  };
  const Experiment nccl = plan(8, 2, "1.0"), deepspeed = plan(8, 2, "0.25");
  const double bytes = stage_params_per_device(nccl, 0) * gradient_bytes(nccl.training);
  const GroupLink link = group_link(nccl.system, 2, 8);
  BOOST_TEST_REQUIRE(link.inter_node);
  const double latency = link.latency * ring_steps(Collective::all_reduce, 2);
  const double wire = bytes * busbw_factor(Collective::all_reduce, 2) / link.busbw;
  BOOST_TEST(exposed_data_parallel_time(nccl, 0, 0) == latency + wire, tolerance(1e-12));
  BOOST_TEST(exposed_data_parallel_time(deepspeed, 0, 0) == latency + 4 * wire, tolerance(1e-12));
  const Experiment shared = plan(4, 1, "0.25");
  BOOST_TEST_REQUIRE(shared.parallel.dp == 2);
  BOOST_TEST(exposed_data_parallel_time(shared, 0, 0) == exposed_data_parallel_time(plan(4, 1, "1.0"), 0, 0),
             tolerance(1e-12));
}

namespace {
// One 22B layer (Korthikanti et al. 2022, Table 4) on 8 GPUs with a slow NVLink, so that each
// backward collective outlasts the GEMM it runs beside and the overlap is partial.
Experiment slow_tp_layer(bool sp, bool async) {
  Experiment e = load_experiment_text(R"(
[model]
name = "l22"
layers = 1
hidden = 6144
heads = 64
seq_len = 2048
vocab = 51200
[system]
preset = "dgx-a100-80g"
nodes = 1
[parallel]
tp = 8
[training]
global_batch = 4
micro_batch = 4
precision = "fp16"
)",
                                      "t", {});
  e.parallel.sequence_parallel = sp;
  e.parallel.async_tp_allreduce = async;
  e.system.calibration.busbw_efficiency_intra = 0.02;
  return e;
}
}  // namespace

BOOST_AUTO_TEST_CASE(column_parallel_backward_collectives_run_beside_their_gemms) {
  // Megatron's column-parallel backward: the input gradient's all-reduce (reduce-scatter under
  // SP) beside the weight-gradient GEMM; under SP the saved input's re-gather beside the
  // data-gradient GEMM, and the output gradient's all-gather exposed. Two blocks: QKV and fc1.
  const double tok = 4 * 2048, h = 6144, t = 8, E = 2, bytes = E * tok * h;
  const Gemm qkv{tok, 3 * h / t, h}, fc1{tok, 4 * h / t, h};
  const SystemConfig sys = slow_tp_layer(false, true).system;
  const GroupLink link = group_link(sys, 8, 1);
  auto wgrad = [&](const Gemm& g) { return gemm_time({g.k, g.n, g.m}, sys, Precision::fp16); };
  auto dgrad = [&](const Gemm& g) { return gemm_time({g.m, g.k, g.n}, sys, Precision::fp16); };
  const double ar = collective_time(Collective::all_reduce, bytes, 8, link);
  const double ag = collective_time(Collective::all_gather, bytes, 8, link);
  const double rs = collective_time(Collective::reduce_scatter, bytes, 8, link);
  BOOST_TEST_REQUIRE(ar > wgrad(fc1));  // the overlap is partial

  const auto sync = transformer_layer_cost(slow_tp_layer(false, false));
  const auto async = transformer_layer_cost(slow_tp_layer(false, true));
  BOOST_TEST(sync.backward.tp_comm == 2 * ar, tolerance(1e-9));
  BOOST_TEST(async.backward.tp_comm == (ar - wgrad(qkv)) + (ar - wgrad(fc1)), tolerance(1e-9));
  BOOST_TEST(async.forward.tp_comm == sync.forward.tp_comm, tolerance(1e-12));

  // Under SP the backward is asynchronous whatever the flag says.
  for (bool flag : {false, true}) {
    const auto sp = transformer_layer_cost(slow_tp_layer(true, flag));
    double expected = 0;
    for (const Gemm& g : {qkv, fc1}) expected += ag + (ag - dgrad(g)) + (rs - wgrad(g));
    BOOST_TEST(sp.backward.tp_comm == expected, tolerance(1e-9));
    BOOST_TEST(sp.forward.tp_comm == 2 * (ag + rs), tolerance(1e-9));
  }
}

BOOST_AUTO_TEST_CASE(a_cpu_rank_on_threads_is_that_many_cores) {
  // thread_efficiency 0.75: 4 threads are 1 + 3 * 0.75 = 3.25 cores of GEMM peak and memory
  // bandwidth, and GEMM tiles spread over all 4; one thread is the system as it is.
  SystemConfig s = system_preset("cpu");
  s.calibration.thread_efficiency = 0.75;
  const SystemConfig four = with_threads(s, 4);
  BOOST_TEST(four.device.sms == 4 * s.device.sms);
  BOOST_TEST(four.device.peak_tflops_fp32 == 3.25 * s.device.peak_tflops_fp32, tolerance(1e-12));
  BOOST_TEST(four.device.peak_tflops_bf16 == 3.25 * s.device.peak_tflops_bf16, tolerance(1e-12));
  BOOST_TEST(four.device.memory_gbps == 3.25 * s.device.memory_gbps, tolerance(1e-12));
  BOOST_TEST(four.device.memory_gib == s.device.memory_gib);
  BOOST_TEST(with_threads(s, 1).device.peak_tflops_fp32 == s.device.peak_tflops_fp32);
  // A large GEMM, compute-bound on both, takes 1/3.25 of its one-core time.
  const Gemm g{2048, 2048, 2048};
  BOOST_TEST(gemm_time(g, four, Precision::fp32) == gemm_time(g, s, Precision::fp32) / 3.25, tolerance(0.02));
}
