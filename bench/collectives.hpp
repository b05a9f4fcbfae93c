// Collective and point-to-point benchmarks on the executor's communicator (MPI today, NCCL behind
// the same seam), with nccl-tests' columns and conventions (nccl-tests, doc/PERFORMANCE.md):
// size is the bytes of the whole buffer (all-reduce, broadcast, send/receive) or of the gathered
// or scattered whole (all-gather, reduce-scatter), count the elements each rank contributes or
// receives; time is the mean over the ranks of the mean over the iterations, in-place; algbw =
// size / time; busbw = algbw x 2(n-1)/n (all-reduce), (n-1)/n (reduce-scatter, all-gather), 1
// (broadcast, send/receive), the bandwidth a link must carry and so comparable across rank
// counts. #wrong counts the elements that differ from the exact answer of a check pass.
#pragma once
#include <string>
#include <vector>

#include "bench/report.hpp"
#include "bench/sizes.hpp"
#include "exec/communicator.hpp"

namespace parallax::bench {

enum class Collective { all_reduce, reduce_scatter, all_gather, broadcast, send_recv };
std::string to_string(Collective c);
// The simulator's factors (sim/collectives.hpp), 1 for send/receive.
double busbw_factor(Collective c, int ranks);

struct Repeats {
  int warmup = 5;
  int iterations = 20;
};

// Every rank of `comm` calls it; each gets the table. send_recv: each rank sends to the next
// and receives from the previous (a ring), as nccl-tests' sendrecv.
Report bench_collective(exec::Communicator& comm, Collective c, const SizeRange& range, const Repeats& repeats);
// Several collectives, one after the other, in one table.
Report bench_collectives(exec::Communicator& comm, const std::vector<Collective>& collectives, const SizeRange& range,
                         const Repeats& repeats);

}  // namespace parallax::bench
