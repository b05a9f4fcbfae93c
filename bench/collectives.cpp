#include "bench/collectives.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "sim/collectives.hpp"

namespace parallax::bench {

namespace {

// The buffer of one size: whole elements (floats; doubles for broadcast), and what one rank
// contributes or receives.
struct Shape {
  long elements = 0, count = 0, bytes = 0;
};

Shape shape_of(Collective c, long bytes, int n) {
  const long width = c == Collective::broadcast ? 8 : 4;
  Shape s;
  if (c == Collective::reduce_scatter || c == Collective::all_gather) {
    s.count = std::max(1L, bytes / (width * n));
    s.elements = s.count * n;
  } else {
    s.elements = s.count = std::max(1L, bytes / width);
  }
  s.bytes = s.elements * width;
  return s;
}

// One operation in place on the buffer (floats, or doubles for broadcast).
void operate(exec::Communicator& comm, Collective c, std::vector<float>& f, std::vector<double>& d, const Shape& s) {
  const int n = comm.size(), me = comm.rank();
  switch (c) {
    case Collective::all_reduce:
      return comm.all_reduce_sum(f.data(), s.elements);
    case Collective::reduce_scatter:
      return comm.reduce_scatter_sum(f.data(), std::vector<long>(n, s.count));
    case Collective::all_gather:
      return comm.all_gather(f.data(), std::vector<long>(n, s.count));
    case Collective::broadcast:
      return comm.broadcast(d.data(), s.elements, 0);
    case Collective::send_recv:
      comm.send(f.data(), s.elements, (me + 1) % n, 0);
      comm.recv(f.data() + s.elements, s.elements, (me + n - 1) % n, 0);
      return comm.wait_sends();
  }
}

// Fills the buffer so that the exact answer is known, runs once, and counts the elements that
// differ from it (summed over the ranks). Every value is a small integer: exact in any order.
long count_wrong(exec::Communicator& comm, Collective c, std::vector<float>& f, std::vector<double>& d,
                 const Shape& s) {
  const int n = comm.size(), me = comm.rank();
  const float all = static_cast<float>(n * (n + 1) / 2);
  std::fill(f.begin(), f.end(), static_cast<float>(me + 1));
  std::fill(d.begin(), d.end(), me == 0 ? 7.0 : 0.0);
  if (c == Collective::all_gather) std::fill(f.begin(), f.end(), -1.0f);
  if (c == Collective::all_gather) std::fill_n(f.begin() + me * s.count, s.count, static_cast<float>(me + 1));
  operate(comm, c, f, d, s);
  long wrong = 0;
  for (long i = 0; i < s.elements; ++i) {
    switch (c) {
      case Collective::all_reduce:
        wrong += f[i] != all;
        break;
      case Collective::reduce_scatter:
        wrong += i / s.count == me && f[i] != all;
        break;
      case Collective::all_gather:
        wrong += f[i] != static_cast<float>(i / s.count + 1);
        break;
      case Collective::broadcast:
        wrong += d[i] != 7.0;
        break;
      case Collective::send_recv:
        wrong += f[s.elements + i] != static_cast<float>((me + n - 1) % n + 1);
        break;
    }
  }
  double total = static_cast<double>(wrong);
  comm.all_reduce_sum(&total, 1);
  return static_cast<long>(total);
}

// Seconds per operation on this rank, averaged over the group.
double time_per_operation(exec::Communicator& comm, Collective c, std::vector<float>& f, std::vector<double>& d,
                          const Shape& s, const Repeats& repeats) {
  for (int i = 0; i < repeats.warmup; ++i) operate(comm, c, f, d, s);
  double sync = 0;
  comm.all_reduce_sum(&sync, 1);  // start together
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats.iterations; ++i) operate(comm, c, f, d, s);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / repeats.iterations;
  comm.all_reduce_sum(&seconds, 1);
  return seconds / comm.size();
}

}  // namespace

std::string to_string(Collective c) {
  switch (c) {
    case Collective::all_reduce:
      return "all_reduce";
    case Collective::reduce_scatter:
      return "reduce_scatter";
    case Collective::all_gather:
      return "all_gather";
    case Collective::broadcast:
      return "broadcast";
    case Collective::send_recv:
      return "send_recv";
  }
  return "?";
}

double busbw_factor(Collective c, int n) {
  switch (c) {
    case Collective::all_reduce:
      return sim::busbw_factor(sim::Collective::all_reduce, n);
    case Collective::reduce_scatter:
      return sim::busbw_factor(sim::Collective::reduce_scatter, n);
    case Collective::all_gather:
      return sim::busbw_factor(sim::Collective::all_gather, n);
    case Collective::broadcast:
    case Collective::send_recv:
      return 1.0;
  }
  return 1.0;
}

Report bench_collective(exec::Communicator& comm, Collective c, const SizeRange& range, const Repeats& repeats) {
  using results::ColumnType;
  const int n = comm.size();
  if (c == Collective::send_recv && n < 2) throw InputError("bench p2p needs 2 or more ranks (run under mpiexec -n 2)");
  Report r{c == Collective::send_recv ? "p2p" : "collectives",
           {{"op", ColumnType::string},
            {"size", ColumnType::int64},
            {"count", ColumnType::int64},
            {"type", ColumnType::string},
            {"redop", ColumnType::string},
            {"root", ColumnType::int64},
            {"time_us", ColumnType::float64},
            {"algbw_GBps", ColumnType::float64},
            {"busbw_GBps", ColumnType::float64},
            {"wrong", ColumnType::int64}},
           {},
           {{"ranks", std::to_string(n)}}};
  const bool sums = c == Collective::all_reduce || c == Collective::reduce_scatter;
  for (long bytes : sizes(range)) {
    const Shape s = shape_of(c, bytes, n);
    std::vector<float> f(c == Collective::broadcast ? 0 : s.elements * (c == Collective::send_recv ? 2 : 1));
    std::vector<double> d(c == Collective::broadcast ? s.elements : 0);
    const long wrong = count_wrong(comm, c, f, d, s);
    const double seconds = time_per_operation(comm, c, f, d, s, repeats);
    const double algbw = static_cast<double>(s.bytes) / seconds / 1e9;
    r.rows.push_back({to_string(c), static_cast<long long>(s.bytes), static_cast<long long>(s.count),
                      std::string(c == Collective::broadcast ? "double" : "float"), std::string(sums ? "sum" : "none"),
                      static_cast<long long>(c == Collective::broadcast ? 0 : -1), seconds * 1e6, algbw,
                      algbw * busbw_factor(c, n), static_cast<long long>(wrong)});
  }
  return r;
}

Report bench_collectives(exec::Communicator& comm, const std::vector<Collective>& collectives, const SizeRange& range,
                         const Repeats& repeats) {
  Report all;
  for (Collective c : collectives) {
    Report r = bench_collective(comm, c, range, repeats);
    if (all.columns.empty())
      all = std::move(r);
    else
      all.rows.insert(all.rows.end(), r.rows.begin(), r.rows.end());
  }
  return all;
}

}  // namespace parallax::bench
