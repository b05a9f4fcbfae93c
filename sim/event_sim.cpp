#include "sim/event_sim.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace parallax::sim {

SimResult simulate(const SimInput& in) {
  const PipelineSchedule& s = *in.schedule;
  const int p = s.stages, V = s.virtual_stages(), m = s.microbatches;
  const double unset = std::numeric_limits<double>::quiet_NaN();
  // Time at which each pass's output is available at the consumer (after the transfer).
  std::vector<double> f_ready(static_cast<size_t>(V) * m, unset), b_ready(static_cast<size_t>(V) * m, unset);
  auto at = [&](int mb, int vs) { return static_cast<size_t>(mb) * V + vs; };

  SimResult out;
  out.ranks.assign(p, {});
  std::vector<double> clock(p, 0.0);
  std::vector<size_t> next(p, 0);
  bool progress = true;
  while (progress) {
    progress = false;
    for (int r = 0; r < p; ++r) {
      const auto& list = s.ranks[r];
      while (next[r] < list.size()) {
        const Action& a = list[next[r]];
        const int vs = s.virtual_stage(r, a.chunk);
        const bool fwd = a.pass == Pass::forward;
        double input = 0;
        if (fwd && vs > 0) input = f_ready[at(a.microbatch, vs - 1)];
        if (!fwd && vs < V - 1) input = b_ready[at(a.microbatch, vs + 1)];
        if (std::isnan(input)) break;
        const PassCost& cost = fwd ? in.forward[vs] : in.backward[vs];
        const double start = std::max(clock[r], input);
        double end = start + cost.total();
        RankTotals& t = out.ranks[r];
        (fwd ? t.forward : t.backward) += cost.compute;
        t.recompute += cost.recompute;
        t.tp_comm += cost.tp_comm;
        t.dp_comm += cost.dp_comm;
        if (in.record_timeline)
          out.timeline.push_back({r, vs, a.chunk, a.microbatch, fwd ? "forward" : "backward", start, cost.total()});
        // Send to the neighbour, if there is one.
        const bool sends = fwd ? vs < V - 1 : vs > 0;
        double transfer = 0;
        if (sends) transfer = fwd ? in.hop[vs] : in.hop[vs - 1];
        (fwd ? f_ready : b_ready)[at(a.microbatch, vs)] = end + transfer;
        if (sends && in.blocking_p2p && transfer > 0) {
          if (in.record_timeline) out.timeline.push_back({r, vs, a.chunk, a.microbatch, "send", end, transfer});
          t.pp_comm += transfer;
          end += transfer;
        }
        clock[r] = end;
        ++next[r];
        progress = true;
      }
    }
  }
  for (int r = 0; r < p; ++r) {
    if (next[r] < s.ranks[r].size()) out.deadlock = true;
    RankTotals& t = out.ranks[r];
    double now = clock[r];
    const double dp = r < static_cast<int>(in.dp_exposed.size()) ? in.dp_exposed[r] : 0.0;
    const double opt = r < static_cast<int>(in.optimizer.size()) ? in.optimizer[r] : 0.0;
    if (in.record_timeline && dp > 0) out.timeline.push_back({r, r, 0, -1, "dp_comm", now, dp});
    now += dp;
    if (in.record_timeline && opt > 0) out.timeline.push_back({r, r, 0, -1, "optimizer", now, opt});
    now += opt;
    t.dp_comm += dp;
    t.optimizer = opt;
    t.finish = now;
    out.makespan = std::max(out.makespan, now);
  }
  return out;
}

}  // namespace parallax::sim
