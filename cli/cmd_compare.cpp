// `parallax compare RESULTS.h5`: every measured run against the prediction it stored, per phase.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "models/experiment.hpp"
#include "results/compare.hpp"

namespace parallax::cli {

namespace {

// Over the runs the simulator models (RunComparison::unmodelled).
struct Summary {
  double mean = 0, max = 0;
  long runs = 0;
};
template <class Error>
Summary summarise(const std::vector<results::RunComparison>& runs, Error error) {
  Summary s;
  for (const auto& r : runs) {
    if (!r.unmodelled.empty()) continue;
    const double e = std::fabs(error(r));
    s.mean += e;
    s.max = std::max(s.max, e);
    ++s.runs;
  }
  s.mean /= std::max(s.runs, 1L);
  return s;
}

void print_table(const std::vector<results::RunComparison>& runs) {
  const auto& phases = results::compared_phases();
  std::printf("%-34s %-12s %-10s %-14s %5s %-5s %-9s %10s %10s %7s", "run", "model", "shape", "plan", "ranks", "prec",
              "recompute", "pred ms", "meas ms", "error");
  for (const auto& p : phases) std::printf(" %21s", (p + " ms").c_str());
  std::printf("\n");
  for (const auto& r : runs) {
    std::printf("%-34s %-12s %-10s %-14s %5d %-5s %-9s %10.2f %10.2f %+6.1f%%", r.id.c_str(), r.model.c_str(),
                r.shape.c_str(), r.plan.c_str(), r.ranks, r.precision.c_str(), r.recompute.c_str(), r.predicted_s * 1e3,
                r.measured_s * 1e3, 100 * r.error());
    for (size_t i = 0; i < phases.size(); ++i)
      std::printf(" %10.2f / %8.2f", r.predicted_phase_s[i] * 1e3, r.measured_phase_s[i] * 1e3);
    std::printf("%s\n", r.unmodelled.empty() ? "" : ("  " + r.unmodelled + ": not counted").c_str());
  }
  const Summary it = summarise(runs, [](const auto& r) { return r.error(); });
  const Summary compute = summarise(runs, [](const auto& r) { return r.phase_error(0); });
  std::printf(
      "\n%ld of %zu measured runs counted: iteration time |error| mean %.1f %%, max %.1f %%; compute phase "
      "mean %.1f %%, max %.1f %%\n",
      it.runs, runs.size(), 100 * it.mean, 100 * it.max, 100 * compute.mean, 100 * compute.max);
  std::printf("(phases: predicted / measured, on the critical pipeline stage; compute includes recomputation)\n");
}

nlohmann::json to_json(const std::vector<results::RunComparison>& runs) {
  nlohmann::json out = {{"runs", nlohmann::json::array()}};
  for (const auto& r : runs) {
    nlohmann::json phases = nlohmann::json::object();
    for (size_t i = 0; i < results::compared_phases().size(); ++i)
      phases[results::compared_phases()[i]] = {{"predicted_s", r.predicted_phase_s[i]},
                                               {"measured_s", r.measured_phase_s[i]}};
    out["runs"].push_back({{"id", r.id},
                           {"model", r.model},
                           {"shape", r.shape},
                           {"plan", r.plan},
                           {"ranks", r.ranks},
                           {"precision", r.precision},
                           {"recompute", r.recompute},
                           {"predicted_iteration_time_s", r.predicted_s},
                           {"measured_iteration_time_s", r.measured_s},
                           {"error", r.error()},
                           {"unmodelled", r.unmodelled},
                           {"phases", phases}});
  }
  const Summary it = summarise(runs, [](const auto& r) { return r.error(); });
  const Summary compute = summarise(runs, [](const auto& r) { return r.phase_error(0); });
  out["summary"] = {{"runs", it.runs},
                    {"iteration_time_mean_abs_error", it.mean},
                    {"iteration_time_max_abs_error", it.max},
                    {"compute_mean_abs_error", compute.mean},
                    {"compute_max_abs_error", compute.max}};
  return out;
}

}  // namespace

Runner add_compare(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("table");
  app.add_option("results", *path, "HDF5 results file with measured runs")->required();
  app.add_option("--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  return [path, format] {
    const auto runs = results::compare_runs(*path);
    if (runs.empty()) throw InputError(*path + " holds no measured run with a step to compare");
    if (*format == "json")
      std::cout << to_json(runs).dump(1) << "\n";
    else
      print_table(runs);
    return 0;
  };
}

}  // namespace parallax::cli
