#include "results/compare.hpp"

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "results/read_table.hpp"

namespace parallax::results {

namespace {

// The stored prediction's phases, in compared_phases() order.
std::vector<double> predicted_phases(const nlohmann::json& p) {
  const auto& b = p.at("breakdown_s");
  return {b.value("compute", 0.0) + b.value("recompute", 0.0), b.value("bubble", 0.0) + b.value("pp_comm_exposed", 0.0),
          b.value("tp_comm_exposed", 0.0), b.value("dp_comm_exposed", 0.0), b.value("optimizer", 0.0)};
}

// Mean over the steps after the first (the first warms caches and allocators; all of them when
// there is one) and over the ranks of the critical stage.
std::vector<double> measured_phases(const TableData& phases, const std::vector<int>& stage_of_rank, int stage,
                                    double first_step) {
  const auto step = phases.numbers("step"), rank = phases.numbers("rank");
  const auto f = phases.numbers("forward_s"), b = phases.numbers("backward_s"), r = phases.numbers("recompute_s");
  const auto tp = phases.numbers("tp_comm_s"), pp = phases.numbers("pp_comm_s"), dp = phases.numbers("dp_comm_s");
  const auto opt = phases.numbers("optimizer_s");
  const bool skip_first = step.size() > 0 && step.back() > first_step;
  std::vector<double> sum(compared_phases().size(), 0.0);
  int rows = 0;
  for (size_t i = 0; i < step.size(); ++i) {
    if ((skip_first && step[i] == first_step) || stage_of_rank.at(static_cast<size_t>(rank[i])) != stage) continue;
    const double values[] = {f[i] + b[i] + r[i], pp[i], tp[i], dp[i], opt[i]};
    for (size_t k = 0; k < sum.size(); ++k) sum[k] += values[k];
    ++rows;
  }
  for (auto& s : sum) s /= std::max(rows, 1);
  return sum;
}

std::optional<RunComparison> compare_run(hid_t run, const std::string& id) {
  if (string_attribute(run, "kind").value_or("") != "measured") return std::nullopt;
  const auto prediction = string_attribute(run, "prediction_json");
  const TableData iterations = read_table(run, "iterations");
  if (!prediction || iterations.rows.empty()) return std::nullopt;
  const nlohmann::json p = nlohmann::json::parse(*prediction);
  RunComparison c;
  c.id = id;
  c.model = string_attribute(run, "model").value_or("");
  const auto& model = p.at("config").at("model");
  c.shape.append("L").append(std::to_string(model.value("layers", 0)));
  c.shape.append(" h").append(std::to_string(model.value("hidden", 0)));
  c.precision = string_attribute(run, "precision").value_or("");
  c.recompute = string_attribute(run, "recompute").value_or("");
  c.ranks = static_cast<int>(number_attribute(run, "world_size").value_or(1));
  const auto count = [&](const char* name) { return std::atof(string_attribute(run, name).value_or("0").c_str()); };
  const double threads = count("threads_per_rank");
  if (count("cores_per_node") > 0 && count("ranks_per_node") * threads > count("cores_per_node"))
    c.unmodelled = "oversubscribed";
  else if (string_attribute(run, "backend").value_or("") == "cpu" &&
           threads > std::max(1.0, count("predicted_threads_per_rank")))
    c.unmodelled = std::to_string(static_cast<int>(threads)) + " threads per rank";
  for (const auto& [letter, knob] :
       {std::pair{"t", "tp"}, {"p", "pp"}, {"d", "dp"}, {"m", "micro_batch"}, {"v", "vpp"}})
    c.plan.append(letter).append(std::to_string(static_cast<long>(number_attribute(run, knob).value_or(1))));
  const auto steps = iterations.numbers("step"), times = iterations.numbers("iteration_time_s");
  double sum = 0;
  int n = 0;
  for (size_t i = 0; i < times.size(); ++i)
    if (times.size() == 1 || steps[i] != steps.front()) sum += times[i], ++n;
  c.measured_s = sum / n;
  c.predicted_s = p.at("iteration_time_s").get<double>();
  c.predicted_phase_s = predicted_phases(p);
  std::vector<int> stage_of_rank;
  for (double s : read_table(run, "ranks").numbers("pp_rank")) stage_of_rank.push_back(static_cast<int>(s));
  c.measured_phase_s =
      measured_phases(read_table(run, "phases"), stage_of_rank, p.value("critical_stage", 0), steps.front());
  return c;
}

}  // namespace

std::vector<RunComparison> compare_runs(const std::string& path) {
  ResultsReader file(path);
  std::vector<RunComparison> out;
  for (const auto& id : group_names(file.handle(), "/runs")) {
    hid_t run = H5Gopen2(file.handle(), ("/runs/" + id).c_str(), H5P_DEFAULT);
    try {
      if (auto c = compare_run(run, id)) out.push_back(std::move(*c));
    } catch (...) {
      H5Gclose(run);
      throw;
    }
    H5Gclose(run);
  }
  return out;
}

}  // namespace parallax::results
