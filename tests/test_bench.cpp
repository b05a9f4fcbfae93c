// The micro-benchmarks: nccl-tests' size, count and busbw conventions against hand-computed
// values, exact answers on a group of threads, the size flags, and a benchmark written to a
// results file and read back.
#define BOOST_TEST_MODULE bench
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <thread>

#include "bench/collectives.hpp"
#include "bench/gemm.hpp"
#include "exec/thread_communicator.hpp"
#include "kernels/kernels.hpp"

using namespace parallax;
using namespace parallax::bench;

namespace {
// Every rank's table for one collective on `ranks` threads.
std::vector<Report> on_threads(int ranks, Collective c, const SizeRange& r) {
  exec::ThreadGroup group(ranks);
  std::vector<Report> out(ranks);
  std::vector<std::thread> threads;
  for (int i = 0; i < ranks; ++i)
    threads.emplace_back([&, i] {
      exec::ThreadCommunicator comm(group, i);
      out[i] = bench_collective(comm, c, r, {1, 2});
    });
  for (auto& t : threads) t.join();
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(busbw_factors_are_nccl_tests) {
  // all-reduce 2(n-1)/n: 1 on 2 ranks, 1.5 on 4, 1.75 on 8; reduce-scatter and all-gather
  // (n-1)/n: 0.5, 0.75, 0.875; broadcast and send/receive 1.
  BOOST_TEST(busbw_factor(Collective::all_reduce, 2) == 1.0);
  BOOST_TEST(busbw_factor(Collective::all_reduce, 4) == 1.5);
  BOOST_TEST(busbw_factor(Collective::all_reduce, 8) == 1.75);
  BOOST_TEST(busbw_factor(Collective::reduce_scatter, 4) == 0.75);
  BOOST_TEST(busbw_factor(Collective::all_gather, 8) == 0.875);
  BOOST_TEST(busbw_factor(Collective::broadcast, 8) == 1.0);
  BOOST_TEST(busbw_factor(Collective::send_recv, 2) == 1.0);
}

BOOST_AUTO_TEST_CASE(each_collective_gives_the_exact_answer_and_nccl_tests_columns) {
  const SizeRange range{64, 4096, 4};  // 64, 256, 1024, 4096 bytes
  for (auto c : {Collective::all_reduce, Collective::reduce_scatter, Collective::all_gather, Collective::broadcast,
                 Collective::send_recv}) {
    BOOST_TEST_CONTEXT(to_string(c)) {
      const std::vector<Report> ranks = on_threads(4, c, range);
      const Report& r = ranks[0];
      BOOST_TEST(r.rows.size() == 4u);
      const auto size = r.numbers("size"), count = r.numbers("count"), wrong = r.numbers("wrong");
      const auto time = r.numbers("time_us"), algbw = r.numbers("algbw_GBps"), busbw = r.numbers("busbw_GBps");
      const double width = c == Collective::broadcast ? 8 : 4;
      const bool per_rank = c == Collective::reduce_scatter || c == Collective::all_gather;
      for (size_t i = 0; i < size.size(); ++i) {
        BOOST_TEST(size[i] == 64.0 * std::pow(4, i));
        BOOST_TEST(count[i] == size[i] / width / (per_rank ? 4 : 1));  // 1024 B all-gather: 64 floats a rank
        BOOST_TEST(wrong[i] == 0.0);
        BOOST_TEST(algbw[i] == size[i] / time[i] / 1e3, boost::test_tools::tolerance(1e-9));
        BOOST_TEST(busbw[i] == algbw[i] * busbw_factor(c, 4), boost::test_tools::tolerance(1e-9));
      }
      // The time is the group's mean: every rank prints the same table.
      BOOST_TEST(ranks[3].numbers("time_us") == time, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(sizes_follow_the_flags) {
  BOOST_TEST(parse_bytes("8", "-b") == 8);
  BOOST_TEST(parse_bytes("64K", "-b") == 65536);
  BOOST_TEST(parse_bytes("32M", "-e") == 32L << 20);
  BOOST_TEST(parse_bytes("1G", "-e") == 1L << 30);
  BOOST_CHECK_THROW(parse_bytes("12Q", "-b"), InputError);
  BOOST_CHECK_THROW(parse_bytes("-4", "-b"), InputError);
  BOOST_TEST((sizes({8, 64, 2}) == std::vector<long>{8, 16, 32, 64}));
  BOOST_TEST((sizes({1024, 1024, 2}) == std::vector<long>{1024}));
  BOOST_CHECK_THROW(sizes({64, 8, 2}), InputError);
  BOOST_CHECK_THROW(sizes({8, 64, 1}), InputError);
}

BOOST_AUTO_TEST_CASE(gemm_shapes_are_the_layers_linear_layers) {
  Experiment e;
  e.model.hidden = 768;
  e.model.heads = e.model.kv_heads = 12;
  e.model.ffn_hidden = 3072;
  e.model.seq_len = 1024;
  e.model.vocab = 50257;
  e.training.micro_batch = 4;
  e.parallel.tp = 2;
  const auto shapes = layer_gemms(e);
  BOOST_TEST(shapes.size() == 5u);
  BOOST_TEST((shapes[0].M == 4096 && shapes[0].N == 3 * 768 / 2 && shapes[0].K == 768));  // qkv
  BOOST_TEST((shapes[1].N == 768 && shapes[1].K == 384));                                 // attention projection
  BOOST_TEST((shapes[2].N == 1536 && shapes[3].K == 1536));                               // MLP
  BOOST_TEST(shapes[4].N == 50432 / 2);  // the vocabulary padded to a multiple of 128*tp, sliced
}

BOOST_AUTO_TEST_CASE(a_benchmark_round_trips_through_the_results_file) {
  auto k = kernels::make_kernels("cpu");
  Report r = bench_gemm(*k, square_gemms({32, 64}), Precision::fp32, 2);
  r.attributes.emplace_back("ranks", "1");
  BOOST_TEST(r.rows.size() == 4u);  // forward and backward of each
  const auto path = std::filesystem::temp_directory_path() / ("bench-" + std::to_string(::getpid()) + ".h5");
  add_benchmark(path.string(), r);
  add_benchmark(path.string(), bench_kernels(*k, {4096}, 2));
  const std::vector<Report> back = read_benchmarks(path.string());
  BOOST_TEST_REQUIRE(back.size() == 2u);
  BOOST_TEST(back[0].kind == "gemm");
  BOOST_TEST(back[1].kind == "kernels");
  BOOST_TEST(back[0].numbers("tflops") == r.numbers("tflops"), boost::test_tools::per_element());
  BOOST_TEST(back[0].strings("pass") == r.strings("pass"), boost::test_tools::per_element());
  BOOST_TEST(format_csv(back[0]) == format_csv(r));
  std::filesystem::remove(path);
}
