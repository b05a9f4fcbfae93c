// `parallax bench gemm|kernels|collectives|p2p`: micro-benchmarks of the executor's kernels and
// communicator on this machine, printed (rank 0), and added to a results file and a CSV.
#include <mpi.h>

#include <fstream>
#include <iostream>
#include <memory>

#include "bench/collectives.hpp"
#include "bench/gemm.hpp"
#include "cli/commands.hpp"
#include "exec/mpi_communicator.hpp"
#include "kernels/cuda_module.hpp"
#include "models/toml_reader.hpp"

namespace parallax::cli {

namespace {

struct BenchArgs {
  std::string what, experiment;
  std::vector<std::string> sets, ops{"all_reduce", "reduce_scatter", "all_gather", "broadcast"};
  std::string min, max, out, csv, precision = "fp32", backend = "cpu";
  double factor = 2;
  int iterations = 20, warmup = 5;
};

bench::SizeRange range_of(const BenchArgs& a, const std::string& min, const std::string& max) {
  return {bench::parse_bytes(a.min.empty() ? min : a.min, "-b"), bench::parse_bytes(a.max.empty() ? max : a.max, "-e"),
          a.factor};
}

bench::Collective collective_of(const std::string& name) {
  for (auto c : {bench::Collective::all_reduce, bench::Collective::reduce_scatter, bench::Collective::all_gather,
                 bench::Collective::broadcast})
    if (bench::to_string(c) == name) return c;
  throw InputError("--op " + name + ": one of all_reduce, reduce_scatter, all_gather, broadcast");
}

bench::Report collectives(const BenchArgs& a, exec::Communicator& world) {
  const bench::SizeRange range = range_of(a, "8", "64M");
  const bench::Repeats repeats{a.warmup, a.iterations};
  if (a.what == "p2p") return bench::bench_collective(world, bench::Collective::send_recv, range, repeats);
  std::vector<bench::Collective> ops;
  for (const auto& op : a.ops) ops.push_back(collective_of(op));
  return bench::bench_collectives(world, ops, range, repeats);
}

// On the GPU, rows of pass "cublaslt": each forward GEMM on operands already in the precision's
// format, cuBLASLt alone (the kernel seam's rows also cast fp32 operands to 16 bits).
void add_library_gemms(bench::Report& r, const std::vector<bench::GemmShape>& shapes, Precision precision,
                       int iterations) {
  auto* seconds_of = kernels::cuda_function<double(int, int, int, Precision, int)>("parallax_cuda_gemm_seconds");
  for (const auto& s : shapes) {
    const double seconds =
        seconds_of(static_cast<int>(s.M), static_cast<int>(s.N), static_cast<int>(s.K), precision, iterations);
    r.rows.push_back({s.op, std::string("cublaslt"), static_cast<long long>(s.M), static_cast<long long>(s.N),
                      static_cast<long long>(s.K), to_string(precision), seconds * 1e6,
                      2.0 * s.M * s.N * s.K / seconds / 1e12});
  }
}

bench::Report compute(const BenchArgs& a, int ranks) {
  Precision precision = a.precision == "bf16"   ? Precision::bf16
                        : a.precision == "fp16" ? Precision::fp16
                                                : Precision::fp32;
  std::vector<bench::GemmShape> shapes;
  if (!a.experiment.empty()) {
    const Experiment e = load_experiment_file(a.experiment, a.sets, false);
    precision = e.training.precision;
    shapes = bench::layer_gemms(e);
  }
  if (a.backend == "cuda") {
    std::string why;
    if (kernels::cuda_devices(&why) == 0) throw InputError("--backend cuda: no GPU to run on here (" + why + ")");
    kernels::select_cuda_device(0);
  }
  auto kernels = kernels::make_kernels(a.backend, precision);
  kernels->share_cores(ranks);
  bench::Report r;
  if (a.what == "gemm") {
    if (shapes.empty()) shapes = bench::square_gemms(bench::sizes(range_of(a, "128", "2048")));
    r = bench::bench_gemm(*kernels, shapes, precision, a.iterations);
    if (a.backend == "cuda") add_library_gemms(r, shapes, precision, a.iterations);
  } else {
    r = bench::bench_kernels(*kernels, bench::sizes(range_of(a, "64K", "16M")), a.iterations);
  }
  r.attributes.emplace_back("ranks", std::to_string(ranks));
  return r;
}

}  // namespace

Runner add_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  app.add_option("what", a->what, "gemm, kernels, collectives or p2p")
      ->required()
      ->check(CLI::IsMember({"gemm", "kernels", "collectives", "p2p"}));
  app.add_option("experiment", a->experiment, "Experiment TOML: gemm times its layers' GEMMs at its precision");
  app.add_option("--set", a->sets, "Override a key of the experiment: section.key=value (repeatable)");
  app.add_option("-b,--minbytes", a->min,
                 "Smallest size: bytes for collectives and p2p (default 8), elements for kernels (64K), "
                 "the square GEMMs' dimension for gemm without an experiment (128)");
  app.add_option("-e,--maxbytes", a->max, "Largest size (defaults 64M, 16M, 2048)");
  app.add_option("-f,--stepfactor", a->factor, "Multiply the size by this until the largest (default 2)");
  app.add_option("-n,--iters", a->iterations, "Timed iterations per size (default 20)")->check(CLI::PositiveNumber);
  app.add_option("-w,--warmup_iters", a->warmup, "Untimed iterations first (default 5)")->check(CLI::NonNegativeNumber);
  app.add_option("--op", a->ops, "Collectives to time (default all_reduce reduce_scatter all_gather broadcast)");
  app.add_option("--precision", a->precision, "gemm and kernels without an experiment: fp32, bf16 or fp16")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  app.add_option("--backend", a->backend, "gemm and kernels: the kernels of cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--out", a->out, "HDF5 results file to add /benchmarks/<id> to");
  app.add_option("--csv", a->csv, "CSV file to write the table to");
  return [a] {
    exec::MpiSession mpi;
    exec::MpiCommunicator world(MPI_COMM_WORLD);
    const bool leader = world.rank() == 0;
    try {
      const bench::Report r =
          a->what == "collectives" || a->what == "p2p" ? collectives(*a, world) : compute(*a, world.size());
      if (!leader) return 0;
      std::cout << format_text(r);
      if (!a->csv.empty()) write_file_atomically(a->csv, bench::format_csv(r));
      if (!a->out.empty())
        std::cout << "added /benchmarks/" << bench::add_benchmark(a->out, r) << " to " << a->out << "\n";
      return 0;
    } catch (const InputError&) {
      if (!leader) throw ExitStatus{2};
      throw;
    }
  };
}

}  // namespace parallax::cli
