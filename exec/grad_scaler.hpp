// fp16's dynamic loss scale, as Megatron's DynamicGradScaler keeps it
// (megatron/core/optimizer/grad_scaler.py): the loss is multiplied by the scale before the
// backward so that small gradients survive fp16; a step whose gradients overflow is skipped,
// and after `hysteresis` such steps in a row the scale is multiplied by the backoff factor (not
// below the minimum); after `growth_interval` steps without one it is multiplied by the growth
// factor. The scale is an fp32 number, as Megatron's tensor is.
#pragma once
#include "models/experiment.hpp"

namespace parallax::exec {

class DynamicGradScaler {
 public:
  // Megatron's defaults: --initial-loss-scale 2^32, --min-loss-scale 1, --loss-scale-window
  // 1000, --hysteresis 2; growth 2, backoff 0.5.
  struct Settings {
    float initial_scale = 4294967296.0f, min_scale = 1.0f, growth_factor = 2.0f, backoff_factor = 0.5f;
    int growth_interval = 1000, hysteresis = 2;
  };
  explicit DynamicGradScaler(const Settings& s);

  float scale() const { return scale_; }
  float inv_scale() const { return static_cast<float>(1.0 / static_cast<double>(scale_)); }
  // After each step's gradients are unscaled and checked: found_inf when any was inf or NaN.
  void update(bool found_inf);

 private:
  Settings s_;
  float scale_;
  int growth_tracker_ = 0, hysteresis_tracker_;
};

// The scaler of training.initial_loss_scale, min_loss_scale, loss_scale_window and hysteresis.
DynamicGradScaler::Settings loss_scale_settings(const TrainingConfig& t);

}  // namespace parallax::exec
