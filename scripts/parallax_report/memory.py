"""Memory per pipeline stage as stacked bars (weights, gradients, optimizer, activations, other)
against the device's capacity; and a measured run's memory per rank beside its prediction."""
import numpy as np

from .style import plt, save

PARTS = ["weights", "gradients", "optimizer", "activations", "other"]
# A measured run's columns for the same parts, and the prediction's beside them.
MEASURED = ["weights_bytes", "grads_bytes", "optimizer_bytes", "activations_peak_bytes", "other_bytes"]
PREDICTED = ["predicted_weights_bytes", "predicted_grads_bytes", "predicted_optimizer_bytes",
             "predicted_activations_bytes", "predicted_other_bytes"]
GIB = 1024.0 ** 3
MIB = 1024.0 ** 2


def memory_tables(runs, column):
    return [r for r in runs if "memory" in r.tables and len(r.tables["memory"]) > 0
            and column in r.tables["memory"].dtype.names]


def memory_figure(runs, out_dir):
    found = memory_tables(runs, "stage")
    if not found:
        return None, "no predicted run has a memory table"
    run = found[0]
    mem = run.tables["memory"]
    stages = mem["stage"]
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(stages) + 2), 3.4))
    bottom = np.zeros(len(stages))
    for part in PARTS:
        v = mem[part + "_bytes"] / GIB
        ax.bar(stages, v, bottom=bottom, label=part)
        bottom += v
    ax.axhline(mem["device_bytes"][0] / GIB, color="k", ls="--", lw=0.8, label="device memory")
    ax.set_xlabel("pipeline stage")
    ax.set_ylabel("memory per device (GiB)")
    ax.set_title(f"Memory per stage: {run.title()}")
    ax.legend(fontsize=7, ncol=3, loc="upper right")
    rows = [[int(s)] + [float(mem[p + "_bytes"][i]) for p in PARTS] + [float(mem["total_bytes"][i])]
            for i, s in enumerate(stages)]
    return save(fig, out_dir, "memory", ["stage"] + [p + "_bytes" for p in PARTS] + ["total_bytes"], rows), None


def measured_memory_figure(runs, out_dir):
    """Per rank of the last measured run: measured parts (left bar) and predicted parts (right)."""
    found = memory_tables(runs, "rank")
    if not found:
        return None, "no measured run has a memory table"
    run = found[-1]
    mem = run.tables["memory"]
    ranks = mem["rank"].astype(int)
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(ranks) + 2), 3.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for side, columns, offset, hatch in (("measured", MEASURED, -0.2, None), ("predicted", PREDICTED, 0.2, "//")):
        bottom = np.zeros(len(ranks))
        for k, (part, col) in enumerate(zip(PARTS, columns)):
            v = mem[col] / MIB
            ax.bar(ranks + offset, v, width=0.38, bottom=bottom, color=colours[k % len(colours)], hatch=hatch,
                   label=part if side == "measured" else None, edgecolor="white", linewidth=0.3)
            bottom += v
    ax.set_xticks(ranks)
    ax.set_xlabel("rank (left: measured, right: predicted for its stage)")
    ax.set_ylabel("memory per rank (MiB)")
    ax.set_title(f"Memory measured and predicted: {run.title()}")
    ax.legend(fontsize=7, ncol=3, loc="upper right")
    rows = [[int(r)] + [float(mem[c][i]) for c in MEASURED + PREDICTED] for i, r in enumerate(ranks)]
    return save(fig, out_dir, "memory_measured", ["rank"] + MEASURED + PREDICTED, rows), None
