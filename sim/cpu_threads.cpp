#include "sim/cpu_threads.hpp"

namespace parallax::sim {

SystemConfig with_threads(const SystemConfig& sys, int threads) {
  if (threads <= 1) return sys;
  SystemConfig out = sys;
  const double cores = 1 + (threads - 1) * sys.calibration.thread_efficiency;
  DeviceSpec& d = out.device;
  d.sms *= threads;
  for (double* peak :
       {&d.peak_tflops_fp32, &d.peak_tflops_fp16, &d.peak_tflops_bf16, &d.peak_tflops_fp8, &d.peak_tflops_vector_fp16})
    *peak *= cores;
  d.memory_gbps *= cores;
  return out;
}

}  // namespace parallax::sim
