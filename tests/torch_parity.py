"""Losses of `parallax run` against an independent PyTorch GPT-2 (nanoGPT's definition) started
from the same weights on the same tokens: |delta| <= 1e-4 at each of 10 fp32 steps, for two
model shapes (the second with a vocabulary that Parallax pads); in bf16 against PyTorch under
torch.autocast("cpu", dtype=torch.bfloat16), fp32 weights and optimizer, |delta| <= 2e-2; and with layer-wise learning-rate
decay against PyTorch parameter groups carrying the same multipliers (layer l of L: d^(L-l), the
embeddings d^L, the final LayerNorm 1). Every learning-rate schedule (cosine, linear, constant,
with warm-up) equals PyTorch's schedulers step by step. Without torch it exits 77: CTest reports it SKIPPED.

usage: torch_parity.py PARALLAX
"""
import math
import os
import struct
import subprocess
import sys
import tempfile
import warnings

try:
    import torch
except ImportError:
    print("SKIPPED: PyTorch is not installed (apt-get install python3-torch); parity not checked")
    sys.exit(77)  # CTest reports it SKIPPED, never passed
import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt import GPT  # noqa: E402

parallax = sys.argv[1]
torch.set_num_threads(1)


def write_tokens(path, tokens):
    with open(path, "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, len(tokens), *([0] * 253)))
        f.write(np.asarray(tokens, dtype=np.uint16).tobytes())


def lr_at(it, lr, min_lr, warmup, steps):
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    ratio = min(1.0, (it - warmup) / max(1, steps - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def check_shape(tmp, L, C, NH, T, V, B, mb, steps=10, layer_decay=1.0, precision="fp32"):
    torch.manual_seed(1234)
    model = GPT(L, C, NH, T, V)
    rng = np.random.default_rng(7)
    tokens = rng.integers(0, V, size=T * B * 3 + 1)
    tag = f"{L}_{precision}"
    data = os.path.join(tmp, f"tokens_{tag}.bin")
    write_tokens(data, tokens)
    weights = os.path.join(tmp, f"init_{tag}.h5")
    with h5py.File(weights, "w") as f:
        for name, p in model.state_dict().items():
            f[name] = p.detach().numpy().astype(np.float32)
    cfg = dict(lr=1e-3, min_lr=1e-4, warmup=2, wd=0.1, clip=1.0, b1=0.9, b2=0.95, eps=1e-8)
    exp = os.path.join(tmp, f"exp_{tag}.toml")
    with open(exp, "w") as f:
        f.write(f"""[model]
layers = {L}
hidden = {C}
heads = {NH}
seq_len = {T}
vocab = {V}
dropout = 0
[system]
preset = "cpu"
gpus = 1
[training]
global_batch = {B}
micro_batch = {mb}
precision = "{precision}"
steps = {steps}
lr = {cfg['lr']}
min_lr = {cfg['min_lr']}
warmup_steps = {cfg['warmup']}
weight_decay = {cfg['wd']}
grad_clip = {cfg['clip']}
adam_beta1 = {cfg['b1']}
adam_beta2 = {cfg['b2']}
adam_eps = {cfg['eps']}
layerwise_lr_decay = {layer_decay}
data = "{data}"
init_from = "{weights}"
log_every = 100
""")
    out = os.path.join(tmp, f"results_{tag}.h5")
    subprocess.run([parallax, "run", exp, "--out", out], check=True, capture_output=True)
    with h5py.File(out, "r") as f:
        run = f["runs"][list(f["runs"])[-1]]
        ours = run["iterations"]["loss"][:]

    def multiplier(name):  # BEiT's layer-wise decay; the tied embedding counts as the embedding
        if name.startswith("transformer.h."):
            return layer_decay ** (L - (int(name.split(".")[2]) + 1))
        return 1.0 if name.startswith("transformer.ln_f.") else layer_decay ** L

    groups = [{"params": [p], "weight_decay": cfg["wd"] if p.dim() >= 2 else 0.0, "scale": multiplier(n)}
              for n, p in model.named_parameters()]
    opt = torch.optim.AdamW(groups, lr=cfg["lr"], betas=(cfg["b1"], cfg["b2"]), eps=cfg["eps"])
    n_seq = (len(tokens) - 1) // T
    theirs = []
    for it in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(it, cfg["lr"], cfg["min_lr"], cfg["warmup"], steps) * g["scale"]
        opt.zero_grad()
        total = 0.0
        for j in range(B // mb):
            seqs = [(it * B + j * mb + s) % n_seq for s in range(mb)]
            x = torch.tensor(np.stack([tokens[i * T:i * T + T] for i in seqs]), dtype=torch.long)
            y = torch.tensor(np.stack([tokens[i * T + 1:i * T + T + 1] for i in seqs]), dtype=torch.long)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = model(x, y)
            (loss / (B // mb)).backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        theirs.append(total / (B // mb))
    worst = max(abs(a - b) for a, b in zip(ours, theirs))
    print(f"L={L} C={C} NH={NH} T={T} V={V} B={B} mb={mb} layer decay {layer_decay} {precision}: "
          f"max |loss delta| over {steps} steps = {worst:.2e}")
    for a, b in zip(ours, theirs):
        print(f"   parallax {a:.7f}   torch {b:.7f}")
    return worst


# SequentialLR itself steps the next scheduler with an epoch, which torch 1.13 warns about.
warnings.filterwarnings("ignore", message="The epoch parameter")


def torch_schedule(opt, name, warmup, steps, lr, min_lr):
    """nanoGPT's warm-up (lr*(it+1)/(warmup+1)) is LinearLR from 1/(warmup+1); then the decay."""
    S = torch.optim.lr_scheduler
    decay = {"cosine": lambda: S.CosineAnnealingLR(opt, T_max=steps - warmup, eta_min=min_lr),
             "linear": lambda: S.LinearLR(opt, start_factor=1.0, end_factor=min_lr / lr, total_iters=steps - warmup),
             "constant": lambda: S.LambdaLR(opt, lambda k: 1.0)}[name]
    if warmup == 0:
        return decay()
    warm = S.LinearLR(opt, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup)
    return S.SequentialLR(opt, [warm, decay()], milestones=[warmup])


def check_schedules(tmp, steps=12, lr=1e-3, min_lr=1e-4):
    worst = 0.0
    for name in ("cosine", "linear", "constant"):
        for warmup in (0, 3):
            out = os.path.join(tmp, f"lr_{name}_{warmup}.h5")
            subprocess.run([parallax, "run", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                          "experiments", "train-tiny.toml"),
                            "--set", "training.data=synthetic", "--set", f"training.steps={steps}",
                            "--set", f"training.lr={lr}", "--set", f"training.min_lr={min_lr}",
                            "--set", f"training.warmup_steps={warmup}", "--set", f"training.lr_schedule={name}",
                            "--out", out], check=True, capture_output=True)
            with h5py.File(out, "r") as f:
                ours = f["runs"][list(f["runs"])[-1]]["iterations"]["lr"][:]
            opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
            sched = torch_schedule(opt, name, warmup, steps, lr, min_lr)
            theirs = []
            for _ in range(steps):
                theirs.append(opt.param_groups[0]["lr"])
                opt.step()
                sched.step()
            delta = max(abs(a - b) / lr for a, b in zip(ours, theirs))
            print(f"lr schedule {name}, warm-up {warmup}: max |lr delta|/lr over {steps} steps = {delta:.1e}")
            worst = max(worst, delta)
    return worst


with tempfile.TemporaryDirectory() as tmp:
    # The layer-wise case is held to 1e-5: a wrong multiplier moves the loss by about 3e-4 in 10 steps.
    results = [(check_shape(tmp, 2, 64, 4, 32, 256, 4, 2), 1e-4), (check_shape(tmp, 3, 96, 6, 48, 300, 6, 2), 1e-4),
               (check_shape(tmp, 3, 64, 4, 32, 256, 4, 2, layer_decay=0.5), 1e-5), (check_schedules(tmp), 1e-9),
               (check_shape(tmp, 2, 64, 4, 32, 256, 4, 2, precision="bf16"), 2e-2)]
ok = all(w <= bound for w, bound in results)
print(f"{sum(w <= bound for w, bound in results)} passed, {sum(w > bound for w, bound in results)} failed")
sys.exit(0 if ok else 1)
