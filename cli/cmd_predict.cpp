#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "models/toml_reader.hpp"
#include "results/results_file.hpp"
#include "sim/predict.hpp"
#include "sim/report_json.hpp"
#include "sim/timeline_trace.hpp"

namespace parallax::cli {

namespace {

struct PredictArgs {
  std::string experiment;
  std::vector<std::string> sets;
  std::string format = "table";
  bool require_fit = false;
  std::string timeline;
  std::string out;
};

void print_table(const Experiment& e, const sim::Prediction& p) {
  const auto& b = p.breakdown;
  const double T = p.iteration_time_s;
  std::printf("%s\n", e.name.c_str());
  const auto& m = e.model;
  const std::string experts =
      m.moe() ? " x " + std::to_string(m.experts) + " experts (top " + std::to_string(m.top_k) + ")" : "";
  std::printf("  model   %s: %d layers, hidden %d, %d heads (%d kv), ffn %d%s, seq %d, vocab %d\n", m.name.c_str(),
              m.layers, m.hidden, m.heads, m.kv_heads, m.mlp_width(), experts.c_str(), m.seq_len, m.vocab);
  std::printf("  system  %s: %d x %s (%d per node), framework %s\n", e.system.name.c_str(), e.system.gpus,
              e.system.device.name.c_str(), e.system.gpus_per_node, e.training.framework.c_str());
  const std::string state = e.training.optimizer_state == OptimizerState::fp32
                                ? ""
                                : ", optimizer state " + to_string(e.training.optimizer_state);
  std::printf("  plan    %s, %s schedule, micro-batch %d x %d per replica, global batch %d, recompute %s, %s%s%s%s\n\n",
              plan_name(e).c_str(), to_string(e.parallel.schedule).c_str(), e.training.micro_batch, e.micro_batches(),
              e.training.global_batch, recompute_text(e.training).c_str(), to_string(e.training.precision).c_str(),
              e.parallel.sequence_parallel ? ", sequence parallel" : "", sharding_text(e.parallel).c_str(),
              state.c_str());
  std::printf("  iteration time        %12.4f s\n", T);
  if (p.interval)
    std::printf("    P10-P90             %8.4f - %.4f s  (%s)\n", p.interval->p10_s, p.interval->p90_s,
                sim::interval_source(p.interval->of).c_str());
  std::printf("  throughput            %12.0f tokens/s\n", p.tokens_per_s);
  std::printf("  model TFLOP/s/GPU     %12.1f   MFU %5.1f %%\n", p.model_tflops_per_gpu, 100 * p.mfu);
  std::printf("  hardware TFLOP/s/GPU  %12.1f   HFU %5.1f %%\n", p.hardware_tflops_per_gpu, 100 * p.hfu);
  std::printf("  SC21 (\"96\") TFLOP/s  %12.1f\n\n", p.megatron96_tflops_per_gpu);
  std::printf("  breakdown (pipeline stage %d, which finishes last)\n", p.critical_stage);
  const std::pair<const char*, double> parts[] = {{"compute", b.compute},
                                                  {"recompute", b.recompute},
                                                  {"bubble", b.bubble},
                                                  {"TP comm exposed", b.tp_comm_exposed},
                                                  {"PP comm exposed", b.pp_comm_exposed},
                                                  {"DP comm exposed", b.dp_comm_exposed},
                                                  {"optimizer", b.optimizer}};
  for (const auto& [name, v] : parts) std::printf("    %-18s %10.4f s  %5.1f %%\n", name, v, 100 * v / T);
  std::printf("\n  memory per device (GiB)        weights  gradients  optimizer  activations  other   total\n");
  for (const auto& s : p.memory)
    std::printf("    stage %-3d                 %10.2f %10.2f %10.2f %12.2f %6.2f %7.2f\n", s.stage, gib(s.weights),
                gib(s.gradients), gib(s.optimizer), gib(s.activations), gib(s.other), gib(s.total()));
  if (p.usable_memory_bytes < p.device_memory_bytes)
    std::printf("  peak %.2f GiB of %.2f GiB (%.2f GiB after the headroom): %s\n", gib(p.peak_memory_bytes),
                gib(p.device_memory_bytes), gib(p.usable_memory_bytes), p.fits ? "fits" : "DOES NOT FIT");
  else
    std::printf("  peak %.2f GiB of %.2f GiB: %s\n", gib(p.peak_memory_bytes), gib(p.device_memory_bytes),
                p.fits ? "fits" : "DOES NOT FIT");
}

}  // namespace

Runner add_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  app.add_option("experiment", args->experiment, "Experiment TOML file")->required();
  app.add_option("--set", args->sets, "Override a key: section.key=value (repeatable)");
  app.add_option("--format", args->format, "Output: table or json")->check(CLI::IsMember({"table", "json"}));
  app.add_option("--timeline", args->timeline, "Write the simulated timeline as Chrome-trace JSON");
  app.add_option("--out", args->out, "Add the prediction to an HDF5 results file");
  app.add_flag("--require-fit", args->require_fit, "Exit with status 1 when the plan does not fit in memory");
  return [args] {
    const Experiment e = load_experiment_file(args->experiment, args->sets);
    sim::PredictOptions options;
    options.timeline = !args->timeline.empty() || !args->out.empty();
    const sim::Prediction p = sim::with_interval(sim::predict(e, options), e, sim::interval_table());
    if (!args->timeline.empty())
      write_file_atomically(args->timeline, sim::chrome_trace(p.timeline, e.name + " " + plan_name(e)));
    const std::string id = args->out.empty() ? "" : results::add_predicted_run(args->out, e, p);
    if (args->format == "json")
      std::cout << sim::prediction_json(e, p).dump(2) << "\n";
    else
      print_table(e, p);
    // The table first, whole, then where it was added: the two streams never share a line.
    std::cout.flush();
    std::fflush(stdout);
    if (!id.empty()) std::cerr << "parallax: added run " << id << " to " << args->out << "\n";
    if (args->require_fit && !p.fits) {
      std::cerr << "parallax: the plan does not fit in " << p.usable_memory_bytes / (1024.0 * 1024.0 * 1024.0)
                << " GiB a device\n";
      return 1;
    }
    return 0;
  };
}

}  // namespace parallax::cli
