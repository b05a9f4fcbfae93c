// 16-bit floating point on the CPU: bf16 (bfloat16: fp32's exponent, 7 mantissa bits) and fp16
// (IEEE binary16) held as their bit patterns. Conversions from fp32 round to nearest, ties to
// even (as PyTorch's .to(torch.bfloat16) and .half() do); fp16 overflows to infinity and keeps
// subnormals; NaN stays NaN. Mixed precision keeps 16-bit weights and activations and computes
// in fp32 (Micikevicius et al. 2018).
#pragma once
#include <cstdint>

#include "models/experiment.hpp"

namespace parallax::kernels {

std::uint16_t to_bf16(float x);
float from_bf16(std::uint16_t h);
std::uint16_t to_fp16(float x);
float from_fp16(std::uint16_t h);

// Casts between fp32 and a 16-bit precision (bf16 or fp16), n elements.
void cast_to_16bit(std::uint16_t* out, const float* in, long n, Precision p);
void cast_from_16bit(float* out, const std::uint16_t* in, long n, Precision p);
// Rounds fp32 values in place to the nearest value the 16-bit precision holds.
void round_to_16bit(float* x, long n, Precision p);
// Mixed precision's gradient check: x *= inv_scale; false when any element is inf or NaN
// (the step is then skipped and the loss scale lowered).
bool unscale_and_check(float* x, long n, float inv_scale);

}  // namespace parallax::kernels
