#include "exec/transfer_groups.hpp"

#include <map>

namespace parallax::exec {

std::vector<std::pair<std::size_t, std::size_t>> transfer_groups(const std::vector<sim::Step>& steps) {
  std::vector<std::pair<std::size_t, std::size_t>> groups;
  auto transfer = [&](std::size_t i) { return steps[i].op == sim::Op::send || steps[i].op == sim::Op::recv; };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!transfer(i)) continue;
    std::size_t end = i;
    while (end < steps.size() && transfer(end)) ++end;
    groups.emplace_back(i, end);
    i = end - 1;
  }
  return groups;
}

namespace {
using Pair = std::pair<int, int>;  // (sender, receiver)

// Messages of each pair a rank sends and receives in its steps [0, end).
struct Counts {
  std::map<Pair, int> sent, received;
  Counts(const std::vector<sim::Step>& steps, int rank, std::size_t end) {
    for (std::size_t i = 0; i < end; ++i) {
      if (steps[i].op == sim::Op::send) ++sent[{rank, steps[i].peer}];
      if (steps[i].op == sim::Op::recv) ++received[{steps[i].peer, rank}];
    }
  }
};

std::optional<std::string> out_of_order(const sim::PipelineSchedule& s) {
  std::map<Pair, std::vector<int>> sent, received;  // tags in order
  for (int r = 0; r < s.stages; ++r)
    for (const sim::Step& st : s.steps[r]) {
      if (st.op == sim::Op::send) sent[{r, st.peer}].push_back(st.tag);
      if (st.op == sim::Op::recv) received[{st.peer, r}].push_back(st.tag);
    }
  for (const auto& [pair, tags] : sent)
    if (received[pair] != tags)
      return "rank " + std::to_string(pair.second) + " receives rank " + std::to_string(pair.first) +
             "'s messages in another order than they are sent";
  return std::nullopt;
}
}  // namespace

std::optional<std::string> nccl_deadlock(const sim::PipelineSchedule& s) {
  if (auto bad = out_of_order(s)) return bad;
  const int p = s.stages;
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> groups(p);
  for (int r = 0; r < p; ++r) groups[r] = transfer_groups(s.steps[r]);
  Counts posted(s.steps[0], 0, 0);  // every rank's posted messages, by pair
  std::vector<std::size_t> next(p, 0);
  std::vector<bool> is_posted(p, false);
  auto done = [&](int r) { return next[r] == groups[r].size(); };
  for (bool moved = true; moved;) {
    moved = false;
    for (int r = 0; r < p; ++r) {
      if (done(r) || is_posted[r]) continue;
      const auto [first, last] = groups[r][next[r]];
      for (std::size_t i = first; i < last; ++i) {
        const sim::Step& st = s.steps[r][i];
        if (st.op == sim::Op::send) ++posted.sent[{r, st.peer}];
        if (st.op == sim::Op::recv) ++posted.received[{st.peer, r}];
      }
      is_posted[r] = moved = true;
    }
    for (int r = 0; r < p; ++r) {
      if (done(r) || !is_posted[r]) continue;
      const Counts mine(s.steps[r], r, groups[r][next[r]].second);
      bool matched = true;
      for (const auto& [pair, n] : mine.sent) matched = matched && posted.received[pair] >= n;
      for (const auto& [pair, n] : mine.received) matched = matched && posted.sent[pair] >= n;
      if (matched) ++next[r], is_posted[r] = false, moved = true;
    }
  }
  for (int r = 0; r < p; ++r)
    if (!done(r))
      return "rank " + std::to_string(r) + " waits in its transfers at step " +
             std::to_string(groups[r][next[r]].first) + " of " + std::to_string(s.steps[r].size());
  return std::nullopt;
}

}  // namespace parallax::exec
