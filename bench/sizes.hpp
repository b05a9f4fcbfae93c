// The message or matrix sizes a benchmark sweeps, with nccl-tests' flags: -b MIN, -e MAX
// (bytes, with K, M or G suffixes of 1024) and -f FACTOR (multiplied until MAX is passed).
#pragma once
#include <string>
#include <vector>

namespace parallax::bench {

struct SizeRange {
  long min_bytes = 8;
  long max_bytes = 64L << 20;
  double factor = 2;
};

// "8", "64K", "32M", "1G": bytes. InputError for anything else.
long parse_bytes(const std::string& text, const std::string& flag);
// min, min*f, min*f^2, ... up to max (max included when reached); InputError for an empty or
// endless range.
std::vector<long> sizes(const SizeRange& r);

}  // namespace parallax::bench
