// Measured runs against the prediction each stored when it ran (`parallax compare`): the
// iteration time and its phases, on the critical pipeline stage the prediction names.
#pragma once
#include <string>
#include <vector>

namespace parallax::results {

// Phases both halves report: compute (forwards and backwards, recomputation included: the
// executor times it inside the backward), pipeline wait (bubble and exposed transfers), TP and
// DP communication, optimizer.
inline const std::vector<std::string>& compared_phases() {
  static const std::vector<std::string> p{"compute", "pipeline_wait", "tp_comm", "dp_comm", "optimizer"};
  return p;
}

struct RunComparison {
  std::string id, model, shape, plan, precision, recompute;  // shape: layers and hidden, "L4 h256"
  int ranks = 1;
  // What the simulator does not model, as the run recorded where it ran (empty when nothing):
  // more threads than the node's cores (ranks_per_node x threads_per_rank > cores_per_node: ranks
  // time-share cores), or CPU ranks of more than one thread (the CPU device is one core, one rank
  // per core). Such a run is shown, and left out of the errors' summary.
  std::string unmodelled;
  double predicted_s = 0, measured_s = 0;                   // per iteration; measured: mean over steps after the first
  std::vector<double> predicted_phase_s, measured_phase_s;  // by compared_phases()
  double error() const { return (predicted_s - measured_s) / measured_s; }
  double phase_error(size_t i) const { return (predicted_phase_s[i] - measured_phase_s[i]) / measured_phase_s[i]; }
};

// Every measured run of a results file that has at least one step. InputError for a file that
// is missing or not ours.
std::vector<RunComparison> compare_runs(const std::string& path);

}  // namespace parallax::results
