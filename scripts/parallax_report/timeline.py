"""Pipeline timelines: one row per rank, passes coloured by kind with micro-batch numbers inside,
bubbles as gaps; every measured run, below the predicted run of its configuration, on a shared
time axis."""
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


def timeline_panels(runs):
    """Every measured run, each below the predicted run of its configuration when the file holds
    one; without a measured run, the first predicted one."""
    with_timeline = [r for r in runs if "timeline" in r.tables and len(r.tables["timeline"]) > 0]
    measured = [r for r in with_timeline if r.kind == "measured"]
    predicted = [r for r in with_timeline if r.kind == "predicted"]
    if not measured:
        return predicted[:1]
    panels = []
    for m in measured:
        twin = next((p for p in predicted if p.attrs.get("config_hash") == m.attrs.get("config_hash")), None)
        twin = twin or next((p for p in predicted if p.plan == m.plan), None)
        panels += ([twin] if twin else []) + [m]
    return panels


def timeline_figure(runs, out_dir):
    panels = timeline_panels(runs)
    if not panels:
        return None, "no run has a timeline"
    n_ranks = max(len(set(int(x) for x in r.tables["timeline"]["rank"])) for r in panels)
    panel = 0.6 + 0.28 * n_ranks  # inches: the ranks' rows and the panel's title
    height = 1.2 + panel * len(panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, height), sharex=True, squeeze=False)
    rows, end = [], 0.0
    for ax, r in zip(axes[:, 0], panels):
        end = max(end, _draw(ax, r, f"{r.kind}: {r.title()}"))
        tl = _one_step(r)
        for rank, kind, mb, start, dur in zip(tl["rank"], decode(tl["kind"]), tl["microbatch"], tl["start_s"],
                                              tl["duration_s"]):
            rows.append([r.id, r.kind, int(rank), kind, int(mb), float(start), float(dur)])
    axes[-1, 0].set_xlim(0, end)  # the axis is shared: the longest iteration's
    axes[-1, 0].set_xlabel("time in the iteration (s)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()]
    fig.legend(handles, list(COLORS), loc="lower center", ncol=len(COLORS), fontsize=7, bbox_to_anchor=(0.5, -0.02))
    # Room for the legend and between the panels for the titles, in inches.
    fig.subplots_adjust(bottom=0.75 / height, hspace=0.5 / panel)
    return save(fig, out_dir, "timeline", ["run", "kind_of_run", "rank", "kind", "microbatch", "start_s", "duration_s"],
                rows), None
