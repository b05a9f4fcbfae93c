#include "exec/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

namespace parallax::exec {

double learning_rate(const TrainingConfig& t, int it) {
  if (it < t.warmup_steps) return t.lr * (it + 1) / (t.warmup_steps + 1);  // nanoGPT's warm-up
  if (t.lr_schedule == "constant") return t.lr;
  const int decay_steps = std::max(1, t.steps - t.warmup_steps);
  const double ratio = std::min(1.0, static_cast<double>(it - t.warmup_steps) / decay_steps);
  const double coeff = t.lr_schedule == "linear" ? 1.0 - ratio : 0.5 * (1.0 + std::cos(M_PI * ratio));
  return t.min_lr + coeff * (t.lr - t.min_lr);
}

}  // namespace parallax::exec
