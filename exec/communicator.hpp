// The communication seam of the executor: collectives and point-to-point messages on a group of
// ranks. The single-process implementation is the identity; MPI (and later NCCL)
// implementations sit behind the same interface, chosen by the run, not by #ifdef in the model.
#pragma once
#include <stdexcept>
#include <vector>

#include "models/experiment.hpp"

namespace parallax::exec {

// The element type of a message or a gathered buffer: fp32, or the bit pattern of a 16-bit
// float (under mixed precision pipeline stages exchange 16-bit activations and gradients, and
// the distributed optimizer gathers 16-bit weights, as Megatron's do).
enum class Dtype { fp32, bf16, fp16 };
inline long bytes_per_element(Dtype t) { return t == Dtype::fp32 ? 4 : 2; }
// The element type a training precision keeps its weights and activations in (fp8 keeps 16 bits).
inline Dtype dtype_of(Precision p) {
  return p == Precision::fp32 ? Dtype::fp32 : p == Precision::fp16 ? Dtype::fp16 : Dtype::bf16;
}

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void all_reduce_sum(double* data, long n) = 0;
  virtual void all_reduce_sum(float* data, long n) = 0;
  virtual void all_reduce_max(float* data, long n) = 0;
  virtual void broadcast(double* data, long n, int root) = 0;
  // data is split in consecutive blocks of counts[i] elements, block i belonging to rank i.
  // reduce_scatter_sum leaves in this rank's block the sum over the group of that block;
  // all_gather copies every rank's block into everyone's data.
  virtual void reduce_scatter_sum(float* data, const std::vector<long>& counts) = 0;
  virtual void all_gather(void* data, const std::vector<long>& counts, Dtype t) = 0;
  void all_gather(float* data, const std::vector<long>& counts) { all_gather(data, counts, Dtype::fp32); }
  // Non-blocking: starts a sum-all-reduce of data[0, n) in place; `progress` lets the library
  // advance what it has started (MPICH moves non-blocking collectives only inside MPI calls);
  // `wait_all` completes everything started.
  virtual void start_all_reduce_sum(float* data, long n) = 0;
  virtual void progress() = 0;
  virtual void wait_all() = 0;
  // Point-to-point within the group. `send` returns at once: data must stay untouched until
  // `wait_sends`. `recv` blocks until the message with this source and tag has arrived;
  // messages between two ranks with the same tag arrive in the order they were sent.
  virtual void send(const void* data, long n, Dtype t, int dest, int tag) = 0;
  virtual void recv(void* data, long n, Dtype t, int source, int tag) = 0;
  virtual void wait_sends() = 0;
  // Point-to-point calls between start_group and end_group are posted together, as NCCL's
  // groups post them: two ranks that send to each other before they receive cannot deadlock.
  // A pipeline's consecutive transfers form one group (exec/transfer_groups.hpp). Where sends
  // return at once (MPI, threads) a group changes nothing.
  virtual void start_group() {}
  virtual void end_group() {}
  void send(const float* data, long n, int dest, int tag) { send(data, n, Dtype::fp32, dest, tag); }
  void recv(float* data, long n, int source, int tag) { recv(data, n, Dtype::fp32, source, tag); }
};

// `bytes` bytes from the root to every rank of the group, through its broadcast of doubles (the
// bits travel unchanged): how NCCL's unique id reaches the ranks of a group before NCCL runs.
void broadcast_bytes(Communicator& group, void* data, long bytes, int root);

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(double*, long) override {}
  void all_reduce_sum(float*, long) override {}
  void all_reduce_max(float*, long) override {}
  void broadcast(double*, long, int) override {}
  void reduce_scatter_sum(float*, const std::vector<long>&) override {}
  void all_gather(void*, const std::vector<long>&, Dtype) override {}
  void start_all_reduce_sum(float*, long) override {}
  void progress() override {}
  void wait_all() override {}
  void send(const void*, long, Dtype, int, int) override {
    throw std::logic_error("a single process has no peer to send to");
  }
  void recv(void*, long, Dtype, int, int) override {
    throw std::logic_error("a single process has no peer to receive from");
  }
  void wait_sends() override {}
};

}  // namespace parallax::exec
