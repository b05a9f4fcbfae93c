// The event simulation against closed-form pipeline times.
#define BOOST_TEST_MODULE event_sim
#include <boost/test/unit_test.hpp>

#include "models/toml_reader.hpp"
#include "sim/event_sim.hpp"
#include "sim/predict.hpp"

using namespace parallax;
using namespace parallax::sim;
using boost::test_tools::tolerance;

namespace {
SimResult run(const PipelineSchedule& s, double f, double b, double hop = 0) {
  SimInput in;
  in.schedule = &s;
  in.forward.assign(s.virtual_stages(), PassCost{f, 0, 0});
  in.backward.assign(s.virtual_stages(), PassCost{b, 0, 0});
  in.hop.assign(s.virtual_stages(), hop);
  in.blocking_p2p = false;
  return simulate(in);
}
}  // namespace

BOOST_AUTO_TEST_CASE(one_f_one_b_takes_m_plus_p_minus_1_slots) {
  // Narayanan et al. SC21 sec. 2.2: (m + p - 1) * (tf + tb), bubble (p - 1)/m of the ideal.
  for (int p : {1, 2, 4, 8})
    for (int m : {p, 3 * p, 16}) {
      const auto s = make_schedule(Schedule::one_f_one_b, p, 1, m);
      BOOST_TEST(run(s, 1.0, 2.0).makespan == (m + p - 1) * 3.0, tolerance(1e-12));
      BOOST_TEST(run(make_schedule(Schedule::gpipe, p, 1, m), 1.0, 2.0).makespan == (m + p - 1) * 3.0,
                 tolerance(1e-12));
    }
}

BOOST_AUTO_TEST_CASE(interleaving_divides_the_bubble_by_v) {
  // Per chunk tf/v and tb/v: makespan m*(tf+tb) + (p-1)*(tf+tb)/v (SC21 sec. 2.2.2).
  const int p = 4, v = 2, m = 8;
  const auto s = make_schedule(Schedule::interleaved, p, v, m);
  BOOST_TEST(run(s, 1.0 / v, 2.0 / v).makespan == m * 3.0 + (p - 1) * 3.0 / v, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(transfers_delay_the_pipeline) {
  // With a transfer time c per hop, the first micro-batch's round trip gains 2(p-1)c.
  const int p = 4, m = 4;
  const auto s = make_schedule(Schedule::one_f_one_b, p, 1, m);
  BOOST_TEST(run(s, 1.0, 2.0, 0.5).makespan >= (m + p - 1) * 3.0 + 2 * (p - 1) * 0.5 - 1e-12);
}

BOOST_AUTO_TEST_CASE(overlapped_sends_hold_only_the_receiver) {
  // Megatron-Core's overlap_p2p_comm: in the interleaved schedule a stage no longer waits for
  // its own sends, so less of the transfer time is exposed; other schedules ignore it.
  const std::string toml =
      "[model]\npreset=\"megatron-22b\"\n[system]\npreset=\"dgx-a100-80g\"\ngpus=128\n[parallel]\ntp=8\npp=16\n"
      "vpp=3\nschedule=\"interleaved-1f1b\"\noverlap_p2p_comm=false\n[training]\nglobal_batch=128\nmicro_batch=4\n"
      "recompute=\"full\"\n";
  const Experiment blocking = load_experiment_text(toml, "test");
  Experiment overlapped = blocking;
  overlapped.parallel.overlap_p2p_comm = true;
  const Prediction a = predict(blocking), b = predict(overlapped);
  BOOST_TEST(b.breakdown.pp_comm_exposed < 0.5 * a.breakdown.pp_comm_exposed);
  BOOST_TEST(b.breakdown.pp_comm_exposed > 0);  // the warm-up's forwards still wait for theirs
  BOOST_TEST(b.iteration_time_s < a.iteration_time_s);
  Experiment plain = blocking;
  plain.parallel.vpp = 1;
  plain.parallel.schedule = Schedule::one_f_one_b;
  Experiment plain_overlapped = plain;
  plain_overlapped.parallel.overlap_p2p_comm = true;
  BOOST_TEST(predict(plain_overlapped).iteration_time_s == predict(plain).iteration_time_s, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(breakdown_adds_up_to_the_iteration_time) {
  const Experiment e = load_experiment_text(
      "[model]\npreset=\"gpt3-175b\"\n[system]\npreset=\"dgx-a100-80g\"\ngpus=512\n[parallel]\ntp=8\npp=8\nvpp=2\n"
      "distributed_optimizer=true\n[training]\nglobal_batch=512\nmicro_batch=1\nrecompute=\"selective\"\n",
      "test");
  const Prediction p = predict(e, {true});
  BOOST_TEST(p.breakdown.sum() == p.iteration_time_s, tolerance(1e-9));
  BOOST_TEST(p.breakdown.bubble > 0);
  BOOST_TEST(!p.timeline.empty());
  // The bubble of interleaved 1F1B is (p-1)/(v*m) of the ideal time for balanced stages; the
  // last stage's LM head makes the others wait a little longer.
  const double ideal = p.breakdown.compute + p.breakdown.recompute + p.breakdown.tp_comm_exposed;
  BOOST_TEST(p.breakdown.bubble / ideal >= 7.0 / (2 * 64));
  BOOST_TEST(p.breakdown.bubble / ideal < 2 * 7.0 / (2 * 64));
}

BOOST_AUTO_TEST_CASE(a_single_stage_has_no_bubble_and_no_negative_part) {
  // Llama 3 8B on one H100 node without pipelining: nothing waits, so the bubble and the exposed
  // pipeline communication are exactly zero (they once printed as -0.0000, a rounding error).
  const Experiment e = load_experiment_text(
      "[model]\npreset=\"llama3-8b\"\n[system]\npreset=\"dgx-h100\"\nnodes=1\n[parallel]\ntp=1\npp=1\ncp=2\n"
      "distributed_optimizer=true\n[training]\nglobal_batch=128\nmicro_batch=1\nprecision=\"bf16\"\n"
      "flash_attention=true\n",
      "test");
  const Prediction p = predict(e);
  const Breakdown& b = p.breakdown;
  BOOST_TEST(b.bubble == 0.0);
  BOOST_TEST(b.pp_comm_exposed == 0.0);
  for (double part : {b.compute, b.recompute, b.tp_comm_exposed, b.dp_comm_exposed, b.optimizer})
    BOOST_TEST(part >= 0.0);
  BOOST_TEST(b.sum() == p.iteration_time_s, tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(uneven_stages_with_interleaving) {
  // 96 layers on 8 stages of 3 chunks. Moving a layer from the first stage to the second
  // leaves the same work but a slower slowest stage: the iteration cannot get faster, and the
  // stage with 13 layers holds 13/12 of the even split's weights. Taking one layer from each
  // end stage (94 layers, Llama 3's cut) does less work and must be faster.
  const std::string text =
      "[model]\npreset=\"gpt3-175b\"\n[system]\npreset=\"dgx-a100-80g\"\ngpus=1024\n[parallel]\ntp=8\npp=8\nvpp=3\n"
      "distributed_optimizer=true\nsequence_parallel=true\n[training]\nglobal_batch=512\nmicro_batch=1\n"
      "recompute=\"selective\"\n";
  const Prediction even = predict(load_experiment_text(text, "test"));
  const Prediction moved =
      predict(load_experiment_text(text, "test", {"parallel.stage_layers=[11,13,12,12,12,12,12,12]"}));
  const Prediction trimmed = predict(
      load_experiment_text(text, "test", {"model.layers=94", "parallel.stage_layers=[11,12,12,12,12,12,12,11]"}));
  BOOST_TEST(moved.iteration_time_s > even.iteration_time_s);
  BOOST_TEST(trimmed.iteration_time_s < even.iteration_time_s);
  BOOST_TEST(moved.memory[1].weights == even.memory[1].weights * 13.0 / 12.0, tolerance(1e-9));
}
