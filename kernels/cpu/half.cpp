#include "kernels/cpu/half.hpp"

#include <bit>
#include <cmath>
#include <stdexcept>

namespace parallax::kernels {

// Without a branch, so that the loops over it vectorise.
std::uint16_t to_bf16(float x) {
  const auto bits = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t tie_to_even = 0x7fff + ((bits >> 16) & 1);
  const std::uint32_t rounded = (bits + tie_to_even) >> 16;
  const std::uint32_t quiet_nan = (bits >> 16) | 0x40;
  return static_cast<std::uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

float from_bf16(std::uint16_t h) { return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16); }

// _Float16 is IEEE binary16 (GCC and Clang on x86-64 and AArch64); its conversion rounds to
// nearest even.
std::uint16_t to_fp16(float x) { return std::bit_cast<std::uint16_t>(static_cast<_Float16>(x)); }
float from_fp16(std::uint16_t h) { return static_cast<float>(std::bit_cast<_Float16>(h)); }

namespace {
void require_16bit(Precision p) {
  if (p != Precision::bf16 && p != Precision::fp16)
    throw std::logic_error("a 16-bit cast needs bf16 or fp16, not " + to_string(p));
}
}  // namespace

void cast_to_16bit(std::uint16_t* out, const float* in, long n, Precision p) {
  require_16bit(p);
  if (p == Precision::bf16) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i) out[i] = to_bf16(in[i]);
  } else {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i) out[i] = to_fp16(in[i]);
  }
}

void cast_from_16bit(float* out, const std::uint16_t* in, long n, Precision p) {
  require_16bit(p);
  if (p == Precision::bf16) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i) out[i] = from_bf16(in[i]);
  } else {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i) out[i] = from_fp16(in[i]);
  }
}

void round_to_16bit(float* x, long n, Precision p) {
  require_16bit(p);
  if (p == Precision::bf16) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i) x[i] = from_bf16(to_bf16(x[i]));
  } else {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i) x[i] = from_fp16(to_fp16(x[i]));
  }
}

bool unscale_and_check(float* x, long n, float inv_scale) {
  bool finite = true;
  for (long i = 0; i < n; ++i) {
    x[i] *= inv_scale;
    finite &= std::isfinite(x[i]);
  }
  return finite;
}

}  // namespace parallax::kernels
