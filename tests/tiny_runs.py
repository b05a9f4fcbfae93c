"""What the MPI tests share: a check that prints and counts, and `parallax run` of the tiny
experiment (4 layers, synthetic tokens, micro-batches of 2, one BLAS and oneDNN thread a rank:
a GEMM may round differently on 1 and 2 threads) on 1 or more MPI ranks."""
import os
import subprocess

import h5py

failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def sets(**kv):
    """--set arguments; a double underscore in a name stands for the dot (parallel__tp=2)."""
    out = []
    for k, v in kv.items():
        out += ["--set", k.replace("__", ".") + "=" + str(v)]
    return out


def run(parallax, root, out, ranks=1, extra=(), steps=10, global_batch=8, timeout=300):
    tiny = os.path.join(root, "experiments", "train-tiny.toml")
    base = sets(training__data="synthetic", training__steps=steps, training__global_batch=global_batch,
                training__micro_batch=2, model__layers=4, system__gpus=ranks)
    cmd = ([] if ranks == 1 else ["mpiexec", "-n", str(ranks)]) + [parallax, "run", tiny, *base, *extra, "--out", out]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def losses(path):
    """The losses of the last run in a results file."""
    with h5py.File(path, "r") as f:
        return f["runs"][list(f["runs"])[-1]]["iterations"]["loss"][:]


def tiny_study(name, steps, plans, launcher="local", layers=2):
    """The text of a study of the tiny model (fp32, batches of 8 in micro-batches of 2); `plans` as
    TOML text."""
    return f"""name = "{name}"
[model]
preset = "tiny-gpt"
layers = {layers}
[system]
preset = "cpu"
[training]
global_batch = 8
micro_batch = 2
precision = "fp32"
steps = {steps}
log_every = 1000
[study]
plans = {plans}
launcher = "{launcher}"
"""
