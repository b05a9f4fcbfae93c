// The bytes one rank holds, by part: what the executor measures and the results file stores
// beside the simulator's prediction for the rank's stage (the contract's /runs/<id>/memory).
#pragma once

namespace parallax::results {

struct RankMemory {
  double weights = 0, gradients = 0, optimizer = 0, activations_peak = 0;
  double other = 0;  // the backward's work buffers and the pipeline's message buffers
};

}  // namespace parallax::results
