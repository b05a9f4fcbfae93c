#!/usr/bin/env python3
"""Fit the prediction intervals: P10 and P90 of validate's signed iteration-time errors by class.

Runs `parallax validate --format json` on the validation tables, takes each checked row's
signed error (predicted - published) / published, and groups the rows by framework family and
device. A class with at least --min-rows rows gets its own P10 and P90, and so does each device
over every family; "*" over all rows is the fallback for a device without rows of its own. The classes are written as TOML
(models/presets/intervals/prediction-intervals.toml, embedded in parallax at build time), each
with the rows and sources it was fitted on.

It also prints how well such intervals generalise: each row of a table is checked against the
interval refitted without the rows of its own source (leave one source out), beside the share
inside the shipped (in-sample) intervals.

usage: scripts/fit_intervals.py build/parallax experiments/validation/published_runs.csv \\
           experiments/validation/outside_checks.csv --out models/presets/intervals/prediction-intervals.toml
"""
import argparse
import json
import os
import subprocess
import sys


def quantile(values, q):
    """The q-quantile by linear interpolation between order statistics (numpy's default)."""
    v = sorted(values)
    x = q * (len(v) - 1)
    lo = int(x)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (x - lo)


def validation_rows(parallax, table):
    out = subprocess.run([parallax, "validate", table, "--format", "json"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"fit_intervals.py: parallax validate {table} failed: {out.stderr.strip()}")
    rows = []
    for r in json.loads(out.stdout)["rows"]:
        if r.get("time_error_pct") is None:
            continue
        rows.append({"table": table, "row_id": r["row_id"], "source": r["source"], "framework": r["framework"],
                     "device": r["device"], "error_pct": r["time_error_pct"]})
    return rows


def fit(rows, min_rows):
    """Classes (framework, device) -> (rows, sources, p10, p90): own, per family, and overall."""
    groups = {("*", "*"): rows}
    for r in rows:
        groups.setdefault(("*", r["device"]), []).append(r)
        groups.setdefault((r["framework"], r["device"]), []).append(r)
    classes = {}
    for key, members in groups.items():
        if len(members) < min_rows and key != ("*", "*"):
            continue
        errors = [m["error_pct"] for m in members]
        classes[key] = (len(members), sorted({m["source"] for m in members}), quantile(errors, 0.1),
                        quantile(errors, 0.9))
    return classes


def interval_of(classes, framework, device):
    for key in ((framework, device), ("*", device), ("*", "*")):
        if key in classes:
            return classes[key]
    raise KeyError("no fallback class")


def inside(classes, r):
    _, _, p10, p90 = interval_of(classes, r["framework"], r["device"])
    return p10 <= r["error_pct"] <= p90


def toml_text(classes, tables, min_rows):
    lines = [
        "# Prediction intervals: P10 and P90 of `parallax validate`'s signed iteration-time errors,",
        "# (predicted - published) / published in %, by framework family and device. A prediction t",
        "# of a class has the interval t / (1 + p90/100) .. t / (1 + p10/100). Written by",
        "# scripts/fit_intervals.py; rerun it whenever the model or the tables change.",
        "fitted_on = [" + ", ".join(json.dumps(os.path.relpath(t)) for t in tables) + "]",
        f"min_rows = {min_rows}",
    ]
    for (framework, device), (n, sources, p10, p90) in sorted(classes.items()):
        lines += ["", "[[class]]", f"framework = {json.dumps(framework)}", f"device = {json.dumps(device)}",
                  f"rows = {n}", f"p10_pct = {p10:.6f}", f"p90_pct = {p90:.6f}",
                  "sources = [" + ", ".join(json.dumps(s) for s in sources) + "]"]
    return "\n".join(lines) + "\n"


def stale_classes(path, classes):
    """What differs between the classes in the TOML file at `path` and `classes` ("" if nothing)."""
    import tomllib
    with open(path, "rb") as f:
        shipped = {(c["framework"], c["device"]): c for c in tomllib.load(f).get("class", [])}
    if set(shipped) != set(classes):
        return f"classes {sorted(set(shipped) ^ set(classes))}"
    for key, (n, _, p10, p90) in classes.items():
        c = shipped[key]
        if c["rows"] != n or abs(c["p10_pct"] - p10) > 1e-5 or abs(c["p90_pct"] - p90) > 1e-5:
            return f"class {key}: {c['rows']} rows, {c['p10_pct']}..{c['p90_pct']} % against {n}, {p10:.6f}..{p90:.6f} %"
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="The intervals are fitted on every table given; coverage is printed per table.")
    ap.add_argument("parallax", help="the parallax executable")
    ap.add_argument("tables", nargs="+", help="validation tables (columns of published_runs.csv)")
    ap.add_argument("--out", help="write the classes as TOML here (default: print coverage only)")
    ap.add_argument("--check", metavar="TOML",
                    help="exit 1 unless this file holds the classes fitted now (the shipped one is up to date)")
    ap.add_argument("--min-rows", type=int, default=10, help="fewest rows a class of its own needs (default 10)")
    args = ap.parse_args()
    rows = [r for t in args.tables for r in validation_rows(args.parallax, t)]
    if not rows:
        sys.exit("fit_intervals.py: no row with a published time")
    classes = fit(rows, args.min_rows)
    for t in args.tables:
        mine = [r for r in rows if r["table"] == t]
        shipped = sum(inside(classes, r) for r in mine)
        held_out = sum(inside(fit([o for o in rows if o["source"] != r["source"]], args.min_rows), r) for r in mine)
        print(f"{t}: {len(mine)} rows; inside the fitted P10-P90 {100 * shipped / len(mine):.1f} %, "
              f"inside the interval refitted without their source {100 * held_out / len(mine):.1f} %")
    for (framework, device), (n, _, p10, p90) in sorted(classes.items()):
        print(f"  {framework:20} {device:24} {n:4} rows  P10 {p10:+6.2f} %  P90 {p90:+6.2f} %")
    if args.check:
        stale = stale_classes(args.check, classes)
        if stale:
            sys.exit(f"fit_intervals.py: {args.check} is not what the tables give now ({stale}); "
                     f"rerun with --out {args.check}")
        print(f"{args.check} matches the tables")
    if args.out:
        text = toml_text(classes, args.tables, args.min_rows)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
