// Communicator over MPI ranks (MPICH here; NCCL later behind the same interface). One object
// per group: the world, or a TP, PP or DP group split from it (MPI_Comm_split).
#pragma once
#include <mpi.h>

#include <vector>

#include "exec/communicator.hpp"

namespace parallax::exec {

// MPI for the duration of a run: initialised on entry, finalised on every way out.
struct MpiSession {
  MpiSession() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) MPI_Init(nullptr, nullptr);
  }
  ~MpiSession() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
};

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm);  // takes ownership unless comm is MPI_COMM_WORLD
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  // The ranks of this group that share `color`, ordered by `key` (MPI_Comm_split).
  MpiCommunicator split(int color, int key) const;
  MpiCommunicator(MpiCommunicator&& other) noexcept;

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
  void progress() override;
  void wait_all() override;
  using Communicator::recv;
  using Communicator::send;
  void send(const void* data, long n, Dtype t, int dest, int tag) override;
  void recv(void* data, long n, Dtype t, int source, int tag) override;
  void wait_sends() override;
  MPI_Comm handle() const { return comm_; }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::vector<MPI_Request> pending_, sends_;
};

}  // namespace parallax::exec
