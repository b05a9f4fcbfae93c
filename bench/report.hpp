// One benchmark's table as it is printed, written to CSV and to the results file
// (`/benchmarks/<id>/rows`, with the kind and what ran as attributes: contract v2), and read
// back by `parallax calibrate --from`.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "results/results_file.hpp"

namespace parallax::bench {

struct Report {
  std::string kind;  // gemm, kernels, collectives, p2p
  std::vector<results::Column> columns;
  std::vector<std::vector<results::Value>> rows;
  std::vector<std::pair<std::string, std::string>> attributes;  // what ran: ranks, threads, libraries

  // The numbers of a column by name (int64 or float64); InputError when absent.
  std::vector<double> numbers(const std::string& column) const;
  std::vector<std::string> strings(const std::string& column) const;
};

// Right-aligned columns under a "#"-prefixed header, nccl-tests' look; numbers with the digits
// each column's unit needs.
std::string format_text(const Report& r);
std::string format_csv(const Report& r);
// Adds /benchmarks/<id>; returns the id.
std::string add_benchmark(const std::string& path, const Report& r);
// Every benchmark in a results file, in the order written. InputError for a file that is not ours.
std::vector<Report> read_benchmarks(const std::string& path);

}  // namespace parallax::bench
