#include "bench/sizes.hpp"

#include <cmath>

#include "models/experiment.hpp"

namespace parallax::bench {

long parse_bytes(const std::string& text, const std::string& flag) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string suffix = text.substr(used);
  const double unit = suffix.empty()                   ? 1
                      : suffix == "K" || suffix == "k" ? 1024.0
                      : suffix == "M"                  ? 1024.0 * 1024
                      : suffix == "G"                  ? 1024.0 * 1024 * 1024
                                                       : 0;
  if (used == 0 || unit == 0 || !(value > 0))
    throw InputError(flag + " " + text + ": a positive size in bytes, optionally with K, M or G (8, 64K, 32M)");
  return std::lround(value * unit);
}

std::vector<long> sizes(const SizeRange& r) {
  if (r.min_bytes <= 0 || r.max_bytes < r.min_bytes)
    throw InputError("-b " + std::to_string(r.min_bytes) + " -e " + std::to_string(r.max_bytes) +
                     ": the range needs 0 < MIN <= MAX");
  if (!(r.factor > 1) && r.max_bytes > r.min_bytes)
    throw InputError("-f " + std::to_string(r.factor) + ": the factor must be above 1");
  std::vector<long> out;
  for (double s = static_cast<double>(r.min_bytes); s <= static_cast<double>(r.max_bytes) * (1 + 1e-9); s *= r.factor) {
    out.push_back(std::lround(s));
    if (r.max_bytes == r.min_bytes) break;
  }
  return out;
}

}  // namespace parallax::bench
