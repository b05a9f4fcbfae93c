"""The study view: each measured plan of a study against the prediction stored with it.
Throughput by device count (the prediction with its P10-P90 band), parallel efficiency against
the smallest run (measured against measured, predicted against predicted), and each plan's
phases, measured (mean over ranks and steps after the first) beside predicted (the predicted run
of the same configuration, mean over its pipeline stages)."""
import numpy as np

from .style import COLORS, plt, save

PHASES = [("compute", ("forward_s", "backward_s", "recompute_s"), COLORS["forward"]),
          ("tp comm", ("tp_comm_s",), COLORS["tp_comm"]), ("pp comm", ("pp_comm_s",), COLORS["pp_comm"]),
          ("dp comm", ("dp_comm_s",), COLORS["dp_comm"]), ("optimizer", ("optimizer_s",), COLORS["optimizer"])]


def phase_means(phases, skip_first_step):
    if phases is None or len(phases) == 0:
        return None
    if skip_first_step and len(np.unique(phases["step"])) > 1:
        phases = phases[phases["step"] != phases["step"].min()]
    return [float(np.mean(sum(phases[c] for c in cols))) for _, cols, _ in PHASES]


def study_points(runs):
    predicted_by_hash = {r.attrs.get("config_hash"): r for r in runs if r.kind == "predicted"}
    points = []
    for r in runs:
        measured = r.measured_iteration_time() if r.kind == "measured" else None
        predicted = r.attrs.get("predicted_iteration_time_s")
        if not measured or not predicted:
            continue
        tokens = r.config["training"]["global_batch"] * r.config["model"]["seq_len"]
        twin = predicted_by_hash.get(r.attrs.get("config_hash"))
        p10, p90 = r.attrs.get("iteration_time_p10_s"), r.attrs.get("iteration_time_p90_s")
        points.append({"run": r, "devices": r.world_size, "measured": tokens / measured,
                       "predicted": tokens / float(predicted),
                       # throughput's band: the slow end of the time interval is its low end
                       "predicted_band": (tokens / float(p90), tokens / float(p10)) if p10 and p90 else None,
                       "measured_phases": phase_means(r.tables.get("phases"), True),
                       "predicted_phases": phase_means(twin.tables.get("phases"), False) if twin else None})
    return sorted(points, key=lambda p: (p["devices"], p["run"].plan))


def study_figure(runs, out_dir):
    points = study_points(runs)
    if len(points) < 2 or len({p["devices"] for p in points}) < 2:
        return None, "needs measured runs with their predictions on at least two device counts (a study)"
    fig, (tput, eff, phases) = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"wspace": 0.35})
    x = np.arange(len(points))
    labels = [f"{p['devices']}: {p['run'].plan}" for p in points]
    tput.bar(x - 0.2, [p["predicted"] for p in points], 0.38, color="0.7", label="predicted")
    banded = [(i, p) for i, p in enumerate(points) if p["predicted_band"]]
    if banded:
        tput.errorbar([x[i] - 0.2 for i, _ in banded], [p["predicted"] for _, p in banded],
                      yerr=np.array([[p["predicted"] - p["predicted_band"][0] for _, p in banded],
                                     [p["predicted_band"][1] - p["predicted"] for _, p in banded]]),
                      fmt="none", ecolor="k", capsize=2, lw=0.8, label="predicted P10-P90")
    tput.bar(x + 0.2, [p["measured"] for p in points], 0.38, color=COLORS["forward"], label="measured")
    tput.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    tput.set_ylabel("throughput (tokens/s)")
    tput.set_title("Throughput by device count and plan")
    tput.legend()
    smallest = min(p["devices"] for p in points)
    base = {side: max(p[side] for p in points if p["devices"] == smallest) / smallest
            for side in ("measured", "predicted")}
    rows = []
    for side, marker in (("predicted", "o"), ("measured", "s")):
        e = [100 * p[side] / p["devices"] / base[side] for p in points]
        eff.plot([p["devices"] for p in points], e, marker, label=side, alpha=0.8)
        for p, value in zip(points, e):
            p[side + "_efficiency"] = value
    eff.set_xscale("log", base=2)
    eff.set_xlabel("devices")
    eff.set_ylabel("parallel efficiency (%)")
    eff.set_ylim(0, max(120, 10 + max(p[s + "_efficiency"] for p in points for s in ("measured", "predicted"))))
    eff.set_title(f"Efficiency against the best {smallest}-device run")
    eff.legend()
    for offset, side, hatch in ((-0.2, "predicted_phases", "//"), (0.2, "measured_phases", "")):
        bottom = np.zeros(len(points))
        for i, (name, _, color) in enumerate(PHASES):
            h = np.array([p[side][i] if p[side] else 0.0 for p in points]) * 1e3
            phases.bar(x + offset, h, 0.38, bottom=bottom, color=color, hatch=hatch, edgecolor="white", linewidth=0.3,
                       label=name if side == "measured_phases" else None)
            bottom += h
    phases.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    phases.set_ylabel("ms per iteration\npredicted (hatched) | measured")
    phases.set_title("Phases by plan")
    phases.legend(fontsize=6)
    for p in points:
        rows.append([p["run"].id, p["devices"], p["run"].plan, p["predicted"], p["measured"],
                     p["predicted_efficiency"], p["measured_efficiency"],
                     *(p["predicted_phases"] or [""] * len(PHASES)), *(p["measured_phases"] or [""] * len(PHASES))])
    header = ["run", "devices", "plan", "predicted_tokens_per_s", "measured_tokens_per_s", "predicted_efficiency_pct",
              "measured_efficiency_pct", *(f"predicted_{n.replace(' ', '_')}_s" for n, _, _ in PHASES),
              *(f"measured_{n.replace(' ', '_')}_s" for n, _, _ in PHASES)]
    return save(fig, out_dir, "study", header, rows), None
