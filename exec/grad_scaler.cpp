#include "exec/grad_scaler.hpp"

#include <algorithm>

namespace parallax::exec {

DynamicGradScaler::DynamicGradScaler(const Settings& s)
    : s_(s), scale_(s.initial_scale), hysteresis_tracker_(s.hysteresis) {}

void DynamicGradScaler::update(bool found_inf) {
  if (found_inf) {
    growth_tracker_ = 0;
    if (--hysteresis_tracker_ <= 0) scale_ = std::max(scale_ * s_.backoff_factor, s_.min_scale);
    return;
  }
  if (++growth_tracker_ == s_.growth_interval) {
    growth_tracker_ = 0;
    hysteresis_tracker_ = s_.hysteresis;
    scale_ *= s_.growth_factor;
  }
}

DynamicGradScaler::Settings loss_scale_settings(const TrainingConfig& t) {
  DynamicGradScaler::Settings s;
  s.initial_scale = static_cast<float>(t.initial_loss_scale);
  s.min_scale = static_cast<float>(t.min_loss_scale);
  s.growth_interval = t.loss_scale_window;
  s.hysteresis = t.hysteresis;
  return s;
}

}  // namespace parallax::exec
