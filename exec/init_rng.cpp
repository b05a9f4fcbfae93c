#include "exec/init_rng.hpp"

#include <cmath>

#include "kernels/dropout.hpp"  // splitmix64

namespace parallax::exec {

namespace {
using kernels::splitmix64;
double uniform(std::uint64_t x) { return (static_cast<double>(splitmix64(x) >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
}  // namespace

std::uint64_t tensor_stream(std::uint64_t seed, const std::string& name) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a of the name, mixed with the seed
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return splitmix64(h ^ splitmix64(seed));
}

float normal_at(std::uint64_t stream, std::uint64_t index) {
  const double u1 = uniform(stream + 2 * index), u2 = uniform(stream + 2 * index + 1);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace parallax::exec
