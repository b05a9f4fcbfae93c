#!/usr/bin/env python3
"""The simulator against the executor on this machine: `parallax calibrate` (unless --system
names a system file already written), then `parallax run` of each plan below on synthetic tokens
(one rank per core, one BLAS and OpenMP thread a rank), every run into one results file, then
`parallax compare` on it: the prediction of each run and of each of its phases beside what was
measured, with the mean and largest errors.

usage: bench_calibrated_plans.py BUILD_DIR [--system FILE] [--out RESULTS.h5] [--steps K] [--quick]
"""
import argparse
import os
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--system", help="a calibrated system file (default: calibrate now)")
ap.add_argument("--out", help="results file (default: a temporary one)")
ap.add_argument("--steps", type=int, default=4)
ap.add_argument("--quick", action="store_true", help="the first four plans only")
args = ap.parse_args()
parallax = os.path.abspath(os.path.join(args.build, "parallax"))
env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

# layers, hidden, precision, recompute, tp, pp, dp, extra
PLANS = [
    (2, 128, "fp32", "none", 1, 1, 1, {}),
    (4, 256, "fp32", "none", 1, 1, 1, {}),
    (4, 256, "bf16", "none", 1, 1, 1, {}),
    (4, 256, "fp32", "full", 1, 1, 1, {}),
    (8, 256, "fp32", "selective", 1, 1, 1, {}),
    (2, 512, "fp32", "none", 1, 1, 1, {}),
    (4, 512, "bf16", "selective", 1, 1, 1, {}),
    (2, 768, "fp32", "none", 1, 1, 1, {}),
    (2, 768, "bf16", "full", 1, 1, 1, {}),
    (4, 256, "fp32", "none", 2, 1, 1, {}),
    (4, 256, "fp32", "none", 2, 1, 1, {"parallel.sequence_parallel": "true"}),
    (4, 512, "bf16", "selective", 2, 1, 1, {}),
    (4, 256, "fp32", "none", 1, 2, 1, {}),
    (8, 256, "fp32", "full", 1, 2, 1, {}),
    (4, 512, "bf16", "none", 1, 2, 1, {}),
    (8, 128, "fp32", "none", 1, 2, 1, {"parallel.vpp": 2, "parallel.schedule": "interleaved-1f1b"}),
    (4, 256, "fp32", "none", 1, 1, 2, {}),
    (4, 256, "fp32", "none", 1, 1, 2, {"parallel.distributed_optimizer": "true"}),
    (4, 512, "bf16", "full", 1, 1, 2, {}),
    (2, 768, "fp32", "selective", 1, 1, 2, {}),
    (6, 384, "fp32", "none", 2, 1, 1, {}),
    (6, 384, "bf16", "none", 1, 2, 1, {}),
]

def experiment(tmp, system):
    path = os.path.join(tmp, "plan.toml")
    with open(path, "w") as f:
        f.write(f'[model]\npreset = "tiny-gpt"\n[system]\nfile = "{system}"\n'
                '[training]\ndata = "synthetic"\nlr = 1e-3\nwarmup_steps = 1\nlog_every = 1000\n')
    return path


def main():
    with tempfile.TemporaryDirectory() as tmp:
        system = os.path.abspath(args.system) if args.system else os.path.join(tmp, "cpu-calibrated.toml")
        if not args.system:
            subprocess.run(["mpiexec", "-n", "2", parallax, "calibrate", "--out", system], env=env, check=True)
        out = os.path.abspath(args.out) if args.out else os.path.join(tmp, "plans.h5")
        exp = experiment(tmp, system)
        for layers, hidden, precision, recompute, tp, pp, dp, extra in PLANS[:4] if args.quick else PLANS:
            ranks = tp * pp * dp
            sets = {"model.layers": layers, "model.hidden": hidden, "model.heads": hidden // 64,
                    "model.ffn_hidden": 4 * hidden, "model.seq_len": 128, "model.vocab": 1024,
                    "training.precision": precision, "training.recompute": recompute,
                    "training.micro_batch": 4, "training.global_batch": 8 * dp, "training.steps": args.steps,
                    "parallel.tp": tp, "parallel.pp": pp, "parallel.dp": dp, "system.gpus": ranks, **extra}
            cmd = ([] if ranks == 1 else ["mpiexec", "-n", str(ranks)]) + [parallax, "run", exp]
            for k, v in sets.items():
                cmd += ["--set", f"{k}={v}"]
            r = subprocess.run(cmd + ["--out", out], env=env, capture_output=True, text=True)
            print(("ran " if r.returncode == 0 else "FAILED ") + " ".join(f"{k.split('.')[-1]}={v}" for k, v in sets.items()
                                                                         if k.split('.')[-1] not in ("steps", "vocab")),
                  flush=True)
            if r.returncode != 0:
                print(r.stderr[-500:])
        subprocess.run([parallax, "compare", out], check=True)


sys.exit(main())
