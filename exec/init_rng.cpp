#include "exec/init_rng.hpp"

#include <cmath>

namespace parallax::exec {

namespace {
// splitmix64 (Steele, Lea & Flood 2014): a good 64-bit mix of a counter.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
double uniform(std::uint64_t x) { return (static_cast<double>(mix(x) >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
}  // namespace

std::uint64_t tensor_stream(std::uint64_t seed, const std::string& name) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a of the name, mixed with the seed
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return mix(h ^ mix(seed));
}

float normal_at(std::uint64_t stream, std::uint64_t index) {
  const double u1 = uniform(stream + 2 * index), u2 = uniform(stream + 2 * index + 1);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace parallax::exec
