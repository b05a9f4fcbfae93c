// Cross-entropy fused with the softmax of the logits, in Megatron's vocabulary-parallel form:
// a rank holds the logits of `Vl` consecutive vocabulary columns starting at `begin`, of which
// the first `valid` are real tokens (the rest pad the vocabulary). The row maximum and the sum
// of exponentials are per slice; the caller combines them over the slices (a max and a sum
// all-reduce) between the steps, and sums the per-slice losses, of which only the slice
// holding the target is non-zero. With one slice (begin 0, Vl = Vp, valid = V) no combining is
// needed. Padded entries never change the loss nor receive a gradient.
#pragma once

namespace parallax::kernels {

void crossentropy_row_max(float* max, const float* logits, int N, int Vl, int valid);  // -inf for an empty slice
// logits <- exp(logits - max), padded columns 0; sum[n] = the slice's sum of exponentials.
void crossentropy_exp_sum(float* sum, float* logits, const float* max, int N, int Vl, int valid);
// logits <- probabilities (exp / sum); losses[n] = -log p[target] if the target is in the slice, else 0.
void crossentropy_normalize(float* losses, float* logits, const float* sum, const int* targets, int begin, int N,
                            int Vl, int valid);
// dlogits = (probs - onehot) * dloss (dloss per row, e.g. 1/N for a mean); overwrites.
void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int begin, int N,
                           int Vl, int valid);

// The whole vocabulary in one slice: the three steps above.
void crossentropy_forward(float* losses, float* logits, const int* targets, int N, int V, int Vp);

}  // namespace parallax::kernels
