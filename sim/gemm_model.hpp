// Time of one GEMM (or a batch of equal GEMMs) and of a memory-bound kernel on a device.
#pragma once
#include "models/experiment.hpp"

namespace parallax::sim {

struct Gemm {
  double m = 0, n = 0, k = 0;  // C[m,n] = A[m,k] * B[k,n]
  double batch = 1;
};

double gemm_flops(const Gemm& g);  // 2*m*n*k*batch

// Shape-aware GEMM time:
//   efficiency = gemm_efficiency * wave_util * k/(k + gemm_k_half)
// where wave_util is the fraction of the SMs' tile slots doing useful work (tile and wave
// quantisation, as in NVIDIA's "Matrix Multiplication Background User's Guide"), and dims that
// are not multiples of 8 elements fall off the tensor cores (same guide, "Tensor Core
// requirements") to the vector peak. The time is never below the roofline's memory time.
double gemm_time(const Gemm& g, const SystemConfig& sys, Precision precision);

// A kernel that streams `bytes` through device memory.
double memory_time(double bytes, const SystemConfig& sys);

}  // namespace parallax::sim
