// `parallax validate`: predict every row of a published-runs table (the columns of
// experiments/validation/published_runs.csv) and compare with the published iteration time
// (measured, else derived from the published throughput) and measured memory.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "models/experiment.hpp"
#include "sim/predict.hpp"
#include "validation/csv.hpp"

namespace parallax::sim {

// One transformer layer's forward and backward (with the recomputation it triggers), in ms.
struct LayerTimes {
  double forward_ms = 0, backward_ms = 0;
};

struct ValidationRow {
  std::string row_id, source, model;
  std::string framework;  // the framework family (validation/published_plan.hpp)
  std::string skipped;    // why the row cannot be checked; empty if it can
  Experiment experiment;  // the plan predicted (best over the knobs the row leaves blank)
  std::string searched;   // knobs chosen by search, e.g. "micro_batch=2 recompute=selective"
  std::optional<double> published_time_s;
  bool time_measured = false;  // false: derived from the published throughput
  std::optional<double> measured_memory_gib;
  bool oom = false;
  double predicted_time_s = 0;
  std::optional<PredictionInterval> interval;  // of the predicted time, by the row's class
  Breakdown predicted_breakdown;               // of the rank that finishes last
  double predicted_memory_gib = 0;             // the largest of the first and last stages (where BigScience measured)
  bool fits = true;
  double tflops_reported = 0;
  double predicted_tflops_same_formula = 0;
  // A layer timed on its own (Korthikanti et al. 2022, Table 4); rows with nothing else
  // published are checked on that alone (layer_only).
  std::optional<LayerTimes> published_layer, predicted_layer;
  bool layer_only() const;
  std::optional<double> time_error_pct() const;
  std::optional<double> layer_error_pct(bool backward) const;  // of the single layer, forward or backward
  std::optional<double> memory_error_pct() const;
};

// Ranking quality on one real sweep (rows of one source with the same model, machine, device
// count and global batch, different plans): Kendall's tau between predicted and measured
// throughput over the pairs whose measured throughputs differ by more than 5 %, and the
// measured throughput lost by picking the predicted-best plan instead of the measured best.
struct RankingStats {
  std::string group;
  int rows = 0;
  int pairs = 0;  // pairs counted in tau
  double kendall_tau = 0;
  double regret_pct = 0;
  std::string predicted_best, measured_best;  // row ids
};

struct ErrorStats {
  int rows = 0;
  double mean_abs_pct = 0, max_abs_pct = 0;
  double mean_pct = 0;  // signed: the bias, + when the model is slow (or its memory high)
};

struct ValidationReport {
  std::vector<ValidationRow> rows;
  ErrorStats time, memory;
  ErrorStats layer_forward, layer_backward;  // rows that time one layer
  int oom_rows = 0, oom_predicted = 0;
  int interval_rows = 0, inside_interval = 0;  // rows with a published time; those inside their P10-P90
  int skipped = 0;
  std::vector<std::pair<std::string, ErrorStats>> time_by_source;
  std::vector<RankingStats> rankings;  // sweep groups of at least 4 rows
};

// tau over pairs (a_i, b_i) whose b values differ by more than `min_relative_gap`.
double kendall_tau(const std::vector<double>& a, const std::vector<double>& b, double min_relative_gap, int* pairs);

// A calibration constant replaced for every row on `system` ("*" for all, "deepspeed" for the
// rows run with DeepSpeed): SYSTEM.KEY=VALUE.
struct CalibrationOverride {
  std::string system, key;
  double value = 0;
};
CalibrationOverride parse_calibration_override(const std::string& arg);

ValidationReport validate_runs(const CsvTable& table, const std::vector<CalibrationOverride>& overrides = {});

}  // namespace parallax::sim
