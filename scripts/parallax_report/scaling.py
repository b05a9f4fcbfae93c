"""Throughput against device count on log axes with the ideal line, and parallel efficiency:
predicted curves from sweeps over several device counts, measured runs as points."""
import numpy as np

from .style import plt, save


def scaling_figure(runs, sweeps, out_dir):
    curves = {}  # the latest sweep per (model, system, strong or weak) over at least two device counts
    for s in sweeps:
        c = s.configs
        if c is None or len(c) == 0:
            continue
        fits = c["fits"] == 1
        best = {}
        for g, tok, it, mfu in zip(c["gpus"][fits], c["tokens_per_s"][fits], c["iteration_time_s"][fits], c["mfu"][fits]):
            if g not in best or tok > best[g][0]:
                best[int(g)] = (float(tok), float(it), float(mfu))
        if len(best) >= 2:
            curves[(s.attrs.get("model"), s.attrs.get("system"), s.attrs.get("scaling"))] = (s, sorted(best.items()))
    curves = list(curves.values())
    models = {s.attrs.get("model") for s, _ in curves}
    measured = [r for r in runs if r.kind == "measured" and r.measured_iteration_time() and
                (not curves or r.model in models)]  # measured points on the axes of their own model
    if not curves and len(measured) < 2:
        return None, "needs a sweep over at least two device counts, or two measured runs"
    fig, (ax, eff) = plt.subplots(1, 2, figsize=(9, 3.6))
    rows = []
    for i, (s, pts) in enumerate(curves):
        g = np.array([p[0] for p in pts], dtype=float)
        tok = np.array([p[1][0] for p in pts])
        kind = s.attrs.get("scaling", "strong")
        ax.plot(g, tok, "o-", label=f"predicted best plan, {kind} scaling")
        ax.plot(g, tok[0] * g / g[0], "k--", lw=0.8, label="ideal (linear from the smallest)" if i == 0 else None)
        eff.plot(g, 100 * tok / (tok[0] * g / g[0]), "o-", label=f"{kind} scaling")
        for gi, (t, it, mfu) in pts:
            rows.append([f"predicted ({kind})", s.id, gi, t, it, mfu])
    for r in measured:
        tokens = r.config["training"]["global_batch"] * r.config["model"]["seq_len"] / r.measured_iteration_time()
        ax.plot([r.world_size], [tokens], "s", label=f"measured {r.plan}")
        rows.append(["measured", r.id, r.world_size, tokens, r.measured_iteration_time(), ""])
    names = sorted({s.title() for s, _ in curves} | {f"{r.model} on {r.system}" for r in measured})
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("devices")
    ax.set_ylabel("throughput (tokens/s)")
    ax.set_title("Scaling: " + "; ".join(names))
    ax.legend(loc="upper left")
    eff.set_xscale("log", base=2)
    eff.set_xlabel("devices")
    eff.set_ylabel("parallel efficiency (%)")
    eff.set_ylim(0, 110)
    eff.set_title("Parallel efficiency against linear scaling")
    if curves:
        eff.legend(loc="lower left")
    return save(fig, out_dir, "scaling", ["kind", "id", "gpus", "tokens_per_s", "iteration_time_s", "mfu"], rows), None
