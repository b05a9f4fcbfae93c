#!/usr/bin/env python3
"""Data-parallel gradient reduction overlapped with the backward pass, measured: the same dp=2
run (GPT-2 L=6, h=384, 6 heads; by default vocabulary 512, T=64, one micro-batch of 2 per rank,
so that the reduction is large next to the backward and the embedding, whose gradient is final
only at the very end, is a small bucket) with
parallel.overlap_grad_reduce off (the whole all-reduce after the backward: the total DP
communication time) and on (buckets started as each layer's gradients are final: what is left
after the backward is the exposed DP time). Prints the medians over steps 2..K of each rank's
phases. On CPU ranks of one machine the reduction is itself CPU work (shared-memory copies
and sums), so what leaves the exposed time partly reappears in the backward.

usage: bench_overlap.py BUILD_DIR [--steps K] [--ranks N] [--seq-len T] [--vocab V] [--micro-batches M]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--steps", type=int, default=6)
ap.add_argument("--ranks", type=int, default=2)
ap.add_argument("--seq-len", type=int, default=64)
ap.add_argument("--vocab", type=int, default=512)
ap.add_argument("--micro-batches", type=int, default=1)
args = ap.parse_args()
parallax = os.path.join(args.build, "parallax")
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
model = ["model.layers=6", "model.hidden=384", "model.heads=6", f"model.vocab={args.vocab}", f"model.seq_len={args.seq_len}"]
common = ["training.data=synthetic", f"training.steps={args.steps}", f"training.global_batch={2 * args.micro_batches * args.ranks}",
          "training.micro_batch=2", f"parallel.dp={args.ranks}", f"system.gpus={args.ranks}"] + model

print(f"dp={args.ranks}, medians over steps 2..{args.steps}, ms per rank")
print(f"{'overlap':>8} {'backward':>9} {'dp_comm (exposed)':>18} {'iteration':>10}")
with tempfile.TemporaryDirectory() as tmp:
    for overlap in ("false", "true"):
        out = os.path.join(tmp, f"overlap_{overlap}.h5")
        cmd = ["mpiexec", "-n", str(args.ranks), parallax, "run", os.path.join(root, "experiments", "train-tiny.toml"),
               "--out", out]
        for s in common + [f"parallel.overlap_grad_reduce={overlap}"]:
            cmd += ["--set", s]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr)
        with h5py.File(out, "r") as f:
            run = f["runs"][list(f["runs"])[-1]]
            ph = run["phases"][:]
            ph = ph[ph["step"] > 1]
            it = run["iterations"]["iteration_time_s"][1:]
        print(f"{overlap:>8} {1e3 * np.median(ph['backward_s']):9.1f} {1e3 * np.median(ph['dp_comm_s']):18.1f} "
              f"{1e3 * np.median(it):10.1f}")
