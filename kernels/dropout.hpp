// Dropout whose mask is a pure function of counters (the counter-based idea of Salmon et al.
// 2011, with splitmix64 as the hash): element i of a site is kept when hash(stream, first + i)
// clears the drop probability, and kept elements are scaled by 1/(1 - p) (inverted dropout, as
// torch.nn.Dropout). No mask is stored: the backward draws it again, and so does a recomputed
// forward. A counter names an element of the whole tensor of a step (its sample in the stream
// of training sequences, its token, its feature or head), so every parallel layout, every
// recomputation and every backend drops the same elements.
#pragma once
#include <cstdint>

// The same masks on every backend: the hash is compiled for the host and, under nvcc, the device.
#ifdef __CUDACC__
#define PARALLAX_HOST_DEVICE __host__ __device__
#else
#define PARALLAX_HOST_DEVICE
#endif

namespace parallax::kernels {

// splitmix64's output function (Steele, Lea & Flood 2014): a good 64-bit mix of a counter.
PARALLAX_HOST_DEVICE inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Dropout {
  float p = 0;                    // the probability of dropping an element; 0: no dropout
  std::uint64_t stream = 0;       // one per (seed, layer, site)
  std::uint64_t first = 0;        // the counter of the kernel's element 0
  int first_head = 0, heads = 1;  // attention probabilities: this rank's first head, and the model's heads

  PARALLAX_HOST_DEVICE bool active() const { return p > 0; }
  // 1/(1 - p) for a kept element, 0 for a dropped one; `counter` is first + the element's index.
  PARALLAX_HOST_DEVICE float factor(std::uint64_t counter) const {
    const std::uint64_t u = splitmix64(stream + counter * 0x9e3779b97f4a7c15ULL) >> 40;  // 24 uniform bits
    return static_cast<float>(u) >= p * 0x1.0p24f ? 1.0f / (1.0f - p) : 0.0f;
  }
};

}  // namespace parallax::kernels
