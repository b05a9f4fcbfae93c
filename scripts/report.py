#!/usr/bin/env python3
"""Build every figure a Parallax results file allows, and an index.html that shows them with a
summary table of the runs.

usage: /usr/bin/python3 scripts/report.py RESULTS.h5 --out DIR [--validate VALIDATE.json]

Each figure is written as PNG, PDF and the CSV of the plotted numbers. A figure whose data is
not in the file is skipped with a line saying why. Exit status 2 for a file that is not a
Parallax results file or holds nothing to show.
"""
import argparse
import html
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from parallax_report.memory import measured_memory_figure, memory_figure  # noqa: E402
from parallax_report.parity import parity_figure  # noqa: E402
from parallax_report.phases import phases_figure  # noqa: E402
from parallax_report.results import ReportError, load  # noqa: E402
from parallax_report.scaling import scaling_figure  # noqa: E402
from parallax_report.study import study_figure  # noqa: E402
from parallax_report.sweep_map import sweep_map_figure  # noqa: E402
from parallax_report.timeline import timeline_figure  # noqa: E402
from parallax_report.training import training_figure  # noqa: E402


def summary_rows(runs):
    rows = []
    for r in runs:
        predicted = r.attrs.get("predicted_iteration_time_s")
        measured = r.measured_iteration_time() if r.kind == "measured" else None
        it = r.tables.get("iterations")
        mfu = float(it["mfu"][-1]) if it is not None and len(it) else float("nan")
        peak = float(it["peak_memory_bytes"][-1]) if it is not None and len(it) else float("nan")
        err = 100 * (predicted - measured) / measured if predicted and measured else None
        p10, p90 = r.attrs.get("iteration_time_p10_s"), r.attrs.get("iteration_time_p90_s")
        rows.append([r.id, r.kind, r.model, r.system, r.world_size, r.plan,
                     f"{predicted:.4g}" if predicted else "", f"{p10:.4g}-{p90:.4g}" if p10 and p90 else "",
                     f"{measured:.4g}" if measured else "",
                     f"{err:+.1f} %" if err is not None else "", f"{100 * mfu:.1f} %", f"{peak / 2 ** 30:.2f}"])
    return rows


def write_index(out_dir, path, runs, figures, skipped):
    header = ["run", "kind", "model", "system", "devices", "plan", "predicted s/iter", "P10-P90", "measured s/iter",
              "error", "MFU", "peak GiB"]
    table = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                    for row in summary_rows(runs))
    figs = "".join(f'<figure><img src="{os.path.basename(p)}" alt="{name}"><figcaption>{name}: '
                   f'<a href="{name}.pdf">PDF</a> · <a href="{name}.csv">CSV</a></figcaption></figure>'
                   for name, p in figures)
    notes = "".join(f"<li>{html.escape(name)}: {html.escape(why)}</li>" for name, why in skipped)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Parallax report: {html.escape(path)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} img{{max-width:100%}} figure{{margin:2em 0}}</style>
</head><body><h1>Parallax report</h1><p>{html.escape(path)}</p>
<h2>Runs</h2><table><tr>{''.join(f'<th>{h}</th>' for h in header)}</tr>{table}</table>
<h2>Figures</h2>{figs}{'<h2>Not drawn</h2><ul>' + notes + '</ul>' if notes else ''}</body></html>"""
    with open(os.path.join(out_dir, "index.html"), "w") as f:
        f.write(page)


def main():
    ap = argparse.ArgumentParser(description="Figures and a report page from a Parallax results file")
    ap.add_argument("results")
    ap.add_argument("--out", required=True, help="directory for the figures and index.html")
    ap.add_argument("--validate", help="a `parallax validate --format json` report for the parity plot")
    ap.add_argument("--compare", help="a `parallax compare --format json` report: the parity plot's measured runs "
                                      "and the per-phase figure")
    args = ap.parse_args()
    try:
        runs, sweeps = load(args.results)
        if not runs and not sweeps:
            raise ReportError(f"{args.results}: holds no runs and no sweeps, nothing to draw")
        os.makedirs(args.out, exist_ok=True)
        figures, skipped = [], []
        for name, make in [("scaling", lambda: scaling_figure(runs, sweeps, args.out)),
                           ("study", lambda: study_figure(runs, args.out)),
                           ("parity", lambda: parity_figure(runs, args.out, args.validate, args.compare)),
                           ("phases_compared", lambda: phases_figure(args.compare, args.out)),
                           ("timeline", lambda: timeline_figure(runs, args.out)),
                           ("memory", lambda: memory_figure(runs, args.out)),
                           ("memory_measured", lambda: measured_memory_figure(runs, args.out)),
                           ("sweep_map", lambda: sweep_map_figure(sweeps, args.out)),
                           ("training", lambda: training_figure(runs, args.out))]:
            png, why = make()
            if png:
                figures.append((name, png))
                print(f"report: {png}")
            else:
                skipped.append((name, why))
                print(f"report: no {name} figure: {why}")
        write_index(args.out, args.results, runs, figures, skipped)
        print(f"report: {os.path.join(args.out, 'index.html')}")
    except ReportError as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
