// The backends this build holds, by name: the CPU always; CUDA where the toolkit was found
// (PARALLAX_HAVE_CUDA), on the device a rank has selected.
#include <memory>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/mixed_precision.hpp"
#include "kernels/kernels.hpp"
#ifdef PARALLAX_HAVE_CUDA
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/device.hpp"
#endif

namespace parallax::kernels {

std::unique_ptr<Kernels> make_kernels(const std::string& backend, Precision precision) {
  if (backend == "cpu" && precision == Precision::fp32) return std::make_unique<CpuKernels>();
  if (backend == "cpu" && (precision == Precision::bf16 || precision == Precision::fp16))
    return std::make_unique<MixedPrecisionKernels>(precision);
  if (backend == "cpu")
    throw InputError("training.precision = \"" + to_string(precision) +
                     "\": the CPU backend trains in fp32, bf16 or fp16");
#ifdef PARALLAX_HAVE_CUDA
  if (backend == "cuda") return std::make_unique<cuda::CudaKernels>(precision);
#endif
  throw InputError("backend \"" + backend + "\": this build runs " +
                   (cuda_built() ? "\"cpu\" and \"cuda\"" : "\"cpu\" only"));
}

bool cuda_built() {
#ifdef PARALLAX_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_devices(std::string* why_none) {
#ifdef PARALLAX_HAVE_CUDA
  const int n = cuda::device_count();
  if (n == 0 && why_none) *why_none = cuda::no_device_reason();
  return n;
#else
  if (why_none) *why_none = "this build has no CUDA backend (CMake found no CUDA toolkit)";
  return 0;
#endif
}

int select_cuda_device(int node_rank) {
#ifdef PARALLAX_HAVE_CUDA
  return cuda::select_device(node_rank);
#else
  (void)node_rank;
  throw std::logic_error("select_cuda_device: this build has no CUDA backend");
#endif
}

}  // namespace parallax::kernels
