"""Heatmap of the predicted throughput over (tp, pp), each cell the best over the other knobs;
cells where no plan fits are marked."""
import numpy as np

from .style import plt, save


def sweep_map_figure(sweeps, out_dir):
    sweep = next((s for s in sweeps if s.configs is not None and len(s.configs) > 0), None)
    if sweep is None:
        return None, "no sweep in the file"
    c = sweep.configs
    gpus = int(np.max(c["gpus"]))
    c = c[c["gpus"] == gpus]
    tps = sorted(set(int(x) for x in c["tp"]))
    pps = sorted(set(int(x) for x in c["pp"]))
    grid = np.full((len(pps), len(tps)), np.nan)
    rows = []
    for i, pp in enumerate(pps):
        for j, tp in enumerate(tps):
            cell = c[(c["tp"] == tp) & (c["pp"] == pp) & (c["fits"] == 1)]
            best = float(np.max(cell["tokens_per_s"])) if len(cell) else float("nan")
            grid[i, j] = best
            rows.append([tp, pp, best if len(cell) else "", "fits" if len(cell) else "no plan fits"])
    fig, ax = plt.subplots(figsize=(1.0 * len(tps) + 2.5, 0.55 * len(pps) + 1.6))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    for i in range(len(pps)):
        for j in range(len(tps)):
            text = "✗" if np.isnan(grid[i, j]) else f"{grid[i, j] / 1e3:.0f}k"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if not np.isnan(grid[i, j]) else "red")
    ax.set_xticks(range(len(tps)))
    ax.set_xticklabels(tps)
    ax.set_yticks(range(len(pps)))
    ax.set_yticklabels(pps)
    ax.set_xlabel("tensor parallel (tp)")
    ax.set_ylabel("pipeline parallel (pp)")
    ax.set_title(f"Best predicted tokens/s, {sweep.title()}, {gpus} devices (✗: nothing fits)")
    fig.colorbar(im, ax=ax, label="tokens/s")
    return save(fig, out_dir, "sweep_map", ["tp", "pp", "best_tokens_per_s", "status"], rows), None
