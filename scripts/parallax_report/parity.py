"""Predicted against measured iteration time: every measured run that carries a prediction (or
those of a `parallax compare --format json` report), and optionally a `parallax validate
--format json` report; y = x with +-10 % and +-20 % bands."""
import json

import numpy as np

from .style import plt, save


def parity_figure(runs, out_dir, validate_json=None, compare_json=None):
    points = []  # (label, predicted, measured, source)
    if compare_json:  # the measured runs as `parallax compare` sees them
        for r in json.load(open(compare_json))["runs"]:
            points.append((f"{r['shape']} {r['plan']}", r["predicted_iteration_time_s"],
                           r["measured_iteration_time_s"], f"run {r['id']}"))
    for r in runs if not compare_json else []:
        if r.kind != "measured" or "predicted_iteration_time_s" not in r.attrs:
            continue
        m = r.measured_iteration_time()
        if m:
            points.append((r.plan, float(r.attrs["predicted_iteration_time_s"]), m, f"run {r.id}"))
    if validate_json:
        report = json.load(open(validate_json))
        for row in report["rows"]:
            if "published_iteration_time_s" in row:
                points.append((row["plan"], row["predicted_iteration_time_s"], row["published_iteration_time_s"],
                               row["source"]))
    if not points:
        return None, "no measured run carries a prediction"
    pred = np.array([p[1] for p in points])
    meas = np.array([p[2] for p in points])
    err = 100 * (pred - meas) / meas
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    lo, hi = min(pred.min(), meas.min()) * 0.7, max(pred.max(), meas.max()) * 1.4
    x = np.geomspace(lo, hi, 50)
    ax.plot(x, x, "k-", lw=0.8, label="y = x")
    ax.fill_between(x, x * 0.9, x * 1.1, color="0.85", label="±10 %")
    ax.fill_between(x, x * 0.8, x * 0.9, color="0.93", label="±20 %")
    ax.fill_between(x, x * 1.1, x * 1.2, color="0.93")
    ax.scatter(meas, pred, s=14, zorder=3,
               label=f"{len(points)} runs: mean |err| {np.mean(np.abs(err)):.1f} %, max {np.max(np.abs(err)):.1f} %")
    for (label, p, m, _), e in zip(points, err):
        if abs(e) > 15:  # outliers only, so that labels stay legible
            ax.annotate(label, (m, p), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured iteration time (s)")
    ax.set_ylabel("predicted iteration time (s)")
    systems = sorted({r.system for r in runs if r.kind == "measured"} | ({"published runs"} if validate_json else set()))
    ax.set_title("Iteration time, predicted against measured: " + ", ".join(systems))
    ax.legend(loc="upper left")
    rows = [[p[3], p[0], p[1], p[2], e] for p, e in zip(points, err)]
    return save(fig, out_dir, "parity", ["source", "plan", "predicted_s", "measured_s", "error_pct"], rows), None
