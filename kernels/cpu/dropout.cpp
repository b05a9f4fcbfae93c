#include "kernels/cpu/dropout.hpp"

namespace parallax::kernels {

void dropout(float* x, long n, const Dropout& d) {
  if (!d.active()) return;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; ++i) x[i] *= d.factor(d.first + static_cast<std::uint64_t>(i));
}

}  // namespace parallax::kernels
