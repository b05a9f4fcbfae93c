#!/usr/bin/env python3
"""GPT-2 124M (T 1024, vocabulary 50304) training steps on one GPU: Parallax's CUDA backend in
bf16, and in the same run the same model in PyTorch (nanoGPT's: fused scaled-dot-product
attention, bf16 autocast, fused AdamW), eager and under torch.compile. Prints each one's median
step time, tokens/s and MFU, the model FLOPs counted as nanoGPT and llm.c count them
(6N + 12 L C T per token, N every parameter with the tied embedding counted once) against the
device's dense bf16 peak.

usage: bench_gpt2_gpu.py PARALLAX [--batch B] [--steps K] [--peak-tflops P] [--skip-compile]
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
ap.add_argument("parallax")
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--steps", type=int, default=12)
ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
ap.add_argument("--skip-compile", action="store_true")
args = ap.parse_args()
L, C, NH, T, V = 12, 768, 12, 1024, 50304
B = args.batch
params = V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C
flops_per_token = 6 * params + 12 * L * C * T  # nanoGPT's estimate_mfu (Q*H = C)


def report(name, seconds):
    tokens = B * T / seconds
    mfu = tokens * flops_per_token / (args.peak_tflops * 1e12)
    print(f"{name:28s} step {1e3 * seconds:8.1f} ms  {tokens:10.0f} tokens/s  MFU {100 * mfu:5.1f} %")
    return tokens


def parallax():
    with tempfile.TemporaryDirectory() as tmp:
        exp = os.path.join(tmp, "gpt2.toml")
        with open(exp, "w") as f:
            f.write(f"""[model]
preset = "gpt2-124m"
dropout = 0
[system]
preset = "dgx-h100"
gpus = 1
[training]
backend = "cuda"
global_batch = {B}
micro_batch = {B}
precision = "bf16"
recompute = "selective"
steps = {args.steps}
data = "synthetic"
log_every = 1000
""")
        out = os.path.join(tmp, "gpt2.h5")
        r = subprocess.run([args.parallax, "run", exp, "--out", out], capture_output=True, text=True)
        if r.returncode != 0:
            print("Parallax cuda bf16: failed:", r.stderr.strip()[-800:])
            return None
        with h5py.File(out, "r") as f:
            run = f["runs"][list(f["runs"])[0]]
            times = list(run["iterations"]["iteration_time_s"][2:])  # two warm-up steps
            print("Parallax kernels:", run.attrs.get("blas", ""))
        return report("Parallax cuda bf16", statistics.median(times))


def pytorch(compiled):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
            for block in self.h:
                x = block(x)
            logits = self.ln_f(x) @ self.wte.weight.t()
            return F.cross_entropy(logits.float().view(-1, V), targets.view(-1))

    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    model = GPT().cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    step_model = torch.compile(model) if compiled else model
    x = torch.randint(0, V, (B, T), device="cuda")
    y = torch.randint(0, V, (B, T), device="cuda")
    times = []
    for i in range(args.steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step_model(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return report(f"PyTorch {torch.__version__} {'compile' if compiled else 'eager'}", statistics.median(times))


print(f"GPT-2 124M, B {B}, T {T}: {params / 1e6:.1f} M parameters, {flops_per_token / 1e9:.3f} GFLOP per token, "
      f"peak {args.peak_tflops} TFLOP/s")
ours = parallax()
try:
    eager = pytorch(False)
    compiled = None if args.skip_compile else pytorch(True)
except ImportError:
    print("PyTorch not installed: no side-by-side")
    sys.exit(0)
if ours:
    print(f"Parallax / PyTorch eager tokens/s: {ours / eager:.2f}" +
          (f"; / torch.compile: {ours / compiled:.2f}" if compiled else ""))
