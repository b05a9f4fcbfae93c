// GeLU, tanh approximation (Hendrycks & Gimpel 2016; GPT-2, nn.GELU(approximate="tanh")).
#pragma once

namespace parallax::kernels {

void gelu_forward(float* out, const float* inp, long n);
void gelu_backward(float* dinp, const float* inp, const float* dout, long n);  // accumulates

}  // namespace parallax::kernels
