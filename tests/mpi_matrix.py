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
import subprocess
import sys
import tempfile

import h5py
import numpy as np

parallax, root = sys.argv[1], sys.argv[2]
tiny = os.path.join(root, "experiments", "train-tiny.toml")
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


# name, ranks, overrides (tp/pp/dp/vpp/schedule/optimizer), global batch (6: 3 micro-batches of 2)
LAYOUTS = [
    ("single", 1, {}, 8),
    ("tp2", 2, {"parallel.tp": 2}, 8),
    ("pp2 1f1b", 2, {"parallel.pp": 2}, 8),
    ("pp2 vpp2 interleaved, 3 micro-batches", 2,
     {"parallel.pp": 2, "parallel.vpp": 2, "parallel.schedule": "interleaved-1f1b"}, 6),
    ("dp2 distributed optimizer", 2, {"parallel.dp": 2, "parallel.distributed_optimizer": "true"}, 8),
    ("tp2 pp2 dp2", 8, {"parallel.tp": 2, "parallel.pp": 2, "parallel.dp": 2}, 8),
]


def losses(tmp, ranks, over, global_batch):
    out = os.path.join(tmp, "run.h5")
    if os.path.exists(out):
        os.remove(out)
    sets = {"training.data": "synthetic", "training.steps": 10, "training.global_batch": global_batch,
            "training.micro_batch": 2, "model.layers": 4, "system.gpus": ranks, **over}
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    cmd = ([] if ranks == 1 else ["mpiexec", "-n", str(ranks)]) + [parallax, "run", tiny, *args, "--out", out]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    if r.returncode != 0:
        return None, r.stderr.strip()[-300:]
    with h5py.File(out, "r") as f:
        return f["runs"][list(f["runs"])[-1]]["iterations"]["loss"][:], ""


with tempfile.TemporaryDirectory() as tmp:
    single = {gb: losses(tmp, 1, {}, gb)[0] for gb in (8, 6)}
    for name, ranks, layout, gb in LAYOUTS:
        for sp in (["false", "true"] if layout.get("parallel.tp", 1) > 1 else ["false"]):
            reference = None
            for recompute in ("none", "selective", "full"):
                label = f"{name}, sequence parallel {sp}, recompute {recompute}"
                got, err = losses(tmp, ranks, {**layout, "parallel.sequence_parallel": sp,
                                               "training.recompute": recompute}, gb)
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
