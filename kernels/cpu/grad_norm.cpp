#include "kernels/cpu/grad_norm.hpp"

namespace parallax::kernels {

double sum_of_squares(const float* x, long n) {
  double s = 0;
  for (long i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

void scale(float* x, long n, float factor) {
  for (long i = 0; i < n; ++i) x[i] *= factor;
}

}  // namespace parallax::kernels
