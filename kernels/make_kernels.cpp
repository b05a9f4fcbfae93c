// The backends by name: the CPU always; CUDA through its module (kernels/cuda_module.hpp),
// on the device a rank has selected.
#include <memory>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/mixed_precision.hpp"
#include "kernels/cuda_module.hpp"
#include "kernels/kernels.hpp"

namespace parallax::kernels {

std::unique_ptr<Kernels> make_kernels(const std::string& backend, Precision precision) {
  if (backend == "cpu" && precision == Precision::fp32) return std::make_unique<CpuKernels>();
  if (backend == "cpu" && (precision == Precision::bf16 || precision == Precision::fp16))
    return std::make_unique<MixedPrecisionKernels>(precision);
  if (backend == "cpu")
    throw InputError("training.precision = \"" + to_string(precision) +
                     "\": the CPU backend trains in fp32, bf16 or fp16");
  if (backend == "cuda")
    return std::unique_ptr<Kernels>(cuda_function<Kernels*(Precision)>("parallax_cuda_make_kernels")(precision));
  throw InputError("backend \"" + backend + "\": the backends are \"cpu\" and \"cuda\"");
}

int cuda_devices(std::string* why_none) {
  std::string why;
  void* f = cuda_symbol("parallax_cuda_device_count", &why);
  if (!f) {
    if (why_none) *why_none = why;
    return 0;
  }
  return reinterpret_cast<int (*)(std::string*)>(f)(why_none);
}

int select_cuda_device(int node_rank) { return cuda_function<int(int)>("parallax_cuda_select_device")(node_rank); }

}  // namespace parallax::kernels
