// Sum of squares of a gradient buffer, in double; the global norm is the square root of the
// sum over every buffer (and, in parallel runs, over the ranks that own distinct shards).
#pragma once

namespace parallax::kernels {

double sum_of_squares(const float* x, long n);
void scale(float* x, long n, float factor);

}  // namespace parallax::kernels
