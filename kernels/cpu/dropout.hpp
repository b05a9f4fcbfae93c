// Dropout in place: x[i] *= d.factor(d.first + i) (kernels/dropout.hpp). The backward is the
// same call on the gradient.
#pragma once
#include "kernels/dropout.hpp"

namespace parallax::kernels {

void dropout(float* x, long n, const Dropout& d);

}  // namespace parallax::kernels
