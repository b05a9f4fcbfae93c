// `parallax calibrate`: runs the micro-benchmarks (or reads them from a results file) and writes
// the system file they fit (bench/calibrate.hpp).
#include <mpi.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "bench/calibrate.hpp"
#include "bench/collectives.hpp"
#include "bench/gemm.hpp"
#include "cli/commands.hpp"
#include "exec/mpi_communicator.hpp"
#include "models/toml_reader.hpp"
#include "results/results_file.hpp"

namespace parallax::cli {

namespace {

struct CalibrateArgs {
  std::string from, out, system = "cpu", bench_out;
  std::vector<std::string> precisions{"fp32", "bf16"};
};

// GEMMs at each precision, the element-wise kernels, and (on 2 or more ranks) the collectives;
// every rank takes part, as a run's ranks share the node.
std::vector<bench::Report> measure(const CalibrateArgs& a, exec::Communicator& world) {
  std::vector<bench::Report> out;
  for (const auto& name : a.precisions) {
    const Precision p = name == "bf16" ? Precision::bf16 : name == "fp16" ? Precision::fp16 : Precision::fp32;
    auto k = kernels::make_kernels("cpu", p);
    k->share_cores(world.size());
    out.push_back(bench::bench_gemm(*k, bench::calibration_gemms(), p, 3));
    if (name == a.precisions.front()) out.push_back(bench::bench_kernels(*k, bench::sizes({64 << 10, 4 << 20, 4}), 5));
  }
  if (world.size() > 1)
    out.push_back(bench::bench_collectives(
        world, {bench::Collective::all_reduce, bench::Collective::reduce_scatter, bench::Collective::all_gather},
        {1024, 16 << 20, 4}, {3, 10}));
  for (auto& r : out)
    if (r.kind != "collectives") r.attributes.emplace_back("ranks", std::to_string(world.size()));
  return out;
}

SystemConfig base_system(const std::string& name) {
  return std::filesystem::exists(name) ? system_file(name) : system_preset(name);
}

std::string header(const CalibrateArgs& a, const SystemConfig& base, int ranks) {
  return "# Written by `parallax calibrate` on " + results::host_name() + " at " + results::utc_now() + ", from " +
         (a.from.empty() ? "benchmarks run then on " + std::to_string(ranks) + " rank(s)" : a.from) +
         ", over the base system " + base.name +
         ".\n# Every number says where it came from. Use it with `[system] file = \"" +
         std::filesystem::path(a.out).filename().string() + "\"` (relative to the experiment file).\nname = \"" +
         std::filesystem::path(a.out).stem().string() + "\"\n";
}

}  // namespace

Runner add_calibrate(CLI::App& app) {
  auto a = std::make_shared<CalibrateArgs>();
  app.add_option("--from", a->from, "Results file whose /benchmarks to fit, instead of running them");
  app.add_option("--out", a->out, "System TOML file to write")->required();
  app.add_option("--system", a->system, "Base system (preset name or file): what the benchmarks do not measure");
  app.add_option("--precision", a->precisions, "GEMM precisions to time (default fp32 bf16)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  app.add_option("--bench-out", a->bench_out, "Results file to add the benchmarks run to");
  return [a] {
    exec::MpiSession mpi;
    exec::MpiCommunicator world(MPI_COMM_WORLD);
    const bool leader = world.rank() == 0;
    try {
      const SystemConfig base = base_system(a->system);
      std::vector<bench::Report> benchmarks;
      if (!a->from.empty()) {
        benchmarks = bench::read_benchmarks(a->from);
      } else {
        benchmarks = measure(*a, world);
      }
      if (!leader) return 0;
      if (!a->bench_out.empty())  // stored first, so that the file's comments can name them
        for (auto& r : benchmarks) r.attributes.emplace_back("id", bench::add_benchmark(a->bench_out, r));
      const bench::Calibrated c = bench::calibrate(base, benchmarks);
      for (const auto& note : c.fit_notes) std::cout << note << "\n";
      write_file_atomically(a->out, bench::system_toml(c, header(*a, base, world.size())));
      std::cout << "wrote " << a->out << "\n";
      return 0;
    } catch (const InputError&) {
      if (!leader) throw ExitStatus{2};
      throw;
    }
  };
}

}  // namespace parallax::cli
