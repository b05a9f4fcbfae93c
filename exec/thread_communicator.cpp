#include "exec/thread_communicator.hpp"

#include <algorithm>
#include <numeric>

namespace parallax::exec {

template <class Combine, class Store>
void ThreadCommunicator::collective(const void* mine, Combine combine, Store store) {
  group_.slots_[rank_] = mine;
  group_.sync_.arrive_and_wait();  // every buffer posted
  combine(group_.slots_);
  group_.sync_.arrive_and_wait();  // every rank has read
  store();
}

namespace {
template <class T, class Op>
void reduce(ThreadGroup& g, const std::vector<const void*>& slots, std::vector<T>& out, long begin, long n, Op op) {
  out.assign(static_cast<const T*>(slots[0]) + begin, static_cast<const T*>(slots[0]) + begin + n);
  for (int r = 1; r < g.size(); ++r) {
    const T* theirs = static_cast<const T*>(slots[r]) + begin;
    for (long i = 0; i < n; ++i) out[i] = op(out[i], theirs[i]);
  }
}
std::vector<long> offsets(const std::vector<long>& counts) {
  std::vector<long> out(counts.size(), 0);
  std::exclusive_scan(counts.begin(), counts.end(), out.begin(), 0L);
  return out;
}
}  // namespace

void ThreadCommunicator::all_reduce_sum(double* data, long n) {
  std::vector<double> out;
  collective(
      data, [&](const auto& s) { reduce(group_, s, out, 0, n, std::plus<double>()); },
      [&] { std::copy(out.begin(), out.end(), data); });
}

void ThreadCommunicator::all_reduce_sum(float* data, long n) {
  std::vector<float> out;
  collective(
      data, [&](const auto& s) { reduce(group_, s, out, 0, n, std::plus<float>()); },
      [&] { std::copy(out.begin(), out.end(), data); });
}

void ThreadCommunicator::all_reduce_max(float* data, long n) {
  std::vector<float> out;
  collective(
      data, [&](const auto& s) { reduce(group_, s, out, 0, n, [](float a, float b) { return std::max(a, b); }); },
      [&] { std::copy(out.begin(), out.end(), data); });
}

void ThreadCommunicator::broadcast(double* data, long n, int root) {
  std::vector<double> out;
  collective(
      data,
      [&](const auto& s) { out.assign(static_cast<const double*>(s[root]), static_cast<const double*>(s[root]) + n); },
      [&] { std::copy(out.begin(), out.end(), data); });
}

void ThreadCommunicator::reduce_scatter_sum(float* data, const std::vector<long>& counts) {
  const long begin = offsets(counts)[rank_];
  std::vector<float> out;
  collective(
      data, [&](const auto& s) { reduce(group_, s, out, begin, counts[rank_], std::plus<float>()); },
      [&] { std::copy(out.begin(), out.end(), data + begin); });
}

void ThreadCommunicator::all_gather(void* data, const std::vector<long>& counts, Dtype t) {
  const long size_of = bytes_per_element(t);
  const std::vector<long> at = offsets(counts);
  std::vector<std::byte> out((at.back() + counts.back()) * size_of);
  collective(
      data,
      [&](const auto& s) {
        for (int r = 0; r < size(); ++r)
          std::copy_n(static_cast<const std::byte*>(s[r]) + at[r] * size_of, counts[r] * size_of,
                      out.begin() + at[r] * size_of);
      },
      [&] { std::copy(out.begin(), out.end(), static_cast<std::byte*>(data)); });
}

void ThreadCommunicator::send(const void* data, long n, Dtype t, int dest, int tag) {
  const auto* bytes = static_cast<const std::byte*>(data);
  {
    std::lock_guard<std::mutex> lock(group_.mail_lock_);
    group_.mail_[{rank_, dest, tag}].emplace_back(bytes, bytes + n * bytes_per_element(t));
  }
  group_.mail_arrived_.notify_all();
}

void ThreadCommunicator::recv(void* data, long n, Dtype t, int source, int tag) {
  std::unique_lock<std::mutex> lock(group_.mail_lock_);
  auto& box = group_.mail_[{source, rank_, tag}];
  group_.mail_arrived_.wait(lock, [&] { return !box.empty(); });
  if (static_cast<long>(box.front().size()) != n * bytes_per_element(t))
    throw std::logic_error("recv: a message of another size");
  std::copy(box.front().begin(), box.front().end(), static_cast<std::byte*>(data));
  box.pop_front();
}

}  // namespace parallax::exec
