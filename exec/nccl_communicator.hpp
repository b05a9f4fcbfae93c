// Communicator over NCCL for the CUDA backend: one NCCL communicator per group, bootstrapped by
// the group's MPI communicator (rank 0's unique id broadcast to the others). Collectives and
// point-to-point messages run on a stream of their own, ordered against the compute stream by
// events: each waits for the kernels queued before it, and the kernels queued after a blocking
// call wait for it (the host does not), while a started all-reduce runs beside the backward
// until wait_all. Buffers may be device, managed or host memory; host memory is staged through
// the device and the call returns once it is back.
#pragma once
#include <cuda_runtime.h>
#include <nccl.h>

#include <vector>

#include "exec/communicator.hpp"

namespace parallax::exec {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `group` (a CPU communicator of the same ranks), on the current CUDA device.
  NcclCommunicator(Communicator& group, cudaStream_t compute);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(double* data, long n) override;
  void all_reduce_sum(float* data, long n) override;
  void all_reduce_max(float* data, long n) override;
  void broadcast(double* data, long n, int root) override;
  void reduce_scatter_sum(float* data, const std::vector<long>& counts) override;
  using Communicator::all_gather;
  void all_gather(void* data, const std::vector<long>& counts, Dtype t) override;
  void start_all_reduce_sum(float* data, long n) override;
  void progress() override {}
  void wait_all() override { join(); }
  using Communicator::recv;
  using Communicator::send;
  void send(const void* data, long n, Dtype t, int dest, int tag) override;
  void recv(void* data, long n, Dtype t, int source, int tag) override;
  void wait_sends() override { join(); }
  void start_group() override;
  void end_group() override;

 private:
  void fork();  // the communication stream waits for the kernels queued so far
  void join();  // the kernels queued from now on wait for the communication queued so far
  // A blocking collective `op` on the device view of `bytes` of data: after the kernels queued so
  // far, before those queued after it; host data is staged and copied back before it returns.
  template <class Op>
  void collective(void* data, long bytes, Op op);
  // An all-reduce (sum or max) of n elements of type t.
  void all_reduce(void* data, long n, ncclDataType_t t, ncclRedOp_t op);
  void* device_view(void* data, long bytes, bool& staged);  // data, or a device copy of host data
  void unstage(void* data, long bytes);                     // the staged copy back to host data
  int rank_ = 0, size_ = 1;
  ncclComm_t comm_ = nullptr;
  cudaStream_t compute_, stream_ = nullptr;
  cudaEvent_t queued_ = nullptr, done_ = nullptr;
  void* staging_ = nullptr;
  long staging_bytes_ = 0;
  bool grouped_ = false;
};

}  // namespace parallax::exec
