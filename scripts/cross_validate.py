#!/usr/bin/env python3
"""Estimate how the fitted constants generalise: two-fold cross-validation on a published-runs table.

Each source's rows are dealt alternately into two folds (as the published sweep tables were
halved between the table we hold and the one kept aside). For each fold, the constants of
scripts/fit_calibration.py are fitted on the other fold, from the shipped values, and the fold
is predicted with them. Every row is thus predicted once by constants that never saw it; the
held-out errors, pooled, are set beside the in-sample errors of the shipped constants, which
were fitted on every row.

usage: scripts/cross_validate.py build/parallax experiments/validation/published_runs.csv
"""
import argparse
import csv
import os
import sys
import tempfile

from fit_calibration import PARAMS, evaluate, fit


def write_rows(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def errors(report, key):
    return {r["row_id"]: (r["source"], r[key]) for r in report["rows"] if key in r}


def summary(errs):
    values = [abs(e) for _, e in errs.values()]
    return (sum(values) / len(values), max(values)) if values else (0.0, 0.0)


def by_source(errs):
    groups = {}
    for row, (source, e) in errs.items():
        groups.setdefault(source, {})[row] = (source, e)
    return {s: summary(g) for s, g in sorted(groups.items())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("parallax", help="the parallax binary (build/parallax)")
    ap.add_argument("table", help="a published-runs table (experiments/validation/published_runs.csv)")
    args = ap.parse_args()
    parallax, table = args.parallax, args.table
    with open(table, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    seen = {}
    folds = ([], [])
    for row in rows:
        i = seen.get(row["source_id"], 0)
        seen[row["source_id"]] = i + 1
        folds[i % 2].append(row)

    shipped = [p[2] for p in PARAMS]
    _, full = evaluate(parallax, table, shipped)
    inside = {k: errors(full, k) for k in ("time_error_pct", "memory_error_pct")}
    held = {k: {} for k in inside}
    fitted = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in (0, 1):
            train, test = os.path.join(tmp, f"train{k}.csv"), os.path.join(tmp, f"test{k}.csv")
            write_rows(train, header, folds[1 - k])
            write_rows(test, header, folds[k])
            values = fit(parallax, train, shipped, log=lambda line, k=k: print(f"fold {k}: {line}", file=sys.stderr))
            fitted.append(values)
            _, report = evaluate(parallax, test, values)
            for key in held:
                held[key].update(errors(report, key))

    print(f"{'constant':60s} {'shipped':>9s} {'fold 0':>9s} {'fold 1':>9s}")
    for (systems, key, *_), s, a, b in zip(PARAMS, shipped, *fitted):
        print(f"{','.join(systems) + ' ' + key:60s} {s:9.4g} {a:9.4g} {b:9.4g}")
    print()
    print(f"{'':34s} {'rows':>5s} {'in-sample mean/max':>20s} {'held-out mean/max':>20s}")
    for key, label in (("time_error_pct", "iteration time"), ("memory_error_pct", "memory")):
        (im, ix), (hm, hx) = summary(inside[key]), summary(held[key])
        print(f"{label:34s} {len(held[key]):5d} {im:8.2f} % {ix:7.2f} % {hm:8.2f} % {hx:7.2f} %")
    ins, out = by_source(inside["time_error_pct"]), by_source(held["time_error_pct"])
    for source in out:
        (im, ix), (hm, hx) = ins.get(source, (0.0, 0.0)), out[source]
        print(f"  {source:32s} {'':5s} {im:8.2f} % {ix:7.2f} % {hm:8.2f} % {hx:7.2f} %")
    worst = sorted(held["time_error_pct"].items(), key=lambda kv: -abs(kv[1][1]))[:5]
    print("largest held-out time errors: " + ", ".join(
        f"row {row} {e:+.1f} % (in-sample {inside['time_error_pct'][row][1]:+.1f} %)" for row, (_, e) in worst))


if __name__ == "__main__":
    main()
