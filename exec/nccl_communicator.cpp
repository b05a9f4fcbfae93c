#include "exec/nccl_communicator.hpp"

#include <numeric>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.hpp"

namespace parallax::exec {

namespace {
using kernels::cuda::check;

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw std::runtime_error(std::string(what) + ": " + ncclGetErrorString(r));
}

bool host_memory(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();
    return true;
  }
  return a.type == cudaMemoryTypeUnregistered || a.type == cudaMemoryTypeHost;
}

bool even(const std::vector<long>& counts) {
  for (long c : counts)
    if (c != counts.front()) return false;
  return true;
}
}  // namespace

NcclCommunicator::NcclCommunicator(Communicator& group, cudaStream_t compute)
    : rank_(group.rank()), size_(group.size()), compute_(compute) {
  ncclUniqueId id{};
  if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  broadcast_bytes(group, &id, sizeof id, 0);
  check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaEventCreateWithFlags(&queued_, cudaEventDisableTiming), "cudaEventCreate");
  check(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
}

NcclCommunicator::~NcclCommunicator() {
  cudaStreamSynchronize(stream_);
  ncclCommDestroy(comm_);
  cudaFree(staging_);
  cudaEventDestroy(queued_);
  cudaEventDestroy(done_);
  cudaStreamDestroy(stream_);
}

void NcclCommunicator::fork() {
  check(cudaEventRecord(queued_, compute_), "cudaEventRecord");
  check(cudaStreamWaitEvent(stream_, queued_, 0), "cudaStreamWaitEvent");
}

void NcclCommunicator::join() {
  check(cudaEventRecord(done_, stream_), "cudaEventRecord");
  check(cudaStreamWaitEvent(compute_, done_, 0), "cudaStreamWaitEvent");
}

void* NcclCommunicator::device_view(void* data, long bytes, bool& staged) {
  staged = host_memory(data);
  if (!staged) return data;
  if (bytes > staging_bytes_) {
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    check(cudaFree(staging_), "cudaFree");
    staging_ = nullptr;
    check(cudaMalloc(&staging_, bytes), "cudaMalloc (NCCL staging)");
    staging_bytes_ = bytes;
  }
  check(cudaMemcpyAsync(staging_, data, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
  return staging_;
}

void NcclCommunicator::unstage(void* data, long bytes) {
  check(cudaMemcpyAsync(data, staging_, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
}

template <class Op>
void NcclCommunicator::collective(void* data, long bytes, Op op) {
  fork();
  bool staged = false;
  op(device_view(data, bytes, staged));
  if (staged) unstage(data, bytes);
  join();
}

void NcclCommunicator::all_reduce(void* data, long n, ncclDataType_t t, ncclRedOp_t op) {
  if (n <= 0) return;
  collective(data, n * (t == ncclFloat64 ? 8 : 4),
             [&](void* d) { check_nccl(ncclAllReduce(d, d, n, t, op, comm_, stream_), "ncclAllReduce"); });
}

void NcclCommunicator::all_reduce_sum(double* data, long n) { all_reduce(data, n, ncclFloat64, ncclSum); }
void NcclCommunicator::all_reduce_sum(float* data, long n) { all_reduce(data, n, ncclFloat32, ncclSum); }
void NcclCommunicator::all_reduce_max(float* data, long n) { all_reduce(data, n, ncclFloat32, ncclMax); }

void NcclCommunicator::broadcast(double* data, long n, int root) {
  if (n <= 0) return;
  collective(data, n * 8,
             [&](void* d) { check_nccl(ncclBroadcast(d, d, n, ncclFloat64, root, comm_, stream_), "ncclBroadcast"); });
}

// Equal blocks: NCCL's in-place reduce-scatter. Uneven ones (a flat buffer split over DP ranks
// differs by one element): a reduce of each block to its owner, posted as one group.
void NcclCommunicator::reduce_scatter_sum(float* data, const std::vector<long>& counts) {
  const long total = std::accumulate(counts.begin(), counts.end(), 0L);
  const long mine = std::accumulate(counts.begin(), counts.begin() + rank_, 0L);
  collective(data, total * 4, [&](void* buffer) {
    auto* d = static_cast<float*>(buffer);
    if (even(counts)) {
      check_nccl(ncclReduceScatter(d, d + mine, counts.front(), ncclFloat32, ncclSum, comm_, stream_),
                 "ncclReduceScatter");
      return;
    }
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    long at = 0;
    for (int r = 0; r < size_; ++r) {
      check_nccl(ncclReduce(d + at, d + at, counts[r], ncclFloat32, ncclSum, r, comm_, stream_), "ncclReduce");
      at += counts[r];
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  });
}

// Equal blocks: NCCL's in-place all-gather; uneven ones: a broadcast of each block from its owner.
void NcclCommunicator::all_gather(void* data, const std::vector<long>& counts, Dtype t) {
  const long width = bytes_per_element(t);
  const long total = std::accumulate(counts.begin(), counts.end(), 0L) * width;
  const long mine = std::accumulate(counts.begin(), counts.begin() + rank_, 0L) * width;
  collective(data, total, [&](void* buffer) {
    auto* d = static_cast<char*>(buffer);
    if (even(counts)) {
      check_nccl(ncclAllGather(d + mine, d, counts.front() * width, ncclUint8, comm_, stream_), "ncclAllGather");
      return;
    }
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    long at = 0;
    for (int r = 0; r < size_; ++r) {
      check_nccl(ncclBroadcast(d + at, d + at, counts[r] * width, ncclUint8, r, comm_, stream_), "ncclBroadcast");
      at += counts[r] * width;
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  });
}

// Runs on the communication stream beside the kernels queued after it, until wait_all.
void NcclCommunicator::start_all_reduce_sum(float* data, long n) {
  if (n <= 0) return;
  fork();
  check_nccl(ncclAllReduce(data, data, n, ncclFloat32, ncclSum, comm_, stream_), "ncclAllReduce");
}

void NcclCommunicator::start_group() {
  fork();
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  grouped_ = true;
}

void NcclCommunicator::end_group() {
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  grouped_ = false;
  join();
}

// The schedule's messages are device memory (the backend's); tags order nothing here: NCCL
// matches a pair's sends and receives in the order both post them, which the schedule fixes.
void NcclCommunicator::send(const void* data, long n, Dtype t, int dest, int) {
  if (!grouped_) fork();
  check_nccl(ncclSend(data, n * bytes_per_element(t), ncclUint8, dest, comm_, stream_), "ncclSend");
}

void NcclCommunicator::recv(void* data, long n, Dtype t, int source, int) {
  if (!grouped_) fork();
  check_nccl(ncclRecv(data, n * bytes_per_element(t), ncclUint8, source, comm_, stream_), "ncclRecv");
  if (!grouped_) join();
}

}  // namespace parallax::exec
