"""Memory per pipeline stage as stacked bars (weights, gradients, optimizer, activations, other)
against the device's capacity."""
import numpy as np

from .style import plt, save

PARTS = ["weights", "gradients", "optimizer", "activations", "other"]
GIB = 1024.0 ** 3


def memory_figure(runs, out_dir):
    run = next((r for r in runs if "memory" in r.tables and len(r.tables["memory"]) > 0), None)
    if run is None:
        return None, "no run has a memory table (predicted runs carry one)"
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
