#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "sim/report_json.hpp"
#include "validation/validation.hpp"

namespace parallax::cli {

namespace {

struct ValidateArgs {
  std::string csv;
  std::string format = "table";
  double max_mean_time = -1, max_max_time = -1, max_mean_memory = -1;
  int max_oom_missed = -1;
  double max_regret = -1, min_tau = -2;
  double min_coverage = -1, max_coverage = 101;
  std::vector<std::string> sets;
};

nlohmann::json stats_json(const sim::ErrorStats& s) {
  return {{"rows", s.rows},
          {"mean_abs_error_pct", s.mean_abs_pct},
          {"max_abs_error_pct", s.max_abs_pct},
          {"mean_error_pct", s.mean_pct}};
}

nlohmann::json report_json(const sim::ValidationReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : r.rows) {
    nlohmann::json j = {{"row_id", row.row_id}, {"source", row.source}, {"model", row.model}};
    if (!row.skipped.empty()) {
      j["skipped"] = row.skipped;
    } else if (row.layer_only()) {
      // A row that times one layer: no iteration is predicted.
      j["plan"] = plan_name(row.experiment);
      j["recompute"] = to_string(row.experiment.training.recompute);
    } else {
      j["plan"] = plan_name(row.experiment);
      j["device"] = row.experiment.system.device.name;
      j["framework"] = row.framework;
      j["gpus"] = row.experiment.system.gpus;
      j["precision"] = to_string(row.experiment.training.precision);
      j["searched"] = row.searched;
      j["recompute"] = to_string(row.experiment.training.recompute);
      j["predicted_iteration_time_s"] = row.predicted_time_s;
      j["predicted_breakdown_s"] = sim::breakdown_json(row.predicted_breakdown);
      j["predicted_memory_gib"] = row.predicted_memory_gib;
      j["fits"] = row.fits;
      if (row.published_time_s) {
        j["published_iteration_time_s"] = *row.published_time_s;
        j["time_measured"] = row.time_measured;
        j["time_error_pct"] = *row.time_error_pct();
        j["iteration_time_p10_s"] = row.interval->p10_s;
        j["iteration_time_p90_s"] = row.interval->p90_s;
      }
      if (row.measured_memory_gib) {
        j["measured_memory_gib"] = *row.measured_memory_gib;
        j["memory_error_pct"] = *row.memory_error_pct();
      }
      if (row.oom) j["measured_oom"] = true;
    }
    if (row.published_layer && row.predicted_layer) {
      const auto& a = *row.published_layer;
      const auto& b = *row.predicted_layer;
      j["published_layer_ms"] = {{"forward", a.forward_ms}, {"backward", a.backward_ms}};
      j["predicted_layer_ms"] = {{"forward", b.forward_ms}, {"backward", b.backward_ms}};
    }
    rows.push_back(j);
  }
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& [name, s] : r.time_by_source) sources[name] = stats_json(s);
  nlohmann::json rankings = nlohmann::json::array();
  for (const auto& g : r.rankings)
    rankings.push_back({{"group", g.group},
                        {"rows", g.rows},
                        {"pairs", g.pairs},
                        {"kendall_tau", g.kendall_tau},
                        {"regret_pct", g.regret_pct},
                        {"predicted_best", g.predicted_best},
                        {"measured_best", g.measured_best}});
  return {{"rows", rows},
          {"rankings", rankings},
          {"time", stats_json(r.time)},
          {"time_by_source", sources},
          {"memory", stats_json(r.memory)},
          {"layer_forward", stats_json(r.layer_forward)},
          {"layer_backward", stats_json(r.layer_backward)},
          {"interval_coverage", {{"rows", r.interval_rows}, {"inside_p10_p90", r.inside_interval}}},
          {"oom_rows", r.oom_rows},
          {"oom_predicted_not_to_fit", r.oom_predicted},
          {"skipped", r.skipped}};
}

// Adds `item` to a printed list, after `separator` unless the list is empty.
void append(std::string& list, const std::string& item, const char* separator) {
  list += (list.empty() ? "" : separator) + item;
}

void print_report(const sim::ValidationReport& r) {
  std::printf("%-5s %-26s %-22s %-13s %9s %9s %7s %8s %8s %7s  %s\n", "row", "source", "model", "plan", "pub(s)",
              "pred(s)", "err%", "mem(GiB)", "pred", "err%", "notes");
  for (const auto& row : r.rows) {
    if (!row.skipped.empty()) {
      std::printf("%-5s %-26.26s %-22.22s skipped: %s\n", row.row_id.c_str(), row.source.c_str(), row.model.c_str(),
                  row.skipped.c_str());
      continue;
    }
    char pub[16] = "-", err[16] = "-", mem[16] = "-", merr[16] = "-";
    if (row.published_time_s) {
      std::snprintf(pub, sizeof pub, "%.3f%s", *row.published_time_s, row.time_measured ? "" : "*");
      std::snprintf(err, sizeof err, "%+.1f", *row.time_error_pct());
    }
    if (row.measured_memory_gib) {
      std::snprintf(mem, sizeof mem, "%.1f", *row.measured_memory_gib);
      std::snprintf(merr, sizeof merr, "%+.1f", *row.memory_error_pct());
    }
    if (row.oom) std::snprintf(mem, sizeof mem, "OOM");
    char layer[160] = "";
    if (const auto forward = row.layer_error_pct(false), backward = row.layer_error_pct(true); forward && backward)
      std::snprintf(
          layer, sizeof layer,
          "one layer: forward %.1f ms, predicted %.2f (%+.1f %%); backward %.1f ms, predicted %.2f (%+.1f %%)",
          row.published_layer->forward_ms, row.predicted_layer->forward_ms, *forward, row.published_layer->backward_ms,
          row.predicted_layer->backward_ms, *backward);
    if (row.layer_only()) {
      std::printf("%-5s %-26.26s %-22.22s %-13s %s\n", row.row_id.c_str(), row.source.c_str(), row.model.c_str(),
                  plan_name(row.experiment).c_str(), layer);
      continue;
    }
    std::string notes = row.searched;
    if (!row.fits) append(notes, "predicted not to fit", "; ");
    if (row.oom && row.fits) append(notes, "measured OOM, predicted to fit", "; ");
    if (*layer) append(notes, layer, "; ");
    std::printf("%-5s %-26.26s %-22.22s %-13s %9s %9.3f %7s %8s %8.1f %7s  %s\n", row.row_id.c_str(),
                row.source.c_str(), row.model.c_str(), plan_name(row.experiment).c_str(), pub, row.predicted_time_s,
                err, mem, row.predicted_memory_gib, merr, notes.c_str());
  }
  std::printf("\n(* = iteration time derived from the published throughput)\n\n");
  // Signed mean beside the absolute ones: a source the model is uniformly slow or fast on.
  const auto line = [](const char* label, const sim::ErrorStats& s) {
    std::printf("%-34s %4d   %8.2f %%   %8.2f %%   %+8.2f %%\n", label, s.rows, s.mean_abs_pct, s.max_abs_pct,
                s.mean_pct);
  };
  std::printf("iteration time, by source          rows   mean |err|   max |err|    mean err\n");
  for (const auto& [name, s] : r.time_by_source) line(("  " + name).c_str(), s);
  line("  all", r.time);
  line("memory (measured rows)", r.memory);
  std::printf("OOM rows predicted not to fit      %d of %d\n", r.oom_predicted, r.oom_rows);
  if (r.interval_rows > 0)
    std::printf("published times inside P10-P90    %d of %d (%.1f %%)\n", r.inside_interval, r.interval_rows,
                100.0 * r.inside_interval / r.interval_rows);
  // The rows the summary lines are made of: past the 12 % bound, and OOM rows that fit.
  std::string far, missed;
  for (const auto& row : r.rows) {
    if (!row.skipped.empty() || row.layer_only()) continue;
    if (const auto e = row.time_error_pct(); e && std::abs(*e) > 12.0) {
      char pct[24];
      std::snprintf(pct, sizeof pct, " (%+.1f %%)", *e);
      append(far, row.row_id + pct, ", ");
    }
    if (row.oom && row.fits) append(missed, row.row_id, ", ");
  }
  if (!far.empty()) std::printf("  time errors past 12 %%: rows %s\n", far.c_str());
  if (!missed.empty()) std::printf("  OOM rows predicted to fit: rows %s\n", missed.c_str());
  if (r.layer_forward.rows > 0) {
    line("one layer timed, forward", r.layer_forward);
    line("one layer timed, backward", r.layer_backward);
  }
  if (!r.rankings.empty()) {
    std::printf("\nranking within real sweeps (tau over pairs measured > 5 %% apart)\n");
    std::printf("  %-70s %4s %5s %7s %8s  %s\n", "group", "rows", "pairs", "tau", "regret",
                "best (predicted/measured)");
    for (const auto& g : r.rankings)
      std::printf("  %-70.70s %4d %5d %7.2f %7.1f%%  %s/%s\n", g.group.c_str(), g.rows, g.pairs, g.kendall_tau,
                  g.regret_pct, g.predicted_best.c_str(), g.measured_best.c_str());
  }
  std::printf("skipped rows                       %d\n", r.skipped);
}

}  // namespace

Runner add_validate(CLI::App& app) {
  auto args = std::make_shared<ValidateArgs>();
  app.add_option("runs", args->csv, "Published-runs CSV (columns of experiments/validation/published_runs.csv)")
      ->required();
  app.add_option("--format", args->format, "Output: table or json")->check(CLI::IsMember({"table", "json"}));
  app.add_option("--max-mean-time-error", args->max_mean_time,
                 "Fail (exit 1) if the mean |error| of iteration time exceeds this %");
  app.add_option("--max-time-error", args->max_max_time,
                 "Fail (exit 1) if any row's |error| of iteration time exceeds this %");
  app.add_option("--max-mean-memory-error", args->max_mean_memory,
                 "Fail (exit 1) if the mean |error| of memory exceeds this %");
  app.add_option("--set", args->sets,
                 "Replace a calibration constant: SYSTEM.KEY=VALUE (SYSTEM may be * or deepspeed)");
  app.add_option("--max-oom-missed", args->max_oom_missed,
                 "Fail (exit 1) if more OOM rows than this are predicted to fit");
  app.add_option("--max-regret", args->max_regret, "Fail (exit 1) if a sweep group's regret exceeds this %");
  app.add_option("--min-tau", args->min_tau, "Fail (exit 1) if a sweep group's Kendall tau is below this");
  app.add_option("--min-interval-coverage", args->min_coverage,
                 "Fail (exit 1) if fewer than this % of published times fall inside their P10-P90");
  app.add_option("--max-interval-coverage", args->max_coverage,
                 "Fail (exit 1) if more than this % of published times fall inside their P10-P90 (too wide)");
  return [args] {
    std::vector<sim::CalibrationOverride> overrides;
    for (const auto& s : args->sets) overrides.push_back(sim::parse_calibration_override(s));
    const sim::ValidationReport report = sim::validate_runs(read_csv_file(args->csv), overrides);
    if (args->format == "json")
      std::cout << report_json(report).dump(2) << "\n";
    else
      print_report(report);
    if (report.skipped == static_cast<int>(report.rows.size()))
      throw InputError(args->csv + ": no row could be predicted (" + std::to_string(report.skipped) +
                       " skipped; the reasons are above)");
    int status = 0;
    auto fail = [&](const std::string& what) {
      std::cerr << "parallax validate: " << what << "\n";
      status = 1;
    };
    if (args->max_mean_time >= 0 && report.time.mean_abs_pct > args->max_mean_time)
      fail("mean iteration-time error " + std::to_string(report.time.mean_abs_pct) + "% exceeds " +
           std::to_string(args->max_mean_time) + "%");
    if (args->max_max_time >= 0 && report.time.max_abs_pct > args->max_max_time)
      fail("max iteration-time error " + std::to_string(report.time.max_abs_pct) + "% exceeds " +
           std::to_string(args->max_max_time) + "%");
    if (args->max_mean_memory >= 0 && report.memory.mean_abs_pct > args->max_mean_memory)
      fail("mean memory error " + std::to_string(report.memory.mean_abs_pct) + "% exceeds " +
           std::to_string(args->max_mean_memory) + "%");
    if (args->max_oom_missed >= 0 && report.oom_rows - report.oom_predicted > args->max_oom_missed)
      fail(std::to_string(report.oom_rows - report.oom_predicted) + " OOM rows are predicted to fit");
    const double coverage = report.interval_rows ? 100.0 * report.inside_interval / report.interval_rows : 0.0;
    if ((args->min_coverage >= 0 && coverage < args->min_coverage) || coverage > args->max_coverage)
      fail(std::to_string(coverage) + "% of published times inside their P10-P90, outside [" +
           std::to_string(std::max(0.0, args->min_coverage)) + ", " +
           std::to_string(std::min(100.0, args->max_coverage)) + "]%");
    for (const auto& g : report.rankings) {
      if (args->max_regret >= 0 && g.regret_pct > args->max_regret)
        fail(g.group + ": regret " + std::to_string(g.regret_pct) + "% exceeds " + std::to_string(args->max_regret) +
             "%");
      if (args->min_tau > -2 && g.kendall_tau < args->min_tau)
        fail(g.group + ": Kendall tau " + std::to_string(g.kendall_tau) + " is below " + std::to_string(args->min_tau));
    }
    return status;
  };
}

}  // namespace parallax::cli
