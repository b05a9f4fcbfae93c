// Cross-entropy fused with the softmax of the logits. The logits are [N, Vp] (the vocabulary
// padded to Vp); only the first V columns take part, so padded entries never change the loss
// nor receive a gradient.
#pragma once

namespace parallax::kernels {

// losses[n] = -log softmax(logits[n, :V])[target[n]]. Overwrites logits with the probabilities
// (padded columns zero), ready for the backward.
void crossentropy_forward(float* losses, float* logits, const int* targets, int N, int V, int Vp);
// dlogits = (probs - onehot) * dloss (dloss per row, e.g. 1/N for a mean); overwrites.
void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int N, int V, int Vp);

}  // namespace parallax::kernels
