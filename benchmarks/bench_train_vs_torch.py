#!/usr/bin/env python3
"""One training step of the same GPT-2 (L=6, h=384, 6 heads, vocabulary 8192, T=256, B=8) in
Parallax and in PyTorch on the CPU, same thread count and same BLAS environment: prints the
median step times and their ratios (PyTorch time / Parallax time; above 1 means Parallax is
faster) in fp32 against fp32 and in bf16 against torch.autocast("cpu", dtype=torch.bfloat16);
Parallax's under each activation recomputation (none keeps the attention probabilities,
selective recomputes them, full re-runs every layer's forward) and in bf16 with full
recomputation; then the GEMM figures from bench_gemm.

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
dropout = 0
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
    ours = {}
    for precision, recompute in (("fp32", "none"), ("fp32", "selective"), ("fp32", "full"), ("bf16", "none"),
                                 ("bf16", "selective"), ("bf16", "full")):
        out = os.path.join(tmp, f"bench-{precision}-{recompute}.h5")
        subprocess.run([parallax, "run", exp, "--set", f"training.recompute={recompute}", "--set",
                        f"training.precision={precision}", "--out", out], check=True, env=env, capture_output=True)
        with h5py.File(out, "r") as f:
            run = f["runs"][list(f["runs"])[0]]
            times = list(run["iterations"]["iteration_time_s"][1:])  # the first step warms up
            held = float(run["memory"]["activations_peak_bytes"][0])
            ours[precision, recompute] = (statistics.median(times), held, str(run.attrs["blas"]))
    for (precision, recompute), (s, held, _) in ours.items():
        print(f"Parallax {precision}, recompute {recompute:9s}: step {1e3 * s:.0f} ms, "
              f"activations {held / 2**20:.0f} MiB")
    print(f"Parallax bf16 kernels: {ours['bf16', 'none'][2]}")

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


def torch_step_s(bf16):
    times = []
    for step in range(args.steps):
        t = time.perf_counter()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step > 0:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


print(f"threads {args.threads}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, torch {torch.__version__}")
for precision, bf16 in (("fp32", False), ("bf16", True)):
    p, q = ours[precision, "none"][0], torch_step_s(bf16)
    against = "torch.autocast bf16" if bf16 else "PyTorch fp32"
    print(f"{precision}: Parallax step {1e3 * p:.0f} ms (recompute none), {against} step {1e3 * q:.0f} ms "
          f"(medians of {args.steps - 1}); ratio PyTorch/Parallax = {q / p:.2f}")
subprocess.run([os.path.join(args.build, "bench_gemm")], env=env, check=True)
