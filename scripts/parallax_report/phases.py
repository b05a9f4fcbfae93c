"""Per phase, predicted against measured: a `parallax compare --format json` report drawn as two
stacked bars per run (predicted, measured), one colour per phase, each run's bars divided by its
measured iteration time (so that runs of 70 ms and of 1 s read alike: the measured bar is 1 but
for the idle time no phase holds, the predicted one's height is the ratio)."""
import json

import numpy as np

from .style import COLORS, plt, save

PHASE_COLORS = {"compute": COLORS["forward"], "pipeline_wait": COLORS["pp_comm"], "tp_comm": COLORS["tp_comm"],
                "dp_comm": COLORS["dp_comm"], "optimizer": COLORS["optimizer"]}


def phases_figure(compare_json, out_dir):
    if not compare_json:
        return None, "no `parallax compare --format json` report given (--compare)"
    runs = json.load(open(compare_json))["runs"]
    if not runs:
        return None, "the compare report holds no run"
    phases = [p for p in PHASE_COLORS if p in runs[0]["phases"]]
    labels = [f"{r['shape']} {r['plan']} {r['precision']} {r['recompute']}" for r in runs]
    x = np.arange(len(runs))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(runs) + 2), 4.2))
    rows = []
    for offset, side in ((-0.2, "predicted_s"), (0.2, "measured_s")):
        bottom = np.zeros(len(runs))
        for p in phases:
            share = np.array([r["phases"][p][side] / r["measured_iteration_time_s"] for r in runs])
            ax.bar(x + offset, share, 0.38, bottom=bottom, color=PHASE_COLORS.get(p, "0.5"),
                   label=p.replace("_", " ") if side == "predicted_s" else None,
                   hatch="" if side == "measured_s" else "//", edgecolor="white", linewidth=0.3)
            bottom += share
    for r, label in zip(runs, labels):
        rows.append([r["id"], label, *(r["phases"][p][s] for p in phases for s in ("predicted_s", "measured_s")),
                     100 * r["error"]])
    ax.set_xticks(x, labels, rotation=70, ha="right", fontsize=6)
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_ylabel("share of the measured iteration time\npredicted (hatched) | measured")
    ax.set_title("Phases of each run, predicted against measured (critical stage)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    header = ["run", "label", *(f"{p}_{s}" for p in phases for s in ("predicted_s", "measured_s")), "error_pct"]
    return save(fig, out_dir, "phases_compared", header, rows), None
