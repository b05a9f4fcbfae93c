#include "exec/mpi_communicator.hpp"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <utility>

namespace parallax::exec {

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCommunicator::MpiCommunicator(MpiCommunicator&& other) noexcept
    : comm_(other.comm_),
      rank_(other.rank_),
      size_(other.size_),
      pending_(std::move(other.pending_)),
      sends_(std::move(other.sends_)) {
  other.comm_ = MPI_COMM_NULL;
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_NULL && comm_ != MPI_COMM_WORLD) MPI_Comm_free(&comm_);
}

MpiCommunicator MpiCommunicator::split(int color, int key) const {
  MPI_Comm out;
  MPI_Comm_split(comm_, color, key, &out);
  return MpiCommunicator(out);
}

namespace {
int int_count(long n) {  // MPI counts are int
  if (n > INT_MAX) throw std::length_error("MPI message too large for an int count");
  return static_cast<int>(n);
}

template <typename T>
void all_reduce(T* data, long n, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  for (long done = 0; done < n;) {
    const int count = static_cast<int>(n - done < INT_MAX ? n - done : INT_MAX);
    MPI_Allreduce(MPI_IN_PLACE, data + done, count, type, op, comm);
    done += count;
  }
}
}  // namespace

void MpiCommunicator::start_all_reduce_sum(float* data, long n) {
  for (long done = 0; done < n;) {
    const int count = static_cast<int>(n - done < INT_MAX ? n - done : INT_MAX);
    pending_.emplace_back();
    MPI_Iallreduce(MPI_IN_PLACE, data + done, count, MPI_FLOAT, MPI_SUM, comm_, &pending_.back());
    done += count;
  }
}

namespace {
std::vector<int> int_counts(const std::vector<long>& counts, std::vector<int>* displs) {
  std::vector<int> out;
  long offset = 0;
  for (long c : counts) {
    if (c > INT_MAX || offset > INT_MAX) throw std::length_error("MPI block too large for an int count");
    out.push_back(static_cast<int>(c));
    if (displs) displs->push_back(static_cast<int>(offset));
    offset += c;
  }
  return out;
}
}  // namespace

void MpiCommunicator::reduce_scatter_sum(float* data, const std::vector<long>& counts) {
  std::vector<int> displs;
  const std::vector<int> c = int_counts(counts, &displs);
  std::vector<float> block(static_cast<size_t>(c[rank_]));
  MPI_Reduce_scatter(data, block.data(), c.data(), MPI_FLOAT, MPI_SUM, comm_);
  std::copy(block.begin(), block.end(), data + displs[rank_]);
}

namespace {
MPI_Datatype mpi_type(Dtype t) { return t == Dtype::fp32 ? MPI_FLOAT : MPI_UINT16_T; }
}  // namespace

void MpiCommunicator::all_gather(void* data, const std::vector<long>& counts, Dtype t) {
  std::vector<int> displs;
  const std::vector<int> c = int_counts(counts, &displs);
  MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, c.data(), displs.data(), mpi_type(t), comm_);
}

void MpiCommunicator::progress() {
  if (pending_.empty()) return;
  int flag = 0;
  MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &flag, MPI_STATUSES_IGNORE);
}

void MpiCommunicator::wait_all() {
  MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
  pending_.clear();
}

void MpiCommunicator::all_reduce_sum(double* data, long n) { all_reduce(data, n, MPI_DOUBLE, MPI_SUM, comm_); }
void MpiCommunicator::all_reduce_sum(float* data, long n) { all_reduce(data, n, MPI_FLOAT, MPI_SUM, comm_); }
void MpiCommunicator::all_reduce_max(float* data, long n) { all_reduce(data, n, MPI_FLOAT, MPI_MAX, comm_); }

void MpiCommunicator::broadcast(double* data, long n, int root) {
  MPI_Bcast(data, int_count(n), MPI_DOUBLE, root, comm_);
}

void MpiCommunicator::send(const void* data, long n, Dtype t, int dest, int tag) {
  sends_.emplace_back();
  MPI_Isend(data, int_count(n), mpi_type(t), dest, tag, comm_, &sends_.back());
}

void MpiCommunicator::recv(void* data, long n, Dtype t, int source, int tag) {
  MPI_Recv(data, int_count(n), mpi_type(t), source, tag, comm_, MPI_STATUS_IGNORE);
}

void MpiCommunicator::wait_sends() {
  MPI_Waitall(static_cast<int>(sends_.size()), sends_.data(), MPI_STATUSES_IGNORE);
  sends_.clear();
}

}  // namespace parallax::exec
