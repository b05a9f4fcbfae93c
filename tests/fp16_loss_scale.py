"""An fp16 run made to overflow: from Megatron's initial loss scale 2^32 the first backwards
overflow fp16, and with a growth window of 3 the scale climbs back to overflowing again. Every
logged step's loss scale equals that of an independent transcription of Megatron's
DynamicGradScaler (megatron/core/optimizer/grad_scaler.py) fed the run's own overflows (the
steps whose skipped count rose); a skipped step logs a nan grad norm and does not advance the
learning-rate schedule; the losses stay finite.

usage: fp16_loss_scale.py PARALLAX ROOT
"""
import math
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_runs import check, failures, run, sets  # noqa: E402

parallax, root = sys.argv[1], sys.argv[2]


class MegatronDynamicGradScaler:
    def __init__(self, initial_scale, min_scale, growth_factor, backoff_factor, growth_interval, hysteresis):
        self.scale, self.min_scale = initial_scale, min_scale
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval, self.hysteresis = growth_interval, hysteresis
        self.growth_tracker, self.hysteresis_tracker = 0, hysteresis

    def update(self, found_inf):
        if found_inf:
            self.growth_tracker = 0
            self.hysteresis_tracker -= 1
            if self.hysteresis_tracker <= 0:
                self.scale = max(self.scale * self.backoff_factor, self.min_scale)
        else:
            self.growth_tracker += 1
            if self.growth_tracker == self.growth_interval:
                self.growth_tracker = 0
                self.hysteresis_tracker = self.hysteresis
                self.scale = self.scale * self.growth_factor


LINE = re.compile(r"iteration +(\d+)/.*learning rate: (\S+) \|.*loss scale: (\S+) \| grad norm: (\S+) \| "
                  r"number of skipped iterations: +(\d+) \|")

with tempfile.TemporaryDirectory() as tmp:
    r = run(parallax, root, os.path.join(tmp, "fp16.h5"), 1,
            sets(training__precision="fp16", training__loss_scale_window=3, training__log_every=1,
                 training__warmup_steps=0), steps=40)
    check(r.returncode == 0, f"the fp16 run ends well ({r.stderr.strip()[-300:]})")
    steps = [(int(m[1]), float(m[2]), float(m[3]), float(m[4]), int(m[5])) for m in LINE.finditer(r.stdout)]
    check(len(steps) == 40, f"40 log lines with the loss scale and the skipped iterations ({len(steps)})")

scaler = MegatronDynamicGradScaler(2.0 ** 32, 1.0, 2.0, 0.5, 3, 2)
skipped_before, mismatches, overflows, growths = 0, [], 0, 0
for i, (it, lr, scale, norm, skipped) in enumerate(steps):
    if scale != scaler.scale:
        mismatches.append((it, scale, scaler.scale))
    found_inf = skipped > skipped_before
    if found_inf:
        overflows += 1
        if not math.isnan(norm):
            mismatches.append((it, "grad norm of a skipped step", norm))
        if i + 1 < len(steps) and steps[i + 1][1] != lr:
            mismatches.append((it, "the schedule advanced on a skipped step", lr, steps[i + 1][1]))
    before = scaler.scale
    scaler.update(found_inf)
    growths += scaler.scale > before
    skipped_before = skipped
check(not mismatches, f"loss scale step by step as Megatron's DynamicGradScaler ({mismatches[:3]})")
check(overflows >= 5 and growths >= 2, f"the run overflowed ({overflows} steps) and regrew its scale ({growths} times)")
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
