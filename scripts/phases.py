#!/usr/bin/env python3
"""Where a measured run's time went, next to what the simulator predicted for its plan.

usage: phases.py RESULTS.h5 [--run RUN_ID]   (default: the last measured run)

Per pipeline stage, the medians over steps 2.. of each rank's phases (averaged over the stage's
ranks), in ms: compute (forward + backward, TP collectives excluded), TP collectives, waits for
pipeline messages (bubble and transfers), the DP reduction left after the backward, optimizer.
Then the prediction's breakdown of its critical stage (stored with the run).
"""
import argparse
import json
import sys

import numpy as np

from parallax_report.results import ReportError, load


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--run")
    args = ap.parse_args()
    runs, _ = load(args.results)
    measured = [r for r in runs if r.kind == "measured" and (args.run is None or r.id == args.run)]
    if not measured:
        raise ReportError(f"{args.results}: no measured run" + (f" {args.run}" if args.run else ""))
    run = measured[-1]
    phases, ranks = run.tables["phases"], run.tables["ranks"]
    if len(set(phases["step"])) > 1:
        phases = phases[phases["step"] > phases["step"].min()]  # the first step warms up
    stage_of = {int(r["rank"]): int(r["pp_rank"]) for r in ranks}
    print(f"{run.title()}: {run.id}")
    cols = [("compute", ("forward_s", "backward_s")), ("TP comm", ("tp_comm_s",)), ("PP wait", ("pp_comm_s",)),
            ("DP comm", ("dp_comm_s",)), ("optimizer", ("optimizer_s",)), ("idle", ("idle_s",))]
    print(f"{'measured, ms':<22}" + "".join(f"{c:>11}" for c, _ in cols) + f"{'total':>11}")
    for stage in sorted(set(stage_of.values())):
        rows = phases[[stage_of[int(r)] == stage for r in phases["rank"]]]
        per_rank = {}
        for name, keys in cols:
            per_rank[name] = np.mean([np.median(sum(rows[rows["rank"] == r][k] for k in keys))
                                      for r in sorted(set(rows["rank"]))])
        total = sum(per_rank.values())
        print(f"{'  pipeline stage ' + str(stage):<22}" + "".join(f"{1e3 * per_rank[c]:11.2f}" for c, _ in cols)
              + f"{1e3 * total:11.2f}")
    prediction = json.loads(run.attrs.get("prediction_json", "{}"))
    b = prediction.get("breakdown_s")
    if b:
        pred = [b["compute"] + b["recompute"], b["tp_comm_exposed"], b["bubble"] + b["pp_comm_exposed"],
                b["dp_comm_exposed"], b["optimizer"], 0.0]
        print(f"{'predicted, ms':<22}" + "".join(f"{1e3 * x:11.2f}" for x in pred) +
              f"{1e3 * prediction['iteration_time_s']:11.2f}")
    print(f"iteration time: measured {1e3 * run.measured_iteration_time():.2f} ms (median), predicted "
          f"{1e3 * float(run.attrs['predicted_iteration_time_s']):.2f} ms")


if __name__ == "__main__":
    try:
        main()
    except ReportError as e:
        print(f"phases.py: {e}", file=sys.stderr)
        sys.exit(2)
