// The entry points of the CUDA module (kernels/cuda_module.hpp): what the executable looks up
// by name once it has loaded libparallax_cuda.so.
#include "exec/nccl_communicator.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_kernels.hpp"
#include "kernels/cuda/device.hpp"

using namespace parallax;

extern "C" {

int parallax_cuda_device_count(std::string* why_none) {
  const int n = kernels::cuda::device_count();
  if (n == 0 && why_none) *why_none = kernels::cuda::no_device_reason();
  return n;
}

int parallax_cuda_select_device(int node_rank) { return kernels::cuda::select_device(node_rank); }

// Owned by the caller.
kernels::Kernels* parallax_cuda_make_kernels(Precision precision) { return new kernels::cuda::CudaKernels(precision); }

// Seconds per GEMM out[M, N] = in[M, K] weight[N, K]^T on operands already on the device in the
// precision's format (bf16, fp16 or fp32), cuBLASLt alone, timed by events over `iterations`
// calls after two: the library against the device's peak, where the kernel seam's GEMMs also
// cast their fp32 operands.
double parallax_cuda_gemm_seconds(int M, int N, int K, Precision precision, int iterations) {
  using namespace kernels::cuda;
  const bool half = precision == Precision::bf16 || precision == Precision::fp16;
  const cudaDataType in = precision == Precision::bf16   ? CUDA_R_16BF
                          : precision == Precision::fp16 ? CUDA_R_16F
                                                         : CUDA_R_32F;
  const std::size_t width = half ? 2 : 4;
  cudaStream_t stream = nullptr;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");
  double seconds = 0;
  {
    Scratch scratch(stream);
    Gemm gemm(stream, scratch, std::nullopt);
    void *a = nullptr, *b = nullptr, *c = nullptr;
    check(cudaMalloc(&a, width * M * K), "cudaMalloc");
    check(cudaMalloc(&b, width * N * K), "cudaMalloc");
    check(cudaMalloc(&c, sizeof(float) * M * N), "cudaMalloc");
    check(cudaMemset(a, 0x3c, width * M * K), "cudaMemset");  // about 0.01 in each format: finite products
    check(cudaMemset(b, 0x3c, width * N * K), "cudaMemset");
    const GemmShape g{.ta = false, .tb = true, .M = M, .N = N, .K = K, .lda = K, .ldb = K, .ldc = N};
    for (int i = 0; i < 2; ++i) gemm.multiply(g, a, b, in, static_cast<float*>(c), 1.0f, 0.0f);
    cudaEvent_t start, stop;
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    for (int i = 0; i < iterations; ++i) gemm.multiply(g, a, b, in, static_cast<float*>(c), 1.0f, 0.0f);
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    seconds = ms / 1e3 / iterations;
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
  }
  cudaStreamDestroy(stream);
  return seconds;
}

// NCCL over `group`'s ranks, ordered against the kernels' stream; owned by the caller.
exec::Communicator* parallax_cuda_make_communicator(exec::Communicator& group, kernels::Kernels& kernels) {
  return new exec::NcclCommunicator(group, dynamic_cast<kernels::cuda::CudaKernels&>(kernels).stream());
}
}
