// Residual connection: out = a + b; its backward passes dout to both inputs.
#pragma once

namespace parallax::kernels {

void residual_forward(float* out, const float* a, const float* b, long n);
void residual_backward(float* da, float* db, const float* dout, long n);  // accumulates

}  // namespace parallax::kernels
