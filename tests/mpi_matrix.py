"""The executor's test matrix: precision {fp32, bf16, fp16} x recomputation {none, selective,
full} x sequence parallelism {off, on} x layouts {single, tp2, pp2 1F1B, pp2 vpp2 interleaved
with 3 micro-batches (not a multiple of pp), dp2 with the distributed optimizer, tp2 pp2 dp2}.
Every run gives the single process's losses of its precision over 10 steps within 1e-5 (fp32)
or 1e-3 (bf16, fp16); in fp32 every recomputation gives the losses of none to the bit (under
mixed precision none keeps the attention probabilities in 16 bits, which selective recomputes
in fp32). The single bf16 and fp16 processes track fp32 within 5e-2. Sequence parallelism
changes only layouts with tp > 1; each such layout runs with it on and off.

Dropout (model.dropout = 0.1) draws the same masks in every layout: fp32 layouts give the single
fp32 dropout run's losses within 1e-5 (full recomputation to the bit), a bf16 one the single
bf16 dropout run's within 1e-3.

usage: mpi_matrix.py PARALLAX ROOT [PRECISION...]
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_runs import check, failures, losses, run, sets  # noqa: E402

parallax, root = sys.argv[1], sys.argv[2]
PRECISIONS = sys.argv[3:] or ["fp32", "bf16", "fp16"]
TOLERANCE = {"fp32": 1e-5, "bf16": 1e-3, "fp16": 1e-3}


# name, ranks, overrides (tp/pp/dp/vpp/schedule/optimizer), global batch (6: 3 micro-batches of 2)
LAYOUTS = [
    ("single", 1, {}, 8),
    ("tp2", 2, {"parallel__tp": 2}, 8),
    ("pp2 1f1b", 2, {"parallel__pp": 2}, 8),
    ("pp2 vpp2 interleaved, 3 micro-batches", 2,
     {"parallel__pp": 2, "parallel__vpp": 2, "parallel__schedule": "interleaved-1f1b"}, 6),
    ("dp2 distributed optimizer", 2, {"parallel__dp": 2, "parallel__distributed_optimizer": "true"}, 8),
    ("tp2 pp2 dp2", 8, {"parallel__tp": 2, "parallel__pp": 2, "parallel__dp": 2}, 8),
]


def run_losses(tmp, ranks, over, global_batch):
    """The run's losses, or None and the end of its error output."""
    out = os.path.join(tmp, "run.h5")
    if os.path.exists(out):
        os.remove(out)
    r = run(parallax, root, out, ranks, sets(**over), global_batch=global_batch)
    return (losses(out), "") if r.returncode == 0 else (None, r.stderr.strip()[-300:])


def matrix(tmp, precision, single):
    tolerance = TOLERANCE[precision]
    for name, ranks, layout, gb in LAYOUTS:
        for sp in (["false", "true"] if layout.get("parallel__tp", 1) > 1 else ["false"]):
            reference = None
            for recompute in ("none", "selective", "full"):
                label = f"{precision}, {name}, sequence parallel {sp}, recompute {recompute}"
                got, err = run_losses(tmp, ranks, {**layout, "parallel__sequence_parallel": sp,
                                                   "training__recompute": recompute,
                                                   "training__precision": precision}, gb)
                check(got is not None, f"{label} runs ({err})")
                if got is None:
                    continue
                delta = float(np.max(np.abs(got - single[gb])))
                check(len(got) == 10 and delta <= tolerance,
                      f"{label}: within {tolerance:.0e} of the single process ({delta:.1e})")
                if reference is None:
                    reference = got
                elif precision == "fp32":
                    check(np.array_equal(got, reference), f"{label}: the losses of recompute none, bit for bit")


def dropout(tmp, plain):
    """Layouts with dropout 0.1 against the single process with it."""
    drop = {"model__dropout": 0.1}
    for precision, tolerance, layouts in (
            ("fp32", 1e-5, [LAYOUTS[1], LAYOUTS[3], LAYOUTS[4], LAYOUTS[5]]), ("bf16", 1e-3, [LAYOUTS[5]])):
        single = {gb: run_losses(tmp, 1, {**drop, "training__precision": precision}, gb)[0] for gb in (8, 6)}
        if precision == "fp32":
            check(not np.array_equal(single[8], plain[8]), "dropout 0.1 changes the single process's losses")
        for name, ranks, layout, gb in layouts:
            sp = "true" if layout.get("parallel__tp", 1) > 1 else "false"
            for recompute in ("none", "full") if precision == "fp32" else ("none",):
                label = f"dropout, {precision}, {name}, sequence parallel {sp}, recompute {recompute}"
                got, err = run_losses(tmp, ranks, {**layout, **drop, "parallel__sequence_parallel": sp,
                                                   "training__recompute": recompute,
                                                   "training__precision": precision}, gb)
                check(got is not None, f"{label} runs ({err})")
                if got is not None:
                    delta = float(np.max(np.abs(got - single[gb])))
                    check(len(got) == 10 and delta <= tolerance,
                          f"{label}: within {tolerance:.0e} of the single process ({delta:.1e})")


with tempfile.TemporaryDirectory() as tmp:
    singles = {p: {gb: run_losses(tmp, 1, {"training__precision": p}, gb)[0] for gb in (8, 6)}
               for p in ["fp32", *PRECISIONS]}
    for p in PRECISIONS:
        if p != "fp32":
            delta = float(np.max(np.abs(singles[p][8] - singles["fp32"][8])))
            check(delta <= 5e-2, f"{p} single process tracks fp32 within 5e-2 over 10 steps ({delta:.1e})")
        matrix(tmp, p, singles[p])
    dropout(tmp, singles["fp32"])

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
