"""The executor's fp32 test matrix: recomputation {none, selective, full} x sequence parallelism
{off, on} x layouts {single, tp2, pp2 1F1B, pp2 vpp2 interleaved with 3 micro-batches (not a
multiple of pp), dp2 with the distributed optimizer, tp2 pp2 dp2}. Every run gives the single
process's losses within 1e-5 over 10 steps, and within a layout every recomputation gives the
losses of none to the bit. Sequence parallelism changes only layouts with tp > 1; each such
layout runs with it on and off. One BLAS thread a rank (OpenBLAS's GEMMs may round differently
on 1 and 2 threads).

usage: mpi_matrix.py PARALLAX ROOT
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_runs import check, failures, losses, run, sets  # noqa: E402

parallax, root = sys.argv[1], sys.argv[2]


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


with tempfile.TemporaryDirectory() as tmp:
    single = {gb: run_losses(tmp, 1, {}, gb)[0] for gb in (8, 6)}
    for name, ranks, layout, gb in LAYOUTS:
        for sp in (["false", "true"] if layout.get("parallel__tp", 1) > 1 else ["false"]):
            reference = None
            for recompute in ("none", "selective", "full"):
                label = f"{name}, sequence parallel {sp}, recompute {recompute}"
                got, err = run_losses(tmp, ranks, {**layout, "parallel__sequence_parallel": sp,
                                                   "training__recompute": recompute}, gb)
                check(got is not None, f"{label} runs ({err})")
                if got is None:
                    continue
                delta = float(np.max(np.abs(got - single[gb])))
                check(len(got) == 10 and delta <= 1e-5, f"{label}: within 1e-5 of the single process ({delta:.1e})")
                if reference is None:
                    reference = got
                else:
                    check(np.array_equal(got, reference), f"{label}: the losses of recompute none, bit for bit")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
