"""Pipeline timeline: one row per rank, passes coloured by kind with micro-batch numbers inside,
bubbles as gaps; a predicted run above a measured run of the same plan on a shared time axis."""
import numpy as np

from .results import decode
from .style import COLORS, plt, save


def _one_step(run):
    """A predicted timeline is one iteration; of a measured one, the last step."""
    tl = run.tables["timeline"]
    if "step" in tl.dtype.names and len(tl):
        tl = tl[tl["step"] == tl["step"].max()]
    return tl


def _draw(ax, run, title):
    tl = _one_step(run)
    kinds = decode(tl["kind"])
    ranks = sorted(set(int(r) for r in tl["rank"]))
    row_of = {r: i for i, r in enumerate(ranks)}
    end = float(np.max(tl["start_s"] + tl["duration_s"]))
    label_text = len(ranks) <= 16 and len(tl) <= 4000
    for r, kind, start, dur, mb in zip(tl["rank"], kinds, tl["start_s"], tl["duration_s"], tl["microbatch"]):
        y = row_of[int(r)]
        ax.barh(y, dur, left=start, height=0.8, color=COLORS.get(kind, "#999999"), edgecolor="none")
        if label_text and mb >= 0 and kind in ("forward", "backward") and dur > end / 120:
            ax.text(start + dur / 2, y, str(int(mb)), ha="center", va="center", fontsize=5, color="white")
    ax.set_yticks(range(len(ranks)))
    ax.set_yticklabels([f"rank {r}" for r in ranks], fontsize=max(3, 8 - len(ranks) // 10))
    ax.invert_yaxis()
    ax.set_xlim(0, end)
    ax.set_title(title)
    return end


def timeline_figure(runs, out_dir):
    with_timeline = [r for r in runs if "timeline" in r.tables and len(r.tables["timeline"]) > 0]
    if not with_timeline:
        return None, "no run has a timeline"
    predicted = next((r for r in with_timeline if r.kind == "predicted"), with_timeline[0])
    measured = next((r for r in with_timeline if r.kind == "measured" and r.plan == predicted.plan), None)
    panels = [predicted] + ([measured] if measured else [])
    n_ranks = max(len(set(int(x) for x in r.tables["timeline"]["rank"])) for r in panels)
    height = 1.2 + 0.28 * n_ranks * len(panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, height), sharex=True, squeeze=False)
    rows = []
    for ax, r in zip(axes[:, 0], panels):
        _draw(ax, r, f"{r.kind}: {r.title()}")
        tl = _one_step(r)
        for rank, kind, mb, start, dur in zip(tl["rank"], decode(tl["kind"]), tl["microbatch"], tl["start_s"],
                                              tl["duration_s"]):
            rows.append([r.id, r.kind, int(rank), kind, int(mb), float(start), float(dur)])
    axes[-1, 0].set_xlabel("time in the iteration (s)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()]
    fig.legend(handles, list(COLORS), loc="lower center", ncol=len(COLORS), fontsize=7, bbox_to_anchor=(0.5, -0.02))
    # Room for the legend and between the panels for the titles, in inches.
    fig.subplots_adjust(bottom=0.75 / height, hspace=0.5 / (0.28 * n_ranks))
    return save(fig, out_dir, "timeline", ["run", "kind_of_run", "rank", "kind", "microbatch", "start_s", "duration_s"],
                rows), None
