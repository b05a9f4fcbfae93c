// A CPU rank whose kernels run on several threads: its "device" is that many cores. Each core
// past the first adds calibration.thread_efficiency of one core's GEMM peak and memory bandwidth
// (they share caches and the memory bus); GEMM tiles spread over all of them.
#pragma once
#include "models/experiment.hpp"

namespace parallax::sim {

// The system whose device is `threads` cores of `sys`'s one-core device (sys itself for one).
SystemConfig with_threads(const SystemConfig& sys, int threads);

}  // namespace parallax::sim
