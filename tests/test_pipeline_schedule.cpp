// Invariants of the generated action lists, checked without running a model.
#define BOOST_TEST_MODULE pipeline_schedule
#include <boost/test/unit_test.hpp>
#include <map>
#include <set>
#include <tuple>

#include "exec/transfer_groups.hpp"
#include "sim/pipeline_schedule.hpp"

using namespace parallax;
using namespace parallax::sim;

namespace {

// Each (micro-batch, chunk) appears once forward and once backward, forward first.
void check_lists(const PipelineSchedule& s) {
  for (int r = 0; r < s.stages; ++r) {
    std::set<std::pair<int, int>> forwarded, backwarded;
    for (const auto& a : s.ranks[r]) {
      const auto key = std::make_pair(a.microbatch, a.chunk);
      if (a.pass == Pass::forward) {
        BOOST_TEST_REQUIRE(forwarded.insert(key).second);
      } else {
        BOOST_TEST_REQUIRE(forwarded.count(key) == 1u);  // forward precedes backward
        BOOST_TEST_REQUIRE(backwarded.insert(key).second);
      }
    }
    BOOST_TEST_REQUIRE(forwarded.size() == static_cast<size_t>(s.microbatches * s.chunks));
    BOOST_TEST_REQUIRE(backwarded.size() == forwarded.size());
  }
}

int leading_forwards(const std::vector<Action>& list) {
  int n = 0;
  while (n < static_cast<int>(list.size()) && list[n].pass == Pass::forward) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(one_f_one_b_warmup_is_p_minus_r_minus_1) {
  for (int p : {1, 2, 4, 8})
    for (int m : {p, 2 * p + 1, 4 * p}) {
      const auto s = make_schedule(Schedule::one_f_one_b, p, 1, m);
      check_lists(s);
      for (int r = 0; r < p; ++r) {
        // Warm-up forwards, then the steady state's first forward, then its first backward.
        BOOST_TEST(leading_forwards(s.ranks[r]) == std::min(p - r - 1, m) + (m > p - r - 1 ? 1 : 0));
        BOOST_TEST(peak_in_flight(s.ranks[r]) == std::min(p - r, m));
      }
    }
}

BOOST_AUTO_TEST_CASE(gpipe_holds_every_microbatch) {
  const auto s = make_schedule(Schedule::gpipe, 4, 1, 10);
  check_lists(s);
  for (const auto& list : s.ranks) BOOST_TEST(peak_in_flight(list) == 10);
}

BOOST_AUTO_TEST_CASE(interleaved_warmup_is_megatrons) {
  // Megatron: (p - r - 1) * 2 + (v - 1) * p forwards before the steady state, when m is a
  // multiple of p (and all of them when m == p).
  const int p = 4, v = 2;
  for (int m : {8, 12, 16}) {
    const auto s = make_schedule(Schedule::interleaved, p, v, m);
    check_lists(s);
    for (int r = 0; r < p; ++r) {
      const int warmup = (p - r - 1) * 2 + (v - 1) * p;
      BOOST_TEST(warmup_forwards(Schedule::interleaved, p, v, m, r) == warmup);
      BOOST_TEST(leading_forwards(s.ranks[r]) == warmup + 1);
      BOOST_TEST(peak_in_flight(s.ranks[r]) == warmup + 1);
    }
  }
  const auto all = make_schedule(Schedule::interleaved, 4, 2, 4);
  for (const auto& list : all.ranks) BOOST_TEST(leading_forwards(list) == 8);
}

BOOST_AUTO_TEST_CASE(interleaved_chunk_order_follows_megatron_table) {
  // p = 2, v = 2, m = 4: forwards on a rank go mb 0,1 on chunk 0, mb 0,1 on chunk 1, then 2,3...
  const auto s = make_schedule(Schedule::interleaved, 2, 2, 4);
  const auto& r0 = s.ranks[0];
  const std::vector<std::pair<int, int>> expected{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {2, 0}, {3, 0}, {2, 1}, {3, 1}};
  std::vector<std::pair<int, int>> forwards, backwards;
  for (const auto& a : r0) (a.pass == Pass::forward ? forwards : backwards).emplace_back(a.microbatch, a.chunk);
  BOOST_TEST((forwards == expected));
  BOOST_TEST((backwards.front() == std::make_pair(0, 1)));  // backward starts on the last chunk
}

BOOST_AUTO_TEST_CASE(no_schedule_deadlocks) {
  // p up to 64, v up to 8, m from p to 4p, m not a multiple of p included (a sample of the
  // grid keeps the test short; every point of p <= 64, v <= 8 was run once by hand).
  for (int p : {1, 2, 3, 4, 5, 7, 8, 12, 16, 31, 64})
    for (int m : {p, p + 1, (3 * p) / 2 + 1, 2 * p - 1, 4 * p}) {
      if (m < 1) continue;
      for (Schedule type : {Schedule::gpipe, Schedule::one_f_one_b}) {
        const auto s = make_schedule(type, p, 1, m);
        check_lists(s);
        BOOST_TEST(!find_deadlock(s).has_value());
      }
      if (p < 2) continue;
      for (int v : {2, 3, 4, 8}) {
        const auto s = make_schedule(Schedule::interleaved, p, v, m);
        check_lists(s);
        const auto stuck = find_deadlock(s);
        BOOST_TEST(!stuck.has_value(), "p=" << p << " v=" << v << " m=" << m << ": " << stuck.value_or(""));
        // The warm-up counts are the formula's, with no repair needed.
        for (int r = 0; r < p; ++r) {
          const int warmup = warmup_forwards(Schedule::interleaved, p, v, m, r);
          BOOST_TEST(peak_in_flight(s.ranks[r]) == std::min(warmup + 1, m * v));
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(partial_groups_are_spread_evenly) {
  // p = 4, m = 10: two groups of 5 (not 4, 4, 2); warm-up counts the first group.
  const auto s = make_schedule(Schedule::interleaved, 4, 2, 10);
  std::vector<std::pair<int, int>> forwards;
  for (const auto& a : s.ranks[3])
    if (a.pass == Pass::forward) forwards.emplace_back(a.microbatch, a.chunk);
  BOOST_TEST((forwards[4] == std::make_pair(4, 0)));
  BOOST_TEST((forwards[5] == std::make_pair(0, 1)));
  BOOST_TEST(warmup_forwards(Schedule::interleaved, 4, 2, 10, 3) == 5);
}

BOOST_AUTO_TEST_CASE(find_deadlock_reports_a_bad_order) {
  PipelineSchedule s = make_schedule(Schedule::one_f_one_b, 2, 1, 2);
  std::swap(s.ranks[0][0], s.ranks[0].back());  // rank 0 starts with a backward
  BOOST_TEST(find_deadlock(s).has_value());
}

// The transfers spelled out: every pass that has a neighbouring virtual stage receives its
// input right before it and sends its output right after it; each send meets exactly one
// receive on its peer with the same tag, micro-batch and direction; and the lists, run with
// receives that block and sends that do not, complete (no rank waits forever).
BOOST_AUTO_TEST_CASE(transfers_pair_up_and_run_through) {
  for (const auto& [type, p, v, m] :
       {std::tuple{Schedule::gpipe, 4, 1, 6}, std::tuple{Schedule::one_f_one_b, 4, 1, 7},
        std::tuple{Schedule::interleaved, 2, 2, 3}, std::tuple{Schedule::interleaved, 4, 3, 10}}) {
    const PipelineSchedule s = make_schedule(type, p, v, m);
    const int V = s.virtual_stages();
    using Message = std::tuple<int, int, int, int, Pass>;  // sender, receiver, tag, micro-batch, direction
    std::multiset<Message> sent, received;
    for (int r = 0; r < p; ++r) {
      const auto& steps = s.steps[r];
      size_t passes = 0;
      for (size_t i = 0; i < steps.size(); ++i) {
        const Step& st = steps[i];
        const int vs = s.virtual_stage(r, st.chunk);
        if (st.op == Op::forward || st.op == Op::backward) {
          const Action& a = s.ranks[r][passes++];
          BOOST_TEST_REQUIRE((a.microbatch == st.microbatch && a.chunk == st.chunk &&
                              (a.pass == Pass::forward) == (st.op == Op::forward)));
          const bool fwd = st.op == Op::forward;
          const bool has_input = fwd ? vs > 0 : vs < V - 1, has_output = fwd ? vs < V - 1 : vs > 0;
          BOOST_TEST_REQUIRE((has_input == (i > 0 && steps[i - 1].op == Op::recv)));
          BOOST_TEST_REQUIRE((has_output == (i + 1 < steps.size() && steps[i + 1].op == Op::send)));
          continue;
        }
        BOOST_TEST_REQUIRE(st.peer != r);
        if (st.op == Op::send)
          sent.insert({r, st.peer, st.tag, st.microbatch, st.direction});
        else
          received.insert({st.peer, r, st.tag, st.microbatch, st.direction});
      }
      BOOST_TEST_REQUIRE(passes == s.ranks[r].size());
    }
    BOOST_TEST_REQUIRE(sent.size() == static_cast<size_t>(2 * m * (V - 1)));
    BOOST_TEST_REQUIRE((sent == received));
    // Run the lists: a receive waits for its message, a send posts it.
    std::vector<size_t> next(p, 0);
    std::multiset<Message> posted;
    for (bool moved = true; moved;) {
      moved = false;
      for (int r = 0; r < p; ++r)
        for (; next[r] < s.steps[r].size(); ++next[r], moved = true) {
          const Step& st = s.steps[r][next[r]];
          if (st.op == Op::send) posted.insert({r, st.peer, st.tag, st.microbatch, st.direction});
          if (st.op != Op::recv) continue;
          const auto it = posted.find({st.peer, r, st.tag, st.microbatch, st.direction});
          if (it == posted.end()) break;
          posted.erase(it);
        }
    }
    for (int r = 0; r < p; ++r) BOOST_TEST(next[r] == s.steps[r].size(), "rank " << r << " of " << to_string(type));
  }
}

// NCCL matches the messages between two ranks in the order both post them (no tags), and posts
// a group of transfers as one (exec/transfer_groups.hpp). GPipe and 1F1B run through under it;
// the interleaved schedule's just-in-time receives do not (its steady state sends a gradient
// that the peer receives only after a transfer that waits on this rank), which is why the CUDA
// backend refuses it. Each group holds at most one receive: the trainer receives into one buffer.
BOOST_AUTO_TEST_CASE(transfer_groups_run_under_nccl_matching) {
  for (const auto& [type, p, v, m] :
       {std::tuple{Schedule::gpipe, 4, 1, 6}, std::tuple{Schedule::one_f_one_b, 4, 1, 7},
        std::tuple{Schedule::one_f_one_b, 2, 1, 8}, std::tuple{Schedule::one_f_one_b, 8, 1, 3},
        std::tuple{Schedule::one_f_one_b, 16, 1, 64}, std::tuple{Schedule::gpipe, 3, 1, 5},
        std::tuple{Schedule::interleaved, 2, 2, 4}, std::tuple{Schedule::interleaved, 4, 3, 10}}) {
    const PipelineSchedule s = make_schedule(type, p, v, m);
    const std::string name = to_string(type) + " p=" + std::to_string(p) + " m=" + std::to_string(m);
    for (int r = 0; r < p; ++r)
      for (const auto& [first, last] : exec::transfer_groups(s.steps[r])) {
        int receives = 0;
        for (size_t i = first; i < last; ++i) receives += s.steps[r][i].op == Op::recv;
        BOOST_TEST(receives <= 1, name << ": rank " << r << " receives twice in one group");
        BOOST_TEST((first == 0 || s.steps[r][first - 1].op == Op::forward || s.steps[r][first - 1].op == Op::backward));
      }
    const auto stuck = exec::nccl_deadlock(s);
    if (type == Schedule::interleaved)
      BOOST_TEST(stuck.has_value(), name);
    else
      BOOST_TEST(!stuck.has_value(), name << ": " << stuck.value_or(""));
  }
  // A pair's messages received in another order than sent: NCCL would hand them over mixed up.
  PipelineSchedule swapped = make_schedule(Schedule::gpipe, 2, 1, 2);
  auto& last = swapped.steps[1];
  std::vector<size_t> receives;
  for (size_t i = 0; i < last.size(); ++i)
    if (last[i].op == Op::recv) receives.push_back(i);
  std::swap(last[receives[0]].tag, last[receives[1]].tag);
  BOOST_TEST(exec::nccl_deadlock(swapped).value_or("").find("another order") != std::string::npos);
}
