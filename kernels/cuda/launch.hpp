// The CUDA kernels of the backend, as host functions that launch them on a stream (the files
// beside this one, one concern each, in llm.c's manner). Buffers are device-addressable; the
// contracts are those of kernels/kernels.hpp, "accumulates" included.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/dropout.hpp"

namespace parallax::kernels::cuda {

// 16-bit formats of mixed precision: bf16, or IEEE fp16.
enum class Half { bf16, fp16 };

// elementwise.cu
void gelu_forward(float* out, const float* inp, long n, cudaStream_t s);
void gelu_backward(float* dinp, const float* inp, const float* dout, long n, cudaStream_t s);
void residual_forward(float* out, const float* a, const float* b, long n, cudaStream_t s);
void residual_backward(float* da, float* db, const float* dout, long n, cudaStream_t s);
void accumulate(float* out, const float* in, long n, cudaStream_t s);
void scale(float* x, long n, float factor, cudaStream_t s);
void dropout(float* x, long n, const Dropout& d, cudaStream_t s);

// casts.cu: round to nearest even, as the CPU backend's kernels/cpu/half.hpp.
void cast_to_16bit(std::uint16_t* out, const float* in, long n, Half h, cudaStream_t s);
void cast_from_16bit(float* out, const std::uint16_t* in, long n, Half h, cudaStream_t s);
void round_to_16bit(float* x, long n, Half h, cudaStream_t s);
// x *= inv_scale, *flag set to 1 when any element is inf or NaN (flag left as it was otherwise).
void unscale_and_flag(float* x, long n, float inv_scale, int* flag, cudaStream_t s);

// reductions.cu: the squared norm summed in fp64 into out[0] (out holds 1 + kNormPartials
// doubles: the blocks' partial sums follow); the
// column sums of a row-major [N, C] matrix added into out[C], the rows summed in a fixed order
// (partial sums of row blocks, then the blocks in order) with `partials` holding
// kColumnSumBlocks * C floats.
constexpr int kColumnSumBlocks = 64;
constexpr int kNormPartials = 256;
void sum_of_squares(double* out, const float* x, long n, cudaStream_t s);
void add_column_sums(float* out, const float* in, int N, int C, float* partials, cudaStream_t s);
// out[N, C] rows each set to bias[C].
void fill_rows(float* out, const float* bias, int N, int C, cudaStream_t s);

// layernorm.cu: one warp per row; the parameters' gradients through add_column_sums of the
// per-row products (`work`: N * C floats, `partials` as add_column_sums).
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C, cudaStream_t s);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C, float* work,
                        float* partials, cudaStream_t s);

// embedding.cu
void embedding_forward(float* out, const int* tokens, const float* wte, int begin, int rows, const float* wpe, int B,
                       int T, int C, cudaStream_t s);
void embedding_backward(float* dwte, int begin, int rows, float* dwpe, const float* dout, const int* tokens, int B,
                        int T, int C, cudaStream_t s);
void add_positions(float* out, const float* wpe, long first, long tokens, int T, int C, cudaStream_t s);

// crossentropy.cu: one block per row.
void crossentropy_row_max(float* max, const float* logits, int N, int Vl, int valid, cudaStream_t s);
void crossentropy_exp_sum(float* sum, float* logits, const float* max, int N, int Vl, int valid, cudaStream_t s);
void crossentropy_normalize(float* losses, float* logits, const float* sum, const int* targets, int begin, int N,
                            int Vl, int valid, cudaStream_t s);
void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int begin, int N,
                           int Vl, int valid, cudaStream_t s);

// adamw.cu
void adamw_update(float* param, const float* grad, float* m, float* v, long n, int step, float lr, float beta1,
                  float beta2, float eps, float weight_decay, cudaStream_t s);

// attention.cu: the pieces around the batched GEMMs (kernels/cuda/attention_pass.cpp).
// q, k, v [B, NH, T, hs] from fused QKV [B, T, 3C]; and back, adding into dqkv.
void split_heads(float* q, float* k, float* v, const float* qkv, int B, int T, int C, int NH, cudaStream_t s);
void merge_heads_add(float* dqkv, const float* dq, const float* dk, const float* dv, int B, int T, int C, int NH,
                     cudaStream_t s);
// y [B, NH, T, hs] to out [B, T, C], and dout [B, T, C] to dy [B, NH, T, hs].
void heads_to_rows(float* out, const float* y, int B, int T, int C, int NH, cudaStream_t s);
void rows_to_heads(float* y, const float* out, int B, int T, int C, int NH, cudaStream_t s);
// Scores [BH, T, T] (already scaled) to causal probabilities in place with each row's
// log-sum-exp; or, given lse, the probabilities recomputed from the scores.
void causal_softmax(float* scores, float* lse, int BH, int T, cudaStream_t s);
void causal_probabilities(float* scores, const float* lse, int BH, int T, cudaStream_t s);
// dropped = P * factor of each probability's counter (kernels/kernels.hpp); heads: this rank's NH.
void drop_probabilities(float* dropped, const float* P, const Dropout& d, int B, int NH, int T, cudaStream_t s);
// dS = P * (dropout(dP) - rowsum(dO * O)) * scale on the causal triangle, 0 above it, in dP's place.
void softmax_backward(float* dP, const float* P, const float* dout, const float* out, const Dropout& d, int B, int NH,
                      int T, int C, float scale, cudaStream_t s);

}  // namespace parallax::kernels::cuda
