// GEMM and memory-bound kernel benchmarks on a backend's kernels (kernels/kernels.hpp), at the
// shapes a model's layers use or on a grid: what `parallax calibrate` fits the device's GEMM
// efficiency curve and memory bandwidth to.
#pragma once
#include <string>
#include <vector>

#include "bench/report.hpp"
#include "kernels/kernels.hpp"
#include "models/experiment.hpp"

namespace parallax::bench {

// out[M, N] = in[M, K] weight[N, K]^T: the executor's linear layer (matmul_forward) with M
// tokens, K inputs and N outputs.
struct GemmShape {
  std::string op;  // qkv, attn_proj, fc, fc_proj, lm_head, or square
  long M = 0, N = 0, K = 0;
};

// The linear layers of one transformer layer and the LM head on one TP rank, for the
// experiment's micro-batch (M = micro_batch * seq_len tokens).
std::vector<GemmShape> layer_gemms(const Experiment& e);
// What `parallax calibrate` times: M (tokens) of 128, 512 and 2048 against N and K of 64, 256
// and 1024, the range of the executor's layers on a CPU.
std::vector<GemmShape> calibration_gemms();
// Square GEMMs of the sizes given.
std::vector<GemmShape> square_gemms(const std::vector<long>& sizes);

// Each shape's forward (one GEMM, 2MNK FLOP) and backward (the input's and the weight's
// gradients, 4MNK FLOP), timed over `iterations` after a warm-up call.
Report bench_gemm(kernels::Kernels& k, const std::vector<GemmShape>& shapes, Precision precision, int iterations);

// The memory-bound kernels (LayerNorm, GeLU, residual addition, AdamW) on `elements` values
// each, forward and backward, in GB/s of the bytes they must move.
Report bench_kernels(kernels::Kernels& k, const std::vector<long>& elements, int iterations);

}  // namespace parallax::bench
