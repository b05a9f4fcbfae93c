#!/usr/bin/env python3
"""One training step of the same GPT-2 (L=6, h=384, 6 heads, vocabulary 8192, T=256, B=8) in
Parallax and in PyTorch on the CPU, same thread count and same BLAS environment: prints the
median step times and their ratio (PyTorch time / Parallax time; above 1 means Parallax is
faster), Parallax's under each activation recomputation (none keeps the attention
probabilities, selective recomputes them, full re-runs every layer's forward), then the GEMM
figures from bench_gemm.

usage: bench_train_vs_torch.py BUILD_DIR [--threads N] [--steps K]
Set OPENBLAS_CORETYPE in the environment to choose OpenBLAS's kernels for both.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--steps", type=int, default=6)
args = ap.parse_args()
env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
parallax = os.path.join(args.build, "parallax")

with tempfile.TemporaryDirectory() as tmp:
    exp = os.path.join(tmp, "bench.toml")
    with open(exp, "w") as f:
        f.write(f"""[model]
layers = 6
hidden = 384
heads = 6
seq_len = 256
vocab = 8192
[system]
preset = "cpu"
gpus = 1
[training]
global_batch = 8
micro_batch = 8
precision = "fp32"
steps = {args.steps}
data = "synthetic"
log_every = 1000
""")
    recomputed = {}
    for recompute in ("none", "selective", "full"):
        out = os.path.join(tmp, f"bench-{recompute}.h5")
        subprocess.run([parallax, "run", exp, "--set", f"training.recompute={recompute}", "--out", out], check=True,
                       env=env, capture_output=True)
        with h5py.File(out, "r") as f:
            run = f["runs"][list(f["runs"])[0]]
            times = list(run["iterations"]["iteration_time_s"][1:])  # the first step warms up
            recomputed[recompute] = (statistics.median(times), float(run["memory"]["activations_peak_bytes"][0]))
    ours_s = recomputed["none"][0]
    for recompute, (s, held) in recomputed.items():
        print(f"Parallax, recompute {recompute:9s}: step {1e3 * s:.0f} ms, activations {held / 2**20:.0f} MiB")

try:
    os.environ.update(OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from torch_gpt import GPT
except ImportError:
    print("PyTorch not installed, no ratio")
    sys.exit(0)
torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = GPT(6, 384, 6, 256, 8192)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
x = torch.randint(0, 8192, (8, 256))
y = torch.randint(0, 8192, (8, 256))
theirs = []
for step in range(args.steps):
    t = time.perf_counter()
    opt.zero_grad()
    model(x, y).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if step > 0:
        theirs.append(time.perf_counter() - t)
p, q = ours_s, statistics.median(theirs)
print(f"threads {args.threads}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, torch {torch.__version__}")
print(f"Parallax step {1e3 * p:.0f} ms (recompute none), PyTorch step {1e3 * q:.0f} ms (median of {len(theirs)})")
print(f"ratio PyTorch/Parallax = {q / p:.2f}")
subprocess.run([os.path.join(args.build, "bench_gemm")], env=env, check=True)
