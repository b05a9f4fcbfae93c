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
      const auto& list = s.steps[r];
      while (next[r] < list.size()) {
        const Step& st = list[next[r]];
        const int vs = s.virtual_stage(r, st.chunk);
        const bool fwd = st.direction == Pass::forward;
        RankTotals& t = out.ranks[r];
        if (st.op == Op::recv) {  // the pass waits for its input
          const double input = fwd ? f_ready[at(st.microbatch, vs - 1)] : b_ready[at(st.microbatch, vs + 1)];
          if (std::isnan(input)) break;
          clock[r] = std::max(clock[r], input);
        } else if (st.op == Op::send) {
          const double transfer = fwd ? in.hop[vs] : in.hop[vs - 1];
          (fwd ? f_ready : b_ready)[at(st.microbatch, vs)] = clock[r] + transfer;
          if (in.blocking_p2p && transfer > 0) {
            if (in.record_timeline)
              out.timeline.push_back({r, vs, st.chunk, st.microbatch, "send", clock[r], transfer});
            t.pp_comm += transfer;
            clock[r] += transfer;
          }
        } else {
          const bool forward = st.op == Op::forward;
          const PassCost& cost = forward ? in.forward[vs] : in.backward[vs];
          (forward ? t.forward : t.backward) += cost.compute;
          t.recompute += cost.recompute;
          t.tp_comm += cost.tp_comm;
          t.dp_comm += cost.dp_comm;
          if (in.record_timeline)
            out.timeline.push_back(
                {r, vs, st.chunk, st.microbatch, forward ? "forward" : "backward", clock[r], cost.total()});
          clock[r] += cost.total();
        }
        ++next[r];
        progress = true;
      }
    }
  }
  for (int r = 0; r < p; ++r) {
    if (next[r] < s.steps[r].size()) out.deadlock = true;
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
