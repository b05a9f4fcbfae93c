// AdamW (Loshchilov & Hutter 2019; torch.optim.AdamW): decoupled weight decay, bias-corrected
// moments. `step` counts from 1.
#pragma once

namespace parallax::kernels {

void adamw_update(float* param, const float* grad, float* m, float* v, long n, int step, float lr, float beta1,
                  float beta2, float eps, float weight_decay);

}  // namespace parallax::kernels
