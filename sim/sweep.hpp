// `parallax sweep`: every plan of a [sweep] space, structural constraints and memory checked
// before timing, timed with the closed-form estimate (sim/fast_estimate.hpp) on all cores.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/experiment.hpp"
#include "models/sweep_spec.hpp"

namespace parallax::sim {

enum class RejectReason : std::uint8_t { none, divisibility, schedule, batch, memory };
const char* to_string(RejectReason r);

struct PlanRecord {
  int gpus = 0, tp = 1, pp = 1, dp = 1, vpp = 1, micro_batch = 1;
  int global_batch = 0;
  Schedule schedule = Schedule::one_f_one_b;
  Recompute recompute = Recompute::none;
  bool sequence_parallel = false, distributed_optimizer = false;
  int zero_stage = 0;  // what the DP ranks shard (ParallelConfig::zero_stage); >= 1 with distributed_optimizer
  RejectReason reject = RejectReason::none;
  double iteration_time_s = 0, tokens_per_s = 0, mfu = 0, peak_memory_bytes = 0;
  int cp = 1;  // context parallelism, the experiment's (not swept)
  int ep = 1;  // expert parallelism, the experiment's (not swept)
  bool fits() const { return reject == RejectReason::none; }
};

struct SweepResult {
  std::vector<PlanRecord> plans;  // every plan that reached a memory check: timed, or rejected for memory
  long long evaluated = 0;        // every candidate, structurally rejected ones included
  long long feasible = 0;
  std::map<std::string, long long> rejected;  // by reason
  double seconds = 0;
};

// Shared with a progress reporter while the sweep runs.
struct SweepProgress {
  std::atomic<long long> evaluated{0};
  std::atomic<long long> items_done{0};  // (gpus, tp, pp) combinations finished
  std::atomic<long long> items_total{0};
};

// The most candidate plans one sweep evaluates. Those that reach the memory check are kept
// for the report (about 250 bytes each, measured on GPT-3 spaces): past this bound a space is a
// mistake or a job for several sweeps.
constexpr long long kMaxSweepCandidates = 2'000'000;

struct SweepOptions {
  int threads = 0;  // 0: every core
  SweepProgress* progress = nullptr;
  long long max_candidates = kMaxSweepCandidates;
};

// An upper bound on the candidates run_sweep evaluates, counted without evaluating them.
long long sweep_candidates(const Experiment& base, const SweepSpec& spec);

// Plans come out in enumeration order (gpus, global batch, tp, pp, micro_batch, sequence_parallel,
// recompute, vpp, schedule, ZeRO stage), whatever the thread count.
// Throws InputError, before evaluating any, when the space holds more than
// options.max_candidates plans.
SweepResult run_sweep(const Experiment& base, const SweepSpec& spec, const SweepOptions& options = {});

// The global batch of a sweep at `gpus` devices (grows with them under weak scaling); and the
// global batches it tries there (sweep.global_batch when listed).
int sweep_global_batch(const Experiment& base, const SweepSpec& spec, int gpus);
std::vector<int> sweep_global_batches(const Experiment& base, const SweepSpec& spec, int gpus);
// The experiment of one plan: the base with the plan's knobs.
Experiment plan_experiment(const Experiment& base, const PlanRecord& plan);
std::string plan_name(const PlanRecord& plan);  // t8p4d16m1v2

}  // namespace parallax::sim
