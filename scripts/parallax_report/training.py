"""Loss and gradient-norm curves of the measured runs, and the phase breakdown per rank."""
import numpy as np

from .style import COLORS, plt, save

PHASES = ["forward_s", "backward_s", "recompute_s", "tp_comm_s", "pp_comm_s", "dp_comm_s", "optimizer_s", "idle_s"]


def training_figure(runs, out_dir):
    measured = [r for r in runs if r.kind == "measured" and "iterations" in r.tables and len(r.tables["iterations"])]
    if not measured:
        return None, "no measured run"
    fig, (loss_ax, norm_ax, phase_ax) = plt.subplots(1, 3, figsize=(11, 3.2))
    rows = []
    for r in measured:
        it = r.tables["iterations"]
        loss_ax.plot(it["step"], it["loss"], label=r.plan)
        norm_ax.plot(it["step"], it["grad_norm"], label=r.plan)
        rows += [[r.id, int(s), float(l), float(g), float(t)] for s, l, g, t in
                 zip(it["step"], it["loss"], it["grad_norm"], it["iteration_time_s"])]
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("lm loss (nats/token)")
    loss_ax.set_title(f"Loss: {measured[-1].title()}")
    norm_ax.set_xlabel("step")
    norm_ax.set_ylabel("gradient norm")
    norm_ax.set_title("Gradient norm (before clipping)")
    loss_ax.legend()
    last = measured[-1]
    ph = last.tables.get("phases")
    if ph is not None and len(ph):
        ranks = sorted(set(int(x) for x in ph["rank"]))
        bottom = np.zeros(len(ranks))
        for p in PHASES:
            v = np.array([np.mean(ph[p][ph["rank"] == rk]) for rk in ranks]) * 1e3
            phase_ax.bar([str(rk) for rk in ranks], v, bottom=bottom, label=p[:-2],
                         color=COLORS.get(p[:-2].replace("_comm", "_comm"), None))
            bottom += v
        phase_ax.set_xlabel("rank")
        phase_ax.set_ylabel("mean time per step (ms)")
        phase_ax.set_title(f"Phases: {last.plan}")
        phase_ax.legend(fontsize=6)
    return save(fig, out_dir, "training", ["run", "step", "loss", "grad_norm", "iteration_time_s"], rows), None
