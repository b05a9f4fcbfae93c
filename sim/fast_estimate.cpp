#include "sim/fast_estimate.hpp"

#include <algorithm>

#include "sim/memory.hpp"
#include "sim/pipeline_schedule.hpp"
#include "sim/placement.hpp"
#include "sim/plan_costs.hpp"

namespace parallax::sim {

namespace {

// What the closed forms read of a plan, per pipeline rank r: one chunk's forward and backward
// (the first virtual stage adds the embedding, the last the head), and the hops to rank r+1
// (out) and from rank r-1 (in), mod P. Every pass sends on, except the last virtual stage's
// forward and the first one's backward. A blocking send also holds its rank; an overlapped one
// (overlap_p2p_comm) only delays the receiver.
struct Passes {
  int P = 1, v = 1;
  double m = 1;
  std::vector<double> f, b, out, in;
  double embed_f = 0, embed_b = 0, head_f = 0, head_b = 0;
  bool blocking = true;
  double held(double transfer) const { return blocking ? transfer : 0.0; }
};

Passes passes_of(const Experiment& e, const LayerCosts& costs) {
  const auto& p = e.parallel;
  Passes s;
  s.P = p.pp;
  s.v = p.schedule == Schedule::interleaved ? p.vpp : 1;
  s.m = e.micro_batches();
  const double overhead = e.system.calibration.pass_overhead_us * 1e-6;
  const double hop_intra = pipeline_hop_time(e, false);
  const double hop_inter = s.P > 1 ? pipeline_hop_time(e, true) : 0.0;
  auto hop = [&](int r) { return pipeline_hop_inter_node(r, p, e.system.gpus_per_node) ? hop_inter : hop_intra; };
  for (int r = 0; r < s.P; ++r) {
    s.f.push_back(static_cast<double>(e.layers_on_stage(r)) / s.v * costs.layer.forward.total() + overhead);
    s.b.push_back(static_cast<double>(e.layers_on_stage(r)) / s.v * costs.layer.backward.total() + overhead);
    s.out.push_back(hop(r));
    s.in.push_back(hop((r + s.P - 1) % s.P));
  }
  s.embed_f = costs.embedding.forward.total(), s.embed_b = costs.embedding.backward.total();
  s.head_f = costs.head.forward.total(), s.head_b = costs.head.backward.total();
  s.blocking = blocking_p2p(p);
  return s;
}

// 1F1B rank by rank: rank r starts once the first micro-batch has come through the ranks
// before it, runs its m forwards and m backwards, and waits only where a micro-batch's round
// trip through the ranks after it (rt) outlasts the work it has in hand: before its first
// backward, and before its last; rank 0 ends when that last backward has come back to it.
// Where the first or the last rank is the slowest (an embedding or head as heavy as its
// layers: a large vocabulary on few layers, or FSDP's exposed vocabulary gathers), its own
// warm-up and cool-down hide the others' fill and drain, which the steady-state formula
// charges in full; elsewhere that formula matches the event simulation (random plans,
// docs/cost-model.md). The 1F1B estimate takes the smaller.
double one_f_one_b_by_rank(const Passes& s) {
  const int P = s.P;
  const double m = s.m;
  // w(j): what a micro-batch's round trip spends on rank j and on the link into it.
  auto w = [&](int j) {
    return s.f[j] + s.b[j] + (j == P - 1 ? s.head_f + s.head_b : 0.0) + (j > 0 ? 2 * s.out[j - 1] : 0.0);
  };
  double rt = 0;  // sum of w(j) over j > r
  for (int j = 1; j < P; ++j) rt += w(j);
  double pipeline = 0, start = 0, drain = 0;
  for (int r = 0; r < P; ++r) {
    if (r > 0) rt -= w(r);
    const double f = s.f[r] + (r == 0 ? s.embed_f : 0.0) + (r == P - 1 ? s.head_f : 0.0);
    const double b = s.b[r] + (r == 0 ? s.embed_b : 0.0) + (r == P - 1 ? s.head_b : 0.0);
    const double out = r < P - 1 ? s.out[r] : 0.0;
    const double busy_f = f + s.held(out), busy_b = b + (r > 0 ? s.held(s.in[r]) : 0.0);
    const double ahead = P - r;  // forwards before the first backward (warm-up + 1)
    const double own = m >= ahead
                           ? m * (busy_f + busy_b) + std::max(0.0, f + rt - ahead * busy_f) +
                                 std::max(0.0, f - busy_f + rt - (ahead - 1) * busy_b)
                           // fewer micro-batches than that: all forwards, then the backwards as they return
                           : std::max({m * (busy_f + busy_b), f + rt + m * busy_b, (m - 1) * busy_f + f + rt + busy_b});
    pipeline = std::max(pipeline, start + own + drain);
    start += f + out;
    drain += b + out;
  }
  return pipeline;
}

// All forwards, then all backwards: two flow shops of J = m*v identical jobs, whose makespan is
// one job's path plus (J - 1) times the slowest rank's time per job.
double all_forwards_first(const Passes& s) {
  const int P = s.P, v = s.v;
  double forward_path = 0, backward_path = 0, forward_slowest = 0, backward_slowest = 0;
  for (int r = 0; r < P; ++r) {
    const double f = s.f[r], b = s.b[r], out = s.out[r], in = s.in[r];
    forward_path += f + (r == 0 ? s.embed_f : 0.0) + (r < P - 1 || v > 1 ? out : 0.0);
    backward_path += b + (r == 0 ? s.embed_b : 0.0) + (r > 0 ? in : 0.0);
    const double fj = v * (f + s.held(out)) + (r == 0 ? s.embed_f : 0.0) + (r == P - 1 ? s.head_f - s.held(out) : 0.0);
    const double bj = v * (b + s.held(in)) + (r == 0 ? s.embed_b - s.held(in) : 0.0) + (r == P - 1 ? s.head_b : 0.0);
    forward_slowest = std::max(forward_slowest, fj / v);
    backward_slowest = std::max(backward_slowest, bj / v);
  }
  if (v == 1) backward_path += s.head_b, forward_path += s.head_f;
  return forward_path + backward_path + (s.m * v - 1) * (forward_slowest + backward_slowest);
}

// 1F1B steady state: every micro-batch after the first costs the slowest rank's period (all its
// chunks' passes and sends); the first one's round trip through chunk 0 of every rank fills and
// drains the pipeline, and the other chunks add their share once.
double one_f_one_b_steady(const Passes& s) {
  const int P = s.P, v = s.v;
  double period = 0, fill = 0, ring = 0;
  for (int r = 0; r < P; ++r) {
    const double f = s.f[r], b = s.b[r], out = s.out[r], in = s.in[r];
    double t = v * (f + b + s.held(out) + s.held(in));
    if (r == 0) t += s.embed_f + s.embed_b - s.held(in);
    if (r == P - 1) t += s.head_f + s.head_b - s.held(out);
    period = std::max(period, t);
    fill += f + b + (r < P - 1 ? 2 * out : 0.0);
    ring += out;
  }
  // Overlapped sends leave each rank's period without its transfers, but the warm-up's
  // forwards and the cool-down's backwards still wait for them on each of the other v - 1
  // trips round the ring of stages.
  if (!s.blocking) fill += 2 * (v - 1) * ring;
  fill += s.embed_f + s.embed_b + (v == 1 ? s.head_f + s.head_b : 0.0);
  double pipeline = (s.m - 1) * period + fill + (v - 1) * period / v;
  if (v == 1) pipeline = std::min(pipeline, one_f_one_b_by_rank(s));
  return pipeline;
}

// The iteration: rank r's last backward (chunk 0) ends before rank 0's by the drain behind it;
// then its exposed DP reduction and its optimizer step.
double with_tail(const Experiment& e, const Passes& s, double pipeline) {
  const int P = s.P;
  auto finish = [&](int r) {
    double t = pipeline;
    for (int j = 0; j < r; ++j) t -= s.b[j] + (j == 0 ? s.embed_b : 0.0) + (j > 0 ? s.out[j - 1] : 0.0);
    return t;
  };
  auto tail = [&](int r) {
    double last_backward = s.v * s.b[r] + (r == 0 ? s.embed_b : 0.0) + (r == P - 1 ? s.head_b : 0.0);
    return exposed_data_parallel_time(e, r, last_backward) + optimizer_time(e, r);
  };
  double total = finish(0) + tail(0);
  if (P > 1) total = std::max({total, finish(1) + tail(1), finish(P - 1) + tail(P - 1)});
  return total;
}

}  // namespace

double fast_iteration_time(const Experiment& e, const LayerCosts& costs, ScheduleCache* schedules) {
  const auto& p = e.parallel;
  const Passes s = passes_of(e, costs);
  const bool all_warmup = warmup_forwards(p.schedule, s.P, s.v, static_cast<int>(s.m), 0) >= s.m * s.v;
  if (p.schedule == Schedule::interleaved && all_warmup) {
    // Interleaved with as many micro-batches as stages: each chunk's wave waits on the ring in
    // a way no short formula follows, so these (few) plans take the event simulation.
    const int m = static_cast<int>(s.m);
    const auto key = std::make_tuple(static_cast<int>(p.schedule), s.P, s.v, m);
    if (!schedules) return simulate(sim_input(e, make_schedule(p.schedule, s.P, s.v, m), costs)).makespan;
    auto it = schedules->find(key);
    if (it == schedules->end()) it = schedules->emplace(key, make_schedule(p.schedule, s.P, s.v, m)).first;
    return simulate(sim_input(e, it->second, costs)).makespan;
  }
  const bool forwards_first = p.schedule == Schedule::gpipe || all_warmup;
  return with_tail(e, s, forwards_first ? all_forwards_first(s) : one_f_one_b_steady(s));
}

double fast_peak_memory(const Experiment& e) {
  const auto& p = e.parallel;
  const int m = e.micro_batches();
  auto in_flight = [&](int r) {
    switch (p.schedule) {
      case Schedule::gpipe:
        return m;
      case Schedule::one_f_one_b:
        return std::min(p.pp - r, m);
      case Schedule::interleaved: {
        const int total = m * p.vpp;
        return std::min(total, warmup_forwards(Schedule::interleaved, p.pp, p.vpp, m, r) + 1);
      }
    }
    return m;
  };
  const int chunks = p.schedule == Schedule::interleaved ? p.vpp : 1;
  double peak = stage_memory_at(e, 0, in_flight(0), chunks).total();
  if (p.pp > 1) peak = std::max(peak, stage_memory_at(e, p.pp - 1, in_flight(p.pp - 1), chunks).total());
  return peak;
}

FastEstimate fast_estimate(const Experiment& e, const LayerCosts& costs) {
  FastEstimate out;
  out.peak_memory_bytes = fast_peak_memory(e);
  out.fits = out.peak_memory_bytes <= e.system.usable_memory_bytes();
  out.iteration_time_s = fast_iteration_time(e, costs);
  return out;
}

}  // namespace parallax::sim
