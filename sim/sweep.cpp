#include "sim/sweep.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <thread>
#include <tuple>

#include "sim/fast_estimate.hpp"
#include "sim/flops.hpp"

namespace parallax::sim {

const char* to_string(RejectReason r) {
  switch (r) {
    case RejectReason::none:
      return "";
    case RejectReason::divisibility:
      return "divisibility";
    case RejectReason::schedule:
      return "schedule";
    case RejectReason::batch:
      return "batch";
    case RejectReason::memory:
      return "memory";
  }
  return "?";
}

std::string plan_name(const PlanRecord& p) {
  return parallax::plan_name(p.tp, p.pp, p.dp, p.micro_batch, p.vpp, p.cp, p.ep);
}

int sweep_global_batch(const Experiment& base, const SweepSpec& spec, int gpus) {
  if (!spec.weak_scaling) return base.training.global_batch;
  return static_cast<int>(static_cast<long long>(base.training.global_batch) * gpus / base.system.gpus);
}

std::vector<int> sweep_global_batches(const Experiment& base, const SweepSpec& spec, int gpus) {
  return spec.global_batch ? *spec.global_batch : std::vector<int>{sweep_global_batch(base, spec, gpus)};
}

namespace {
// A plan's sharding: the flags of its ZeRO stage; FSDP's own habits only under FSDP.
void set_zero_stage(ParallelConfig& p, int stage) {
  p.set_zero_stage(stage);
  if (!p.fsdp) {
    p.fsdp_per_tensor = false;
    p.reshard_after_forward = true;
  }
}

// The experiment as the sweep varies it: even stages, and all layers recomputed or none.
Experiment sweepable(const Experiment& base) {
  Experiment e = base;
  e.parallel.stage_layers.clear();
  e.training.recompute_layers = 0;
  return e;
}
}  // namespace

Experiment plan_experiment(const Experiment& base, const PlanRecord& plan) {
  Experiment e = sweepable(base);
  if (plan.global_batch > 0) e.training.global_batch = plan.global_batch;
  e.system.gpus = plan.gpus;
  e.parallel.tp = plan.tp;
  e.parallel.pp = plan.pp;
  e.parallel.dp = plan.dp;
  e.parallel.cp = plan.cp;
  e.parallel.ep = plan.ep;
  e.parallel.vpp = plan.vpp;
  e.parallel.schedule = plan.schedule;
  e.parallel.sequence_parallel = plan.sequence_parallel;
  set_zero_stage(e.parallel, plan.zero_stage);
  e.training.micro_batch = plan.micro_batch;
  e.training.recompute = plan.recompute;
  return e;
}

namespace {

std::vector<int> divisors(int n) {
  std::vector<int> out;
  for (int d = 1; d <= n; ++d)
    if (n % d == 0) out.push_back(d);
  return out;
}

template <typename T>
std::vector<T> listed_or(const std::optional<std::vector<T>>& listed, std::vector<T> every) {
  return listed ? *listed : every;
}

// Counters of one worker thread.
struct Tally {
  long long evaluated = 0, feasible = 0;
  long long rejected[5] = {0, 0, 0, 0, 0};
  std::vector<PlanRecord> plans;
  void reject(RejectReason r, long long n) {
    rejected[static_cast<int>(r)] += n;
    evaluated += n;
  }
};

// Enumerates (and, with `tally`, evaluates) the plans of one (gpus, tp, pp) work item.
class ItemSweep {
 public:
  ItemSweep(const Experiment& base, const SweepSpec& spec, SweepProgress* progress)
      : base_(base), spec_(spec), e_(sweepable(base)), progress_(progress) {}

  // How many candidates the inner knobs that are listed multiply a rejection by (a knob left
  // free has no candidates of its own until the outer ones are valid).
  long long listed_inner(bool from_micro_batch) const {
    long long n = 1;
    if (from_micro_batch && spec_.micro_batch) n *= static_cast<long long>(spec_.micro_batch->size());
    if (spec_.vpp) n *= static_cast<long long>(spec_.vpp->size());
    if (spec_.schedule) n *= static_cast<long long>(spec_.schedule->size());
    if (spec_.recompute) n *= static_cast<long long>(spec_.recompute->size());
    if (spec_.sequence_parallel) n *= static_cast<long long>(spec_.sequence_parallel->size());
    if (spec_.distributed_optimizer) n *= static_cast<long long>(spec_.distributed_optimizer->size());
    if (spec_.zero_stage) n *= static_cast<long long>(spec_.zero_stage->size());
    return n;
  }

  // The candidate values of the inner knobs at one (gpus, tp, pp), or nullopt when the item
  // is invalid before them (counted into `tally` as rejected, if one is given).
  struct Knobs {
    int dp = 1, global = 0, per_replica = 0;
    std::vector<int> vpps, mbs;
    std::vector<bool> sps;
    std::vector<int> stages;  // ZeRO stages
    std::vector<Recompute> recs;
    // The schedules of a plan with `v` chunks a stage over `pp` stages, from the listed ones if
    // any: without a pipeline GPipe and 1F1B are the same plan, counted once (as 1F1B).
    std::vector<Schedule> schedules(int v, int pp, const std::optional<std::vector<Schedule>>& listed) const {
      std::vector<Schedule> out =
          listed_or(listed, v == 1 ? std::vector<Schedule>{Schedule::one_f_one_b, Schedule::gpipe}
                                   : std::vector<Schedule>{Schedule::interleaved});
      if (pp == 1 && std::ranges::find(out, Schedule::one_f_one_b) != out.end()) std::erase(out, Schedule::gpipe);
      return out;
    }
  };
  std::optional<Knobs> knobs(int gpus, int global, int tp, int pp, Tally* tally) {
    const auto& m = base_.model;
    const int gpn = base_.system.gpus_per_node;
    const long long all_inner = listed_inner(true);
    const int cp = base_.parallel.cp;  // context and expert parallelism are the experiment's, not swept
    const int ep = base_.parallel.ep;
    auto reject = [&](RejectReason r) -> std::optional<Knobs> {
      if (tally) tally->reject(r, all_inner), tick(all_inner);
      return std::nullopt;
    };
    // validate_plan's rules (models/experiment.hpp), tested before a plan is built.
    if (gpus % (tp * cp * pp) != 0 || !layers_divide(m, pp, 1) || !tp_fits_heads(m, tp) ||
        (!spec_.tp_across_nodes && (tp > gpn || gpn % tp != 0)))
      return reject(RejectReason::divisibility);
    Knobs k;
    k.dp = gpus / (tp * cp * pp);
    if (!ep_fits(m, ep, k.dp, cp)) return reject(RejectReason::divisibility);
    if (spec_.dp && std::find(spec_.dp->begin(), spec_.dp->end(), k.dp) == spec_.dp->end()) return std::nullopt;
    k.global = global;
    if (k.global % k.dp != 0) return reject(RejectReason::batch);
    k.per_replica = k.global / k.dp;
    k.vpps = {1};
    if (pp > 1)
      for (int v = 2; v <= m.layers / pp; ++v)
        if (layers_divide(m, pp, v)) k.vpps.push_back(v);
    k.vpps = listed_or(spec_.vpp, k.vpps);
    k.sps = listed_or(spec_.sequence_parallel, tp > 1 ? std::vector<bool>{false, true} : std::vector<bool>{false});
    k.stages = zero_stages(k.dp);
    k.recs = listed_or(spec_.recompute, {Recompute::none, Recompute::selective, Recompute::full});
    k.mbs = listed_or(spec_.micro_batch, divisors(k.per_replica));
    return k;
  }

  // The ZeRO stages tried at `dp`: the listed ones (sweep.distributed_optimizer: 0 and 1), else
  // the distributed optimizer off and on, or the experiment's own stage where it shards its
  // gradients; nothing sharded without DP.
  std::vector<int> zero_stages(int dp) const {
    if (dp == 1) return {0};
    if (spec_.zero_stage) return *spec_.zero_stage;
    const int own = base_.parallel.zero_stage();
    std::vector<int> out;
    for (bool d : listed_or(spec_.distributed_optimizer, std::vector<bool>{false, true})) {
      const int stage = own >= 2 ? own : d ? 1 : 0;
      if (std::ranges::find(out, stage) == out.end()) out.push_back(stage);
    }
    return out;
  }

  // How many candidates run() evaluates at one (gpus, global batch, tp, pp), found without evaluating them.
  long long count(int gpus, int global, int tp, int pp) {
    const auto k = knobs(gpus, global, tp, pp, nullptr);
    if (!k) return listed_inner(true);
    long long per_vpp = 0;
    for (int v : k->vpps) per_vpp += static_cast<long long>(k->schedules(v, pp, spec_.schedule).size());
    return static_cast<long long>(k->mbs.size()) *
           static_cast<long long>(k->sps.size() * k->recs.size() * k->stages.size()) * per_vpp;
  }

  void run(int gpus, int global_batch, int tp, int pp, Tally& tally) {
    const auto k = knobs(gpus, global_batch, tp, pp, &tally);
    if (!k) return;
    const int dp = k->dp, global = k->global, per_replica = k->per_replica;
    const int cp = base_.parallel.cp, ep = base_.parallel.ep;
    const auto& vpps = k->vpps;
    const auto& sps = k->sps;
    const auto& recs = k->recs;
    e_.training.global_batch = global;
    e_.system.gpus = gpus;
    e_.parallel.tp = tp;
    e_.parallel.pp = pp;
    e_.parallel.dp = dp;

    for (int mb : k->mbs) {
      const long long inner = listed_inner(false);
      if (per_replica % mb != 0) {
        tally.reject(RejectReason::batch, inner);
        tick(inner);
        continue;
      }
      const int micro_batches = per_replica / mb;
      e_.training.micro_batch = mb;
      for (bool sp : sps)
        for (Recompute rec : recs) {
          e_.parallel.sequence_parallel = sp;
          e_.training.recompute = rec;
          std::vector<const LayerCosts*> costs;  // by ZeRO stage, as listed
          for (int stage : k->stages) {
            set_zero_stage(e_.parallel, stage);
            costs.push_back(&cached_layer_costs(tp, mb, sp, rec));
          }
          for (int v : vpps) {
            for (Schedule sched : k->schedules(v, pp, spec_.schedule))
              for (size_t i = 0; i < k->stages.size(); ++i) {
                PlanRecord plan{gpus, tp, pp, dp, v, mb, global, sched, rec, sp, k->stages[i] >= 1};
                plan.zero_stage = k->stages[i];
                plan.cp = cp;
                plan.ep = ep;
                evaluate(plan, micro_batches, *costs[i], tally);
              }
          }
        }
    }
  }

 private:
  // One plan of the work item (e_ holds its tp, pp, dp, micro-batch, sequence parallelism and
  // recomputation): the checks left, the memory, then the time.
  void evaluate(PlanRecord plan, int micro_batches, const LayerCosts& costs, Tally& tally) {
    const int v = plan.vpp, pp = plan.pp;
    const Schedule sched = plan.schedule;
    tick(1);
    ++tally.evaluated;
    if (!layers_divide(base_.model, pp, v)) {
      ++tally.rejected[static_cast<int>(RejectReason::divisibility)];
      return;
    }
    if ((sched == Schedule::interleaved) != (v > 1) || (sched == Schedule::interleaved && pp < 2)) {
      ++tally.rejected[static_cast<int>(RejectReason::schedule)];
      return;
    }
    if (sched == Schedule::interleaved && micro_batches < pp) {
      ++tally.rejected[static_cast<int>(RejectReason::batch)];
      return;
    }
    e_.parallel.vpp = v;
    e_.parallel.schedule = sched;
    set_zero_stage(e_.parallel, plan.zero_stage);
    plan.peak_memory_bytes = fast_peak_memory(e_);
    if (plan.peak_memory_bytes > base_.system.usable_memory_bytes()) {
      plan.reject = RejectReason::memory;
      ++tally.rejected[static_cast<int>(RejectReason::memory)];
      tally.plans.push_back(plan);
      return;
    }
    plan.iteration_time_s = fast_iteration_time(e_, costs, &schedules_);
    const Throughput rates = throughput(e_, plan.iteration_time_s);
    plan.tokens_per_s = rates.tokens_per_s;
    plan.mfu = rates.mfu;
    ++tally.feasible;
    tally.plans.push_back(plan);
  }

  // Layer costs depend on (tp, micro-batch, sequence parallelism, recomputation) only, not on
  // pp or the device count, and on dp only where the DP ranks shard the gradients (ZeRO-2, FSDP:
  // the layer's own reduce-scatters and gathers): computed once per thread for every plan that
  // shares them.
  const LayerCosts& cached_layer_costs(int tp, int mb, bool sp, Recompute rec) {
    const int dp = e_.parallel.shards_gradients() ? e_.parallel.dp : 0;
    const auto key = std::make_tuple(tp, mb, sp, static_cast<int>(rec), e_.parallel.zero_stage(), dp);
    auto it = costs_.find(key);
    if (it == costs_.end()) it = costs_.emplace(key, layer_costs(e_)).first;
    return it->second;
  }
  void tick(long long n) {
    if (progress_) progress_->evaluated.fetch_add(n, std::memory_order_relaxed);
  }
  const Experiment& base_;
  const SweepSpec& spec_;
  Experiment e_;  // the plan being evaluated: the base with the knobs set in place
  std::map<std::tuple<int, int, bool, int, int, int>, LayerCosts> costs_;
  ScheduleCache schedules_;
  SweepProgress* progress_;
};

struct WorkItem {
  int gpus, global_batch, tp, pp;
};

std::vector<WorkItem> work_items(const Experiment& base, const SweepSpec& spec) {
  std::vector<int> tps;
  for (int tp : divisors(base.model.heads))
    if (spec.tp_across_nodes || (tp <= base.system.gpus_per_node && base.system.gpus_per_node % tp == 0))
      tps.push_back(tp);
  const auto tp_list = listed_or(spec.tp, tps);
  const auto pp_list = listed_or(spec.pp, divisors(base.model.layers));
  std::vector<WorkItem> items;
  for (int gpus : spec.gpus)
    for (int global : sweep_global_batches(base, spec, gpus))
      for (int tp : tp_list)
        for (int pp : pp_list)
          // Free knobs only take values that can fit the device count.
          if (spec.tp || spec.pp || gpus % (tp * pp * base.parallel.cp) == 0) items.push_back({gpus, global, tp, pp});
  return items;
}

}  // namespace

long long sweep_candidates(const Experiment& base, const SweepSpec& spec) {
  ItemSweep counter(base, spec, nullptr);
  long long n = 0;
  for (const WorkItem& item : work_items(base, spec))
    n += counter.count(item.gpus, item.global_batch, item.tp, item.pp);
  return n;
}

SweepResult run_sweep(const Experiment& base, const SweepSpec& spec, const SweepOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (const long long n = sweep_candidates(base, spec); n > options.max_candidates)
    throw InputError("the sweep space holds up to " + std::to_string(n) + " plans, more than the " +
                     std::to_string(options.max_candidates) +
                     " one sweep evaluates; list fewer values in [sweep] (gpus, tp, pp, micro_batch) or sweep "
                     "device counts in separate runs");
  const std::vector<WorkItem> items = work_items(base, spec);
  int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<size_t>(1, items.size()))));
  if (options.progress) options.progress->items_total = static_cast<long long>(items.size());
  std::vector<Tally> tallies(items.size());  // one per item: plans merge in enumeration order
  std::atomic<size_t> next{0};
  auto worker = [&] {
    ItemSweep sweep(base, spec, options.progress);
    for (size_t i = next++; i < items.size(); i = next++) {
      sweep.run(items[i].gpus, items[i].global_batch, items[i].tp, items[i].pp, tallies[i]);
      if (options.progress) ++options.progress->items_done;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  SweepResult out;
  for (auto& t : tallies) {
    out.evaluated += t.evaluated;
    out.feasible += t.feasible;
    for (int r = 1; r < 5; ++r)
      if (t.rejected[r]) out.rejected[to_string(static_cast<RejectReason>(r))] += t.rejected[r];
    out.plans.insert(out.plans.end(), t.plans.begin(), t.plans.end());
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace parallax::sim
