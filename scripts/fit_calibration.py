#!/usr/bin/env python3
"""Fit the simulator's calibration constants to a published-runs table.

Coordinate descent over a small set of named constants (one value per machine or device
family, never per row), minimising  mean|time error| + the root mean square over sources of
their mean |time error| + 0.5 * max|time error| + 0.5 * (regret % + 10 (1 - Kendall tau)) summed
over the sweep groups (memory constants: mean + 0.25 * max |memory error|), by running `parallax validate --format json --set ...`.
Prints the fitted values; copy them into models/presets/ (the DeepSpeed ones into the
[calibration] of models/presets/frameworks/megatron-deepspeed-*.toml; docs/cost-model.md lists them).

usage: scripts/fit_calibration.py build/parallax experiments/validation/published_runs.csv
"""
import argparse
import json
import subprocess
import sys

A100 = ["dgx-a100-80g", "dgx-a100-40g", "jean-zay-a100-80g"]
H100 = ["dgx-h100", "dgx-h200"]
# (systems, key, start, low, high, objective)
PARAMS = [
    (A100, "gemm_efficiency", 0.7605, 0.5, 0.95, "time"),
    (A100, "gemm_k_half", 49.8746, 0, 512, "time"),
    (A100, "memory_efficiency", 0.6842, 0.4, 0.95, "time"),
    (A100, "kernel_launch_us", 1, 1, 20, "time"),
    (A100, "misaligned_gemm_efficiency", 0.2866, 0.05, 1.0, "time"),
    # Held: freed, the fit takes it to 5.4 ms, and the MT-NLG runs (DeepSpeed on Selene, three
    # layers a stage, outside_checks.csv) then come out 14 % fast (docs/cost-model.md).
    (["deepspeed"], "pass_overhead_us", 17591, 17591, 17591, "time"),
    (["deepspeed"], "dp_reduce_efficiency", 0.2328, 0.02, 1.0, "time"),
    (["jean-zay-a100-80g"], "p2p_efficiency_inter", 1.0, 0.05, 1.0, "time"),
    (["jean-zay-a100-80g"], "busbw_efficiency_intra", 0.35, 0.1, 1.0, "time"),
    (H100, "gemm_efficiency", 0.573, 0.4, 0.95, "time"),
    (H100, "memory_efficiency", 0.53, 0.3, 0.95, "time"),
    (["dgx2-v100"], "gemm_efficiency", 0.869, 0.5, 0.95, "time"),
    (["jean-zay-a100-80g"], "activation_memory_factor", 1.323, 1.0, 2.0, "memory"),
    (["jean-zay-a100-80g"], "memory_overhead_gib", 8.4, 0.5, 10.0, "memory"),
]


def evaluate(parallax, csv, values):
    sets = []
    for (systems, key, *_), v in zip(PARAMS, values):
        for s in systems:
            sets += ["--set", f"{s}.{key}={v}"]
    out = subprocess.run([parallax, "validate", csv, "--format", "json", *sets],
                         check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    t, m = report["time"], report["memory"]
    sources = report["time_by_source"].values()
    per_source = (sum(s["mean_abs_error_pct"] ** 2 for s in sources) / max(1, len(sources))) ** 0.5
    ranking = sum(g["regret_pct"] + 10 * (1 - g["kendall_tau"]) for g in report["rankings"] if g["rows"] >= 4)
    return {"time": t["mean_abs_error_pct"] + per_source + 0.5 * t["max_abs_error_pct"] + 0.5 * ranking,
            "memory": m["mean_abs_error_pct"] + 0.25 * m["max_abs_error_pct"]}, report


def fit(parallax, csv, values=None, log=None):
    """Coordinate descent from `values` (default: the shipped constants); returns the fitted values."""
    values = list(values or [p[2] for p in PARAMS])
    best, _ = evaluate(parallax, csv, values)
    for sweep in range(4):
        for i, (systems, key, _, low, high, objective) in enumerate(PARAMS):
            for factor in (1.25, 0.8, 1.1, 0.9, 1.03, 0.97):
                while True:
                    trial = list(values)
                    base = trial[i] if trial[i] != 0 else (high - low) * 0.01
                    trial[i] = min(high, max(low, round(base * factor, 4)))
                    if trial[i] == values[i]:
                        break
                    score, _ = evaluate(parallax, csv, trial)
                    if score[objective] < best[objective] - 1e-4:
                        values, best = trial, score
                    else:
                        break
        if log:
            log(f"sweep {sweep}: time objective {best['time']:.3f}, memory objective {best['memory']:.3f}")
    return values


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("parallax", help="the parallax binary (build/parallax)")
    ap.add_argument("csv", help="a published-runs table (experiments/validation/published_runs.csv)")
    args = ap.parse_args()
    parallax, csv = args.parallax, args.csv
    values = fit(parallax, csv, log=lambda line: print(line, file=sys.stderr))
    _, report = evaluate(parallax, csv, values)
    for (systems, key, *_), v in zip(PARAMS, values):
        print(f"{','.join(systems):45s} {key:28s} {v}")
    print(json.dumps({"time": report["time"], "memory": report["memory"], "by_source": report["time_by_source"]}, indent=1))


if __name__ == "__main__":
    main()
