// A group of ranks that are threads of one process: the communication seam without MPI, so that
// the tensor-parallel operators of a model can be tested against a single process in a unit
// test. Every collective is a rendezvous of all the group's threads; sums add the ranks' values
// in rank order, so that results repeat to the bit. Messages are copied when sent.
#pragma once
#include <barrier>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "exec/communicator.hpp"

namespace parallax::exec {

// What the threads of one group share; outlives their communicators.
class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), slots_(size), sync_(size) {}
  int size() const { return size_; }

 private:
  friend class ThreadCommunicator;
  int size_;
  std::vector<const void*> slots_;  // each rank's buffer during a collective
  std::barrier<> sync_;
  std::mutex mail_lock_;
  std::condition_variable mail_arrived_;
  std::map<std::tuple<int, int, int>, std::deque<std::vector<std::byte>>> mail_;  // (source, dest, tag)
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }
  void all_reduce_sum(double* data, long n) override;
  void all_reduce_sum(float* data, long n) override;
  void all_reduce_max(float* data, long n) override;
  void broadcast(double* data, long n, int root) override;
  void reduce_scatter_sum(float* data, const std::vector<long>& counts) override;
  using Communicator::all_gather;
  void all_gather(void* data, const std::vector<long>& counts, Dtype t) override;
  // Started at once (the group's threads start their reductions in the same order).
  void start_all_reduce_sum(float* data, long n) override { all_reduce_sum(data, n); }
  void progress() override {}
  void wait_all() override {}
  using Communicator::recv;
  using Communicator::send;
  void send(const void* data, long n, Dtype t, int dest, int tag) override;
  void recv(void* data, long n, Dtype t, int source, int tag) override;
  void wait_sends() override {}

 private:
  // Posts `mine`, lets `combine` read every rank's buffer into this rank's result, waits until
  // every rank has read, then stores the result with `store`.
  template <class Combine, class Store>
  void collective(const void* mine, Combine combine, Store store);

  ThreadGroup& group_;
  int rank_;
};

}  // namespace parallax::exec
