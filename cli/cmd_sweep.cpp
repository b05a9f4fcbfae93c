#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "models/sweep_spec.hpp"
#include "models/toml_reader.hpp"
#include "results/results_file.hpp"
#include "sim/report_json.hpp"
#include "sim/sweep_report.hpp"

namespace parallax::cli {

namespace {

struct SweepArgs {
  std::string experiment;
  std::vector<std::string> sets;
  int top = 10;
  std::string csv, jsonl, out;
  std::string format = "table";
  int threads = 0;
  bool quiet = false;
};

// A progress line on stderr while the sweep runs: redrawn in a terminal, a plain line every
// few seconds in a batch log.
class ProgressLine {
 public:
  explicit ProgressLine(const sim::SweepProgress& p) : progress_(p), tty_(isatty(STDERR_FILENO)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~ProgressLine() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
    if (tty_ && drawn_) std::fprintf(stderr, "\n");
  }

 private:
  void loop() {
    const auto start = std::chrono::steady_clock::now();
    const auto period = std::chrono::milliseconds(tty_ ? 200 : 5000);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, period, [this] { return done_; })) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const long long n = progress_.evaluated.load();
      const long long total = std::max(1LL, progress_.items_total.load());
      std::fprintf(stderr, "%ssweep: %lld plans evaluated, %.0f%% of (gpus, tp, pp) done, %.1f s, %.0f plans/s%s",
                   tty_ ? "\r" : "", n, 100.0 * progress_.items_done.load() / total, s, n / std::max(s, 1e-9),
                   tty_ ? "   " : "\n");
      std::fflush(stderr);
      drawn_ = true;
    }
  }
  const sim::SweepProgress& progress_;
  bool tty_;
  bool drawn_ = false;
  bool done_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

const char* yes(bool b) { return b ? "yes" : "no"; }

// A plan's degrees and knobs, as the JSON outputs name them.
nlohmann::json plan_fields(const sim::PlanRecord& p) {
  return {{"gpus", p.gpus},
          {"tp", p.tp},
          {"pp", p.pp},
          {"dp", p.dp},
          {"vpp", p.vpp},
          {"schedule", to_string(p.schedule)},
          {"micro_batch", p.micro_batch},
          {"global_batch", p.global_batch},
          {"recompute", to_string(p.recompute)},
          {"sequence_parallel", p.sequence_parallel},
          {"distributed_optimizer", p.distributed_optimizer},
          {"zero_stage", p.zero_stage}};
}

void write_plans(const std::string& path, const sim::SweepResult& r, bool json_lines) {
  std::ostringstream out;
  if (!json_lines)
    out << "gpus,tp,pp,dp,vpp,schedule,micro_batch,global_batch,recompute,sequence_parallel,distributed_optimizer,fits,"
           "reject_reason,iteration_time_s,tokens_per_s,mfu,peak_memory_bytes,zero_stage\n";
  for (const auto& p : r.plans) {
    if (json_lines) {
      nlohmann::json j = plan_fields(p);
      j.update({{"fits", p.fits()},
                {"reject_reason", sim::to_string(p.reject)},
                {"peak_memory_bytes", static_cast<long long>(p.peak_memory_bytes)}});
      if (p.fits()) {
        j["iteration_time_s"] = p.iteration_time_s;
        j["tokens_per_s"] = p.tokens_per_s;
        j["mfu"] = p.mfu;
      }
      out << j.dump() << "\n";
    } else {
      out << p.gpus << ',' << p.tp << ',' << p.pp << ',' << p.dp << ',' << p.vpp << ',' << to_string(p.schedule) << ','
          << p.micro_batch << ',' << p.global_batch << ',' << to_string(p.recompute) << ',' << p.sequence_parallel
          << ',' << p.distributed_optimizer << ',' << p.fits() << ',' << sim::to_string(p.reject) << ',';
      if (p.fits())
        out << p.iteration_time_s << ',' << p.tokens_per_s << ',' << p.mfu;
      else
        out << ",,";
      out << ',' << static_cast<long long>(p.peak_memory_bytes) << ',' << p.zero_stage << "\n";
    }
  }
  write_file_atomically(path, out.str());
}

// The global batch of the sweep, or the ones it tries ("512, 1536"), or how it scales.
std::string batches_text(const Experiment& base, const SweepSpec& spec) {
  if (spec.weak_scaling)
    return std::to_string(base.training.global_batch) + " at " + std::to_string(base.system.gpus) +
           " devices, growing with them";
  if (!spec.global_batch) return std::to_string(base.training.global_batch);
  std::string out;
  for (int b : *spec.global_batch) out.append(out.empty() ? "" : ", ").append(std::to_string(b));
  return out;
}

// Whether plan i's P10-P90 interval overlaps the best plan's (both attached by with_interval).
bool overlaps_best(const std::vector<sim::RankedPlan>& top, size_t i) {
  return sim::overlaps(*top[i].prediction.interval, *top[0].prediction.interval);
}

void print_top(const std::vector<sim::RankedPlan>& top, int gpus) {
  std::printf("\nTop plans on %d devices (re-timed with the event simulation)\n", gpus);
  std::printf("  #  %-14s %6s %-16s %-9s %-3s %-4s %12s %9s %6s %10s %7s %19s  %s\n", "plan", "batch", "schedule",
              "recompute", "sp", "zero", "tokens/s", "TF/s/GPU", "MFU%", "peak GiB", "bubble%", "P10-P90 s",
              "dominant exposed cost");
  for (size_t i = 0; i < top.size(); ++i) {
    const auto& r = top[i];
    const auto& pr = r.prediction;
    char interval[32];
    std::snprintf(interval, sizeof interval, "%.3f-%.3f%s", pr.interval->p10_s, pr.interval->p90_s,
                  i > 0 && overlaps_best(top, i) ? " ~" : "");
    std::printf("%3zu  %-14s %6d %-16s %-9s %-3s %-4d %12.0f %9.1f %6.1f %10.2f %7.1f %19s  %s\n", i + 1,
                sim::plan_name(r.plan).c_str(), r.plan.global_batch, to_string(r.plan.schedule).c_str(),
                to_string(r.plan.recompute).c_str(), yes(r.plan.sequence_parallel), r.plan.zero_stage, pr.tokens_per_s,
                pr.model_tflops_per_gpu, 100 * pr.mfu, gib(pr.peak_memory_bytes),
                100 * pr.breakdown.bubble / pr.iteration_time_s, interval, sim::dominant_cost(pr.breakdown).c_str());
  }
  std::printf(
      "  (~: its P10-P90 overlaps #1's; the published runs of its class cannot tell the two apart. "
      "Intervals: %s)\n",
      sim::interval_source(top[0].prediction.interval->of).c_str());
}

// Best against runner-up, component by component.
void print_why(const sim::RankedPlan& a, const sim::RankedPlan& b) {
  const auto& x = a.prediction.breakdown;
  const auto& y = b.prediction.breakdown;
  std::printf("\nWhy %s over %s (they differ in %s; seconds per iteration)\n", sim::plan_name(a.plan).c_str(),
              sim::plan_name(b.plan).c_str(), sim::plan_differences(a.plan, b.plan).c_str());
  const std::tuple<const char*, double, double> rows[] = {
      {"compute", x.compute, y.compute},
      {"recompute", x.recompute, y.recompute},
      {"bubble", x.bubble, y.bubble},
      {"TP comm exposed", x.tp_comm_exposed, y.tp_comm_exposed},
      {"PP comm exposed", x.pp_comm_exposed, y.pp_comm_exposed},
      {"DP comm exposed", x.dp_comm_exposed, y.dp_comm_exposed},
      {"optimizer", x.optimizer, y.optimizer},
      {"iteration", a.prediction.iteration_time_s, b.prediction.iteration_time_s}};
  std::printf("  %-18s %10s %10s %10s\n", "", "best", "runner-up", "best-next");
  const char* biggest = "";
  double gap = 0;
  for (const auto& [name, u, w] : rows) {
    std::printf("  %-18s %10.4f %10.4f %+10.4f\n", name, u, w, u - w);
    if (std::string(name) != "iteration" && std::abs(w - u) > std::abs(gap)) gap = w - u, biggest = name;
  }
  std::printf("  %-18s %10.2f %10.2f\n", "peak memory GiB", gib(a.prediction.peak_memory_bytes),
              gib(b.prediction.peak_memory_bytes));
  std::printf("  largest difference: %s, %.4f s %s for the runner-up\n", biggest, std::abs(gap),
              gap > 0 ? "more" : "less");
}

nlohmann::json plan_json(const std::vector<sim::RankedPlan>& top, size_t i) {
  const sim::RankedPlan& r = top[i];
  nlohmann::json j = sim::prediction_json(r.experiment, r.prediction);
  j["overlaps_best"] = i > 0 && overlaps_best(top, i);
  j.erase("config");
  j.update(plan_fields(r.plan));
  j["peak_memory_bytes"] = static_cast<long long>(r.prediction.peak_memory_bytes);
  return j;
}

}  // namespace

Runner add_sweep(CLI::App& app) {
  auto args = std::make_shared<SweepArgs>();
  app.add_option("experiment", args->experiment, "Experiment TOML file with a [sweep] section")->required();
  app.add_option("--set", args->sets, "Override a key: section.key=value (repeatable)");
  app.add_option("--top", args->top, "Plans to list per device count")->check(CLI::Range(1, 1000));
  app.add_option("--csv", args->csv, "Write every plan that reached the memory check as CSV");
  app.add_option("--jsonl", args->jsonl, "Write every plan that reached the memory check as JSON lines");
  app.add_option("--out", args->out, "Add the sweep to an HDF5 results file (/sweeps/<id>/configs)");
  app.add_option("--format", args->format, "Output: table or json")->check(CLI::IsMember({"table", "json"}));
  app.add_option("--threads", args->threads, "Worker threads (default: every core)")->check(CLI::Range(1, 1024));
  app.add_flag("--quiet", args->quiet, "No progress line");
  return [args] {
    const Experiment base = load_experiment_file(args->experiment, args->sets, false);
    const SweepSpec spec = load_sweep_spec_file(args->experiment, args->sets, base);
    sim::SweepProgress progress;
    sim::SweepOptions options{args->threads, &progress};
    sim::SweepResult result;
    {
      std::unique_ptr<ProgressLine> line;
      if (!args->quiet) line = std::make_unique<ProgressLine>(progress);
      result = sim::run_sweep(base, spec, options);
    }
    const int threads = args->threads > 0 ? args->threads : static_cast<int>(std::thread::hardware_concurrency());
    const double rate = result.evaluated / std::max(result.seconds, 1e-9);
    if (!args->csv.empty()) write_plans(args->csv, result, false);
    if (!args->jsonl.empty()) write_plans(args->jsonl, result, true);
    if (!args->out.empty()) {
      const std::string id = results::add_sweep(args->out, base, result, spec.weak_scaling);
      if (!args->quiet) std::cerr << "parallax: added sweep " << id << " to " << args->out << "\n";
    }

    const sim::IntervalTable intervals = sim::interval_table();
    nlohmann::json top_json = nlohmann::json::array();
    const bool table = args->format == "table";
    if (table)
      std::printf("%s: sweep of %s on %s, global batch %s, %s\n", base.name.c_str(), base.model.name.c_str(),
                  base.system.name.c_str(), batches_text(base, spec).c_str(),
                  to_string(base.training.precision).c_str());
    for (int gpus : spec.gpus) {
      auto top = sim::top_plans(base, result, gpus, args->top);
      for (auto& r : top) r.prediction = sim::with_interval(std::move(r.prediction), r.experiment, intervals);
      for (size_t i = 0; i < top.size(); ++i) top_json.push_back(plan_json(top, i));
      if (!table) continue;
      if (top.empty()) {
        std::printf("\nNo plan fits on %d devices.\n", gpus);
        continue;
      }
      print_top(top, gpus);
      if (top.size() > 1) print_why(top[0], top[1]);
      const auto frontier = sim::memory_frontier(result, gpus);
      std::printf("\nThroughput against peak memory on %d devices (Pareto frontier, closed form)\n", gpus);
      for (const auto& p : frontier)
        std::printf("  %10.2f GiB %12.0f tokens/s  %s %s recompute=%s\n", gib(p.peak_memory_bytes), p.tokens_per_s,
                    sim::plan_name(p).c_str(), to_string(p.schedule).c_str(), to_string(p.recompute).c_str());
    }
    if (table && spec.gpus.size() > 1) {
      std::printf("\nBest plan per device count (predicted scaling, closed form)\n");
      const auto best = sim::best_per_device_count(result);
      double best_so_far = 0;
      for (const auto& p : best) {
        const double per_gpu0 = best.front().tokens_per_s / best.front().gpus;
        std::printf("  %6d devices %14.0f tokens/s  %6.1f %% efficiency  %s%s\n", p.gpus, p.tokens_per_s,
                    100 * p.tokens_per_s / p.gpus / per_gpu0, sim::plan_name(p).c_str(),
                    p.tokens_per_s > best_so_far ? "" : "  (not on the frontier: fewer devices do better)");
        best_so_far = std::max(best_so_far, p.tokens_per_s);
      }
    }
    if (table) {
      std::printf("\nevaluated %lld plans in %.3f s: %.0f plans/s on %d threads (%.0f per thread); %lld fit",
                  result.evaluated, result.seconds, rate, threads, rate / threads, result.feasible);
      for (const auto& [reason, n] : result.rejected) std::printf(", %lld rejected for %s", n, reason.c_str());
      std::printf("\n");
    } else {
      nlohmann::json j = {{"evaluated", result.evaluated},
                          {"feasible", result.feasible},
                          {"rejected", result.rejected},
                          {"seconds", result.seconds},
                          {"plans_per_second", rate},
                          {"threads", threads},
                          {"top", top_json}};
      std::cout << j.dump(2) << "\n";
    }
    return 0;
  };
}

}  // namespace parallax::cli
