#include "validation/validation.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <span>

#include "models/presets.hpp"
#include "models/toml_reader.hpp"
#include "sim/layer_costs.hpp"
#include "validation/published_row.hpp"

namespace parallax::sim {

namespace {

std::vector<int> divisors_up_to(int n, int limit) {
  std::vector<int> out;
  for (int d = 1; d <= std::min(n, limit); ++d)
    if (n % d == 0) out.push_back(d);
  return out;
}

struct Choice {
  Experiment experiment;
  Prediction prediction;
};

bool faster(const Choice& a, const Choice& b) {  // fits first, then the shorter iteration
  return (a.prediction.fits && !b.prediction.fits) ||
         (a.prediction.fits == b.prediction.fits && a.prediction.iteration_time_s < b.prediction.iteration_time_s);
}

// Best throughput over the knobs the row leaves blank, among plans that fit (as the people
// who ran it would have tuned it); if none fits, the fastest.
Choice best_plan(const Experiment& base, const BlankKnobs& k) {
  const int per_replica = base.training.global_batch / base.parallel.dp;
  std::vector<int> mbs = k.micro_batch ? divisors_up_to(per_replica, 16) : std::vector<int>{base.training.micro_batch};
  std::vector<int> vpps{base.parallel.vpp};
  if (k.vpp) {
    // Chunk counts that split the fullest stage evenly and leave every stage a layer per chunk
    // (an end stage one chunk fewer, left to its embedding or loss).
    vpps = {1};
    const int fewest = base.fewest_stage_layers(), most = base.most_stage_layers();
    if (base.parallel.pp > 1)
      for (int v = 2; v <= fewest + 1 && v <= most; ++v)
        if (most % v == 0) vpps.push_back(v);
  }
  std::vector<Recompute> recs{base.training.recompute};
  if (k.recompute)
    recs = k.whole_layer_recompute ? std::vector<Recompute>{Recompute::none, Recompute::full}
                                   : std::vector<Recompute>{Recompute::none, Recompute::selective, Recompute::full};
  std::vector<bool> shardings{base.parallel.distributed_optimizer};
  if (k.distributed_optimizer) shardings = {false, true};
  std::vector<bool> sps{base.parallel.sequence_parallel};
  if (k.sequence_parallel) sps = base.parallel.tp > 1 ? std::vector<bool>{false, true} : std::vector<bool>{false};
  // Expert parallelism: any that divides both the experts and the dp*cp ranks it comes from.
  std::vector<int> eps{base.parallel.ep};
  if (k.ep) {
    eps.clear();
    for (int ep = 1; ep <= base.model.experts; ++ep)
      if (base.model.experts % ep == 0 && base.parallel.dp * base.parallel.cp % ep == 0) eps.push_back(ep);
  }

  std::optional<Choice> chosen;
  for (int mb : mbs)
    for (int v : vpps) {
      // A blank recompute also tries recomputing a quarter, half or three quarters of each
      // chunk's layers (Megatron's --recompute-num-layers), for plans that fit only with some.
      // A given block recomputation keeps its layer count, up to the chunk's layers.
      const int chunk = base.most_chunk_layers(v);
      std::vector<std::pair<Recompute, int>> rec_options;
      for (Recompute r : recs)
        rec_options.emplace_back(r, k.recompute ? 0 : std::min(base.training.recompute_layers, chunk));
      if (k.recompute && !k.whole_layer_recompute) {
        for (double q : {0.25, 0.5, 0.75}) {
          const int n = static_cast<int>(std::lround(q * chunk));
          if (n >= 1 && n < chunk && rec_options.back().second != n) rec_options.emplace_back(Recompute::full, n);
        }
      }
      for (auto [r, layers] : rec_options)
        for (bool sp : sps)
          for (int ep : eps)
            for (bool sharded : shardings) {
              Experiment e = base;
              e.parallel.ep = ep;
              e.parallel.distributed_optimizer = sharded;
              e.training.micro_batch = mb;
              e.parallel.vpp = v;
              e.parallel.schedule = v > 1 ? Schedule::interleaved : Schedule::one_f_one_b;
              e.training.recompute = r;
              e.training.recompute_layers = layers;
              e.parallel.sequence_parallel = sp;
              if (e.training.global_batch % (mb * e.parallel.dp) != 0) continue;
              if (v > 1 && e.micro_batches() < e.parallel.pp) continue;
              Prediction p = predict(e);
              Choice c{std::move(e), std::move(p)};
              if (!chosen || faster(c, *chosen)) chosen = std::move(c);
            }
    }
  return *chosen;
}

// The best plan of one layout over the blank knobs. A lighter optimizer state is a knob people
// turn only when memory needs it (it costs accuracy, not time): tried only when the framework's
// default leaves the plan not fitting or (recomputation being blank) recomputing, and kept only
// if it then fits, or fits with other recomputation (the headroom lets the best plan change it)
// and is faster.
Choice best_of_layout(const Experiment& base, const BlankKnobs& k) {
  Choice chosen = best_plan(base, k);
  const bool recomputes = chosen.experiment.training.recompute != Recompute::none;
  if (k.optimizer_state && (!chosen.prediction.fits || (k.recompute && recomputes))) {
    Experiment lighter = base;
    lighter.training.optimizer_state = OptimizerState::bf16;
    Choice alt = best_plan(lighter, k);
    const bool recompute_differs =
        recompute_text(alt.experiment.training) != recompute_text(chosen.experiment.training);
    if (alt.prediction.fits &&
        (!chosen.prediction.fits ||
         (recompute_differs && alt.prediction.iteration_time_s < chosen.prediction.iteration_time_s)))
      chosen = std::move(alt);
  }
  return chosen;
}

// The best plan over the layouts to try (one, unless the row leaves tp or pp blank) and the
// knobs the row leaves blank, as the people who ran it would have tuned it.
Experiment search_blank_knobs(std::span<const Experiment> layouts, const BlankKnobs& k, Prediction& best,
                              std::string& searched) {
  std::optional<Choice> chosen;
  for (const Experiment& base : layouts) {
    Choice c = best_of_layout(base, k);
    if (!chosen || faster(c, *chosen)) chosen = std::move(c);
  }
  const Experiment& c = chosen->experiment;
  if (k.layout)
    searched += " tp=" + std::to_string(c.parallel.tp) + " pp=" + std::to_string(c.parallel.pp) +
                " dp=" + std::to_string(c.parallel.dp);
  if (k.micro_batch) searched += " micro_batch=" + std::to_string(c.training.micro_batch);
  if (k.vpp) searched += " vpp=" + std::to_string(c.parallel.vpp);
  if (k.recompute) searched += " recompute=" + recompute_text(c.training);
  if (k.sequence_parallel)
    searched += std::string(" sequence_parallel=") + (c.parallel.sequence_parallel ? "true" : "false");
  if (k.ep) searched += " ep=" + std::to_string(c.parallel.ep);
  if (k.distributed_optimizer)
    searched += std::string(" distributed_optimizer=") + (c.parallel.distributed_optimizer ? "true" : "false");
  if (k.optimizer_state) searched += " optimizer_state=" + to_string(c.training.optimizer_state);
  if (!searched.empty()) searched = "best of blank knobs:" + searched;
  best = std::move(chosen->prediction);
  return std::move(chosen->experiment);
}

ValidationRow check_row(const std::map<std::string, std::string>& row,
                        const std::vector<CalibrationOverride>& overrides) {
  PublishedRow read = read_published_row(row, overrides);
  ValidationRow out = std::move(read.row);
  if (!out.skipped.empty()) return out;
  const Experiment& e = read.experiment;
  if (out.published_layer) {
    const LayerCost c = transformer_layer_cost(e);
    out.predicted_layer = LayerTimes{1e3 * c.forward.total(), 1e3 * c.backward.total()};
    if (out.layer_only()) {
      out.experiment = e;
      return out;
    }
  }
  Prediction pred;
  const auto layouts =
      read.blank.layout ? std::span<const Experiment>(read.layouts) : std::span<const Experiment>(&e, 1);
  out.experiment = search_blank_knobs(layouts, read.blank, pred, out.searched);
  out.predicted_time_s = pred.iteration_time_s;
  out.predicted_breakdown = pred.breakdown;
  out.fits = pred.fits;
  const double first = pred.memory.front().total(), last = pred.memory.back().total();
  out.predicted_memory_gib = std::max(first, last) / (1024.0 * 1024.0 * 1024.0);
  return out;
}

void accumulate(ErrorStats& s, double err) {
  s.mean_abs_pct = (s.mean_abs_pct * s.rows + std::fabs(err)) / (s.rows + 1);
  s.mean_pct = (s.mean_pct * s.rows + err) / (s.rows + 1);
  s.max_abs_pct = std::max(s.max_abs_pct, std::fabs(err));
  ++s.rows;
}

}  // namespace

bool ValidationRow::layer_only() const { return published_layer && !published_time_s && !measured_memory_gib && !oom; }

std::optional<double> ValidationRow::time_error_pct() const {
  if (!skipped.empty() || !published_time_s) return std::nullopt;
  return 100.0 * (predicted_time_s - *published_time_s) / *published_time_s;
}

std::optional<double> ValidationRow::layer_error_pct(bool backward) const {
  if (!skipped.empty() || !published_layer || !predicted_layer) return std::nullopt;
  const double published = backward ? published_layer->backward_ms : published_layer->forward_ms;
  const double predicted = backward ? predicted_layer->backward_ms : predicted_layer->forward_ms;
  return 100.0 * (predicted / published - 1);
}

std::optional<double> ValidationRow::memory_error_pct() const {
  if (!skipped.empty() || !measured_memory_gib) return std::nullopt;
  return 100.0 * (predicted_memory_gib - *measured_memory_gib) / *measured_memory_gib;
}

CalibrationOverride parse_calibration_override(const std::string& arg) {
  const auto dot = arg.find('.'), eq = arg.find('=');
  if (dot == std::string::npos || eq == std::string::npos || eq < dot)
    throw InputError("--set \"" + arg + "\" must have the form SYSTEM.KEY=VALUE (SYSTEM may be *)");
  CalibrationOverride o{arg.substr(0, dot), arg.substr(dot + 1, eq - dot - 1), 0};
  const std::string value = arg.substr(eq + 1);
  size_t used = 0;
  try {
    o.value = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size())  // "0.5abc" is not 0.5
    throw InputError("--set \"" + arg + "\": the value must be a number");
  if (o.system != "*" && o.system != "deepspeed") preset_text(PresetKind::system, o.system, "--set " + o.system);
  Calibration probe;
  set_calibration(probe, o.key, o.value);
  validate_calibration(probe);
  return o;
}

double kendall_tau(const std::vector<double>& a, const std::vector<double>& b, double min_relative_gap, int* pairs) {
  int concordant = 0, discordant = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = i + 1; j < a.size(); ++j) {
      if (std::fabs(b[i] - b[j]) <= min_relative_gap * std::max(std::fabs(b[i]), std::fabs(b[j]))) continue;
      const double s = (a[i] - a[j]) * (b[i] - b[j]);
      if (s > 0)
        ++concordant;
      else if (s < 0)
        ++discordant;
    }
  if (pairs) *pairs = concordant + discordant;
  return concordant + discordant > 0 ? static_cast<double>(concordant - discordant) / (concordant + discordant) : 0.0;
}

namespace {
std::vector<RankingStats> rank_sweep_groups(const std::vector<ValidationRow>& rows) {
  std::map<std::string, std::vector<const ValidationRow*>> groups;
  std::vector<std::string> order;
  for (const auto& r : rows) {
    if (!r.skipped.empty() || !r.published_time_s) continue;
    const auto& e = r.experiment;
    const auto& m = e.model;
    const std::string key = r.source + ": L" + std::to_string(m.layers) + " h" + std::to_string(m.hidden) + " a" +
                            std::to_string(m.heads) + " on " + std::to_string(e.system.gpus) + " " +
                            e.system.device.name + ", batch " + std::to_string(e.training.global_batch) + ", " +
                            to_string(e.training.precision);
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(&r);
  }
  std::vector<RankingStats> out;
  for (const auto& key : order) {
    const auto& g = groups[key];
    if (g.size() < 4) continue;
    // Same tokens per iteration within a group: throughput is the inverse of the time.
    std::vector<double> predicted, measured;
    for (const auto* r : g) {
      predicted.push_back(1.0 / r->predicted_time_s);
      measured.push_back(1.0 / *r->published_time_s);
    }
    RankingStats s;
    s.group = key;
    s.rows = static_cast<int>(g.size());
    s.kendall_tau = kendall_tau(predicted, measured, 0.05, &s.pairs);
    const size_t pbest = std::max_element(predicted.begin(), predicted.end()) - predicted.begin();
    const size_t mbest = std::max_element(measured.begin(), measured.end()) - measured.begin();
    s.regret_pct = 100.0 * (measured[mbest] - measured[pbest]) / measured[mbest];
    s.predicted_best = g[pbest]->row_id;
    s.measured_best = g[mbest]->row_id;
    out.push_back(s);
  }
  return out;
}
}  // namespace

ValidationReport validate_runs(const CsvTable& table, const std::vector<CalibrationOverride>& overrides) {
  // Without these no row can be checked (the architecture has no blank to search); every other
  // column may be left out, its cells then read as blank: a missing degree is searched, a
  // missing time column leaves the other published figures.
  for (const char* column : {"row_id", "layers", "hidden", "heads", "seq_len", "vocab", "gpu", "global_batch"})
    if (std::find(table.header.begin(), table.header.end(), column) == table.header.end())
      throw InputError(std::string("published-runs table has no column \"") + column + "\"");
  ValidationReport report;
  const IntervalTable intervals = interval_table();
  std::map<std::string, ErrorStats> by_source;
  std::vector<std::string> order;
  for (size_t i = 0; i < table.rows.size(); ++i) {
    const auto& row = table.rows[i];
    // A record wider or narrower than the header is not guessed at: its row alone is skipped.
    const std::string problem = i < table.problems.size() ? table.problems[i] : std::string();
    ValidationRow r = problem.empty() ? check_row(row, overrides) : unchecked_row(row, problem);
    if (!r.skipped.empty()) ++report.skipped;
    if (auto err = r.time_error_pct()) {
      r.interval = prediction_interval(intervals, r.framework, r.experiment.system.device.name, r.predicted_time_s);
      ++report.interval_rows;
      if (r.interval->p10_s <= *r.published_time_s && *r.published_time_s <= r.interval->p90_s)
        ++report.inside_interval;
      accumulate(report.time, *err);
      if (!by_source.count(r.source)) order.push_back(r.source);
      accumulate(by_source[r.source], *err);
    }
    if (auto err = r.memory_error_pct()) accumulate(report.memory, *err);
    if (auto err = r.layer_error_pct(false)) accumulate(report.layer_forward, *err);
    if (auto err = r.layer_error_pct(true)) accumulate(report.layer_backward, *err);
    if (r.skipped.empty() && r.oom) {
      ++report.oom_rows;
      if (!r.fits) ++report.oom_predicted;
    }
    report.rows.push_back(std::move(r));
  }
  for (const auto& s : order) report.time_by_source.emplace_back(s, by_source[s]);
  report.rankings = rank_sweep_groups(report.rows);
  return report;
}

}  // namespace parallax::sim
