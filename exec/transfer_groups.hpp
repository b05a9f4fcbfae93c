// The transfers of a rank's pipeline steps posted together: each run of consecutive sends and
// receives (a pass's send and the next pass's receive: Megatron's send_forward_recv_backward)
// is one group, which NCCL posts as one (exec/communicator.hpp's start_group).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/pipeline_schedule.hpp"

namespace parallax::exec {

// [first, last) step ranges, in order, each a maximal run of send and recv steps.
std::vector<std::pair<std::size_t, std::size_t>> transfer_groups(const std::vector<sim::Step>& steps);

// Runs the schedule's transfer groups as NCCL runs them: a rank posts its next group once its
// previous one has completed, a group completes once each of its messages is matched, and the
// k-th send from one rank to another matches the k-th receive there (NCCL has no tags).
// std::nullopt when every group completes; else where the ranks are stuck, or which pair's
// messages are received in another order than they are sent.
std::optional<std::string> nccl_deadlock(const sim::PipelineSchedule& s);

}  // namespace parallax::exec
