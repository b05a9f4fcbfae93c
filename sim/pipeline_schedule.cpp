#include "sim/pipeline_schedule.hpp"

#include <algorithm>
#include <utility>

namespace parallax::sim {

namespace {

std::vector<Action> gpipe(int m) {
  std::vector<Action> list;
  for (int i = 0; i < m; ++i) list.push_back({Pass::forward, i, 0});
  for (int i = 0; i < m; ++i) list.push_back({Pass::backward, i, 0});
  return list;
}

// Megatron-LM schedules.py forward_backward_pipelining_without_interleaving.
std::vector<Action> one_f_one_b(int p, int m, int rank) {
  const int warmup = warmup_forwards(Schedule::one_f_one_b, p, 1, m, rank);
  std::vector<Action> list;
  int f = 0, b = 0;
  for (int i = 0; i < warmup; ++i) list.push_back({Pass::forward, f++, 0});
  for (int i = 0; i < m - warmup; ++i) {
    list.push_back({Pass::forward, f++, 0});
    list.push_back({Pass::backward, b++, 0});
  }
  while (b < m) list.push_back({Pass::backward, b++, 0});
  return list;
}

// Micro-batches per group of the interleaved table: Megatron-Core's groups of p
// (microbatch_group_size_per_vp_stage) when p divides m; otherwise floor(m/p) groups as even
// as possible, so that no group is smaller than p. (Megatron's short last group stalls the
// steady state: a rank waits for a chunk its neighbour has not reached.)
std::vector<int> group_sizes(int p, int m) {
  const int groups = std::max(1, m / p);
  std::vector<int> sizes(groups, m / groups);
  for (int i = 0; i < m % groups; ++i) ++sizes[i];
  return sizes;
}

// Megatron-Core schedules.py get_schedule_table: each group of micro-batches visits every
// chunk in turn.
std::vector<std::pair<int, int>> interleaved_table(int p, int v, int m) {
  std::vector<std::pair<int, int>> table;  // (microbatch, chunk)
  int first = 0;
  for (int size : group_sizes(p, m)) {
    for (int c = 0; c < v; ++c)
      for (int mb = first; mb < first + size; ++mb) table.emplace_back(mb, c);
    first += size;
  }
  return table;
}

// Megatron-Core forward_backward_pipelining_with_interleaving: warm-up forwards, then
// one forward and one backward per step, then the cooldown backwards. Backward k runs the
// table's entry k on the chunks in reverse order.
std::vector<Action> interleaved(int p, int v, int m, int warmup) {
  const auto table = interleaved_table(p, v, m);
  const int total = m * v;
  std::vector<Action> list;
  auto fwd = [&](int k) { list.push_back({Pass::forward, table[k].first, table[k].second}); };
  auto bwd = [&](int k) { list.push_back({Pass::backward, table[k].first, v - 1 - table[k].second}); };
  int f = 0, b = 0;
  for (int i = 0; i < warmup; ++i) fwd(f++);
  for (int i = 0; i < total - warmup; ++i) {
    fwd(f++);
    bwd(b++);
  }
  while (b < total) bwd(b++);
  return list;
}

// Runs the lists through a message exchange with unbounded buffers; returns, per rank, the
// index of the first action that can never run (the list's size if it completes).
std::vector<size_t> run_dataflow(const PipelineSchedule& s) {
  const int V = s.virtual_stages();
  const int m = s.microbatches;
  std::vector<char> fdone(static_cast<size_t>(V) * m, 0), bdone(static_cast<size_t>(V) * m, 0);
  auto at = [&](int mb, int vs) { return static_cast<size_t>(mb) * V + vs; };
  std::vector<size_t> next(s.stages, 0);
  bool progress = true;
  while (progress) {
    progress = false;
    for (int r = 0; r < s.stages; ++r) {
      while (next[r] < s.ranks[r].size()) {
        const Action& a = s.ranks[r][next[r]];
        const int vs = s.virtual_stage(r, a.chunk);
        bool ready;
        if (a.pass == Pass::forward)
          ready = vs == 0 || fdone[at(a.microbatch, vs - 1)];
        else
          ready = fdone[at(a.microbatch, vs)] && (vs == V - 1 || bdone[at(a.microbatch, vs + 1)]);
        if (!ready) break;
        (a.pass == Pass::forward ? fdone : bdone)[at(a.microbatch, vs)] = 1;
        ++next[r];
        progress = true;
      }
    }
  }
  return next;
}

}  // namespace

int warmup_forwards(Schedule type, int p, int v, int m, int rank) {
  switch (type) {
    case Schedule::gpipe:
      return m;
    case Schedule::one_f_one_b:
      return std::min(p - rank - 1, m);
    case Schedule::interleaved: {
      const int total = m * v;
      if (m == p) return total;  // Megatron: all-warm-up when micro-batches equal stages
      return std::min((p - rank - 1) * 2 + (v - 1) * group_sizes(p, m).front(), total);
    }
  }
  return 0;
}

std::vector<std::vector<Step>> with_transfers(const PipelineSchedule& s) {
  const int V = s.virtual_stages();
  auto tag = [&](int mb, int receiver, Pass dir) {
    return ((mb * V + receiver) * 2 + (dir == Pass::backward)) % 32768;
  };
  std::vector<std::vector<Step>> out(s.stages);
  for (int r = 0; r < s.stages; ++r)
    for (const Action& a : s.ranks[r]) {
      const int vs = s.virtual_stage(r, a.chunk), mb = a.microbatch;
      const bool fwd = a.pass == Pass::forward;
      const int from = fwd ? vs - 1 : vs + 1, to = fwd ? vs + 1 : vs - 1;  // neighbours, if in [0, V)
      if (from >= 0 && from < V)
        out[r].push_back({Op::recv, mb, a.chunk, a.pass, s.rank_of_virtual(from), tag(mb, vs, a.pass)});
      out[r].push_back({fwd ? Op::forward : Op::backward, mb, a.chunk});
      if (to >= 0 && to < V)
        out[r].push_back({Op::send, mb, a.chunk, a.pass, s.rank_of_virtual(to), tag(mb, to, a.pass)});
    }
  return out;
}

PipelineSchedule make_schedule(Schedule type, int pp, int vpp, int microbatches) {
  PipelineSchedule s;
  s.type = type;
  s.stages = pp;
  s.chunks = type == Schedule::interleaved ? vpp : 1;
  s.microbatches = microbatches;
  for (int r = 0; r < pp; ++r) {
    switch (type) {
      case Schedule::gpipe:
        s.ranks.push_back(gpipe(microbatches));
        break;
      case Schedule::one_f_one_b:
        s.ranks.push_back(one_f_one_b(pp, microbatches, r));
        break;
      case Schedule::interleaved:
        s.ranks.push_back(
            interleaved(pp, s.chunks, microbatches, warmup_forwards(type, pp, s.chunks, microbatches, r)));
        break;
    }
  }
  if (type != Schedule::interleaved) {
    s.steps = with_transfers(s);
    return s;
  }
  // Safety net: should a rank wait on a backward whose input needs one of its own later
  // forwards, it takes one more warm-up forward until the lists run through (all-forward-first
  // always does, so this ends). No case of p <= 64, v <= 8, m in [p, 4p] needs it.
  std::vector<int> warmup(pp);
  for (int r = 0; r < pp; ++r) warmup[r] = warmup_forwards(type, pp, s.chunks, microbatches, r);
  for (auto next = run_dataflow(s);;) {
    bool stuck = false;
    for (int r = 0; r < pp; ++r) {
      if (next[r] >= s.ranks[r].size()) continue;
      stuck = true;
      if (s.ranks[r][next[r]].pass == Pass::backward && warmup[r] < microbatches * s.chunks) {
        ++warmup[r];
        s.ranks[r] = interleaved(pp, s.chunks, microbatches, warmup[r]);
      }
    }
    if (!stuck) break;
    next = run_dataflow(s);
  }
  s.steps = with_transfers(s);
  return s;
}

int peak_in_flight(const std::vector<Action>& actions) {
  int live = 0, peak = 0;
  for (const auto& a : actions) {
    live += a.pass == Pass::forward ? 1 : -1;
    peak = std::max(peak, live);
  }
  return peak;
}

std::optional<std::string> find_deadlock(const PipelineSchedule& s) {
  const auto next = run_dataflow(s);
  std::string stuck;
  for (int r = 0; r < s.stages; ++r)
    if (next[r] < s.ranks[r].size())
      stuck +=
          (stuck.empty() ? "" : ", ") + ("rank " + std::to_string(r) + " waits at " + describe(s.ranks[r][next[r]]));
  if (stuck.empty()) return std::nullopt;
  return stuck;
}

std::string describe(const Action& a) {
  return std::string(a.pass == Pass::forward ? "F" : "B") + std::to_string(a.microbatch) + "." +
         std::to_string(a.chunk);
}

}  // namespace parallax::sim
