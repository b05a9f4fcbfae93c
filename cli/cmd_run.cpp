#include <H5public.h>
#include <cblas.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "exec/trainer.hpp"
#include "models/experiment_json.hpp"
#include "models/toml_reader.hpp"
#include "sim/flops.hpp"
#include "sim/predict.hpp"
#include "sim/results_file.hpp"

namespace parallax::cli {

namespace {

struct RunArgs {
  std::string experiment;
  std::vector<std::string> sets;
  std::string out;
};

double peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

std::vector<std::pair<std::string, std::string>> provenance() {
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return {{"hostnames", host},
          {"git_sha", PARALLAX_GIT_SHA},
          {"tool_version", PARALLAX_VERSION},
          {"hdf5_version", std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release)},
          {"blas", openblas_get_config()},
          {"compiler", __VERSION__}};
}

}  // namespace

Runner add_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  app.add_option("experiment", args->experiment, "Experiment TOML file")->required();
  app.add_option("--set", args->sets, "Override a key: section.key=value (repeatable)");
  app.add_option("--out", args->out, "HDF5 results file to add the measured run to")->required();
  return [args] {
    const Experiment e = load_experiment_file(args->experiment, args->sets);
    const auto& p = e.parallel;
    if (p.tp * p.pp * p.dp != 1)
      throw InputError("parallel: tp*pp*dp = " + std::to_string(p.tp * p.pp * p.dp) +
                       "; this executor runs one rank (tensor, pipeline and data parallelism come with the MPI executor)");
    if (e.training.precision != Precision::fp32)
      throw InputError("training.precision = \"" + to_string(e.training.precision) + "\": the CPU executor trains in fp32");
    if (e.training.steps < 1) throw InputError("training.steps = " + std::to_string(e.training.steps) + " must be positive");
    if (e.training.log_every < 1) throw InputError("training.log_every must be positive");

    exec::SingleProcess comm;
    exec::Trainer trainer(e, comm);  // InputError for bad data, init or checkpoint files
    const std::string config_json = to_json(e).dump();
    const sim::Prediction predicted = sim::predict(e);
    results::MeasuredRunWriter writer(args->out, e, predicted, provenance());
    std::cerr << "parallax: run " << writer.id() << " -> " << args->out << " (predicted "
              << predicted.iteration_time_s * 1e3 << " ms per iteration on " << e.system.name << ")\n";
    const double flops = sim::model_flops(e);
    const double peak = peak_flops(e.system.device, e.training.precision);
    const double tokens = static_cast<double>(e.training.global_batch) * e.model.seq_len;
    while (trainer.steps_done() < e.training.steps) {
      const exec::StepResult r = trainer.step();
      results::MeasuredStep s;
      s.step = r.step;
      s.loss = r.loss;
      s.grad_norm = r.grad_norm;
      s.lr = r.lr;
      s.iteration_time_s = r.iteration_s;
      s.tokens_per_s = tokens / r.iteration_s;
      s.model_tflops_per_gpu = flops / r.iteration_s / e.system.gpus / 1e12;
      s.mfu = flops / r.iteration_s / e.system.gpus / peak;
      s.peak_memory_bytes = peak_rss_bytes();
      s.forward_s = r.forward_s;
      s.backward_s = r.backward_s;
      s.optimizer_s = r.optimizer_s;
      writer.add(s);
      if (r.step % e.training.log_every == 0 || r.step == e.training.steps)
        std::printf(" iteration %8d/%8d | consumed samples: %12ld | elapsed time per iteration (ms): %.1f | "
                    "throughput per GPU (TFLOP/s/GPU): %.3f | learning rate: %.6E | lm loss: %.6E | grad norm: %.3f |\n",
                    r.step, e.training.steps, r.consumed_samples, r.iteration_s * 1e3, s.model_tflops_per_gpu, r.lr,
                    r.loss, r.grad_norm);
      std::fflush(stdout);
      if (e.training.checkpoint_every > 0 && r.step % e.training.checkpoint_every == 0) {
        std::filesystem::create_directories(e.training.checkpoint_dir);
        char name[32];
        std::snprintf(name, sizeof name, "step_%06d.h5", r.step);
        trainer.save_checkpoint((std::filesystem::path(e.training.checkpoint_dir) / name).string(), config_json);
      }
    }
    writer.finish();
    return 0;
  };
}

}  // namespace parallax::cli
