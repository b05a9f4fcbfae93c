"""Hostile and damaged inputs, generated from a fixed seed: mutated experiment TOML, --set
arguments, published-run CSVs, sweep spaces, checkpoints and results files (for `parallax` and
for scripts/report.py). Every case must end with exit 0, or exit 2 and one line on stderr: no
death by a signal, no hang (a time limit per case), no traceback, no exit 1. Prints the counts by
input class and outcome.

usage: fuzz_inputs.py PARALLAX ROOT [--cases N] [--seed S]
"""
import argparse
import collections
import os
import random
import shutil
import subprocess
import sys
import tempfile

import h5py

ap = argparse.ArgumentParser()
ap.add_argument("parallax")
ap.add_argument("root")
ap.add_argument("--cases", type=int, default=300, help="cases in all, spread over the classes")
ap.add_argument("--seed", type=int, default=20261206)
args = ap.parse_args()
rng = random.Random(args.seed)
root = args.root
example = open(os.path.join(root, "experiments", "example.toml")).read()
sweep = open(os.path.join(root, "experiments", "sweep-gpt3-512.toml")).read()
runs_csv = open(os.path.join(root, "experiments", "validation", "published_runs.csv")).read().splitlines()
env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
JUNK = ["", "0", "-1", "1e400", "nan", "inf", "\"x\"", "[]", "[1,2,", "{}", "true", "9" * 30, "\u00e9\u00e9", "\x00",
        "'''", "[[x]]", "= =", "0x10", "1_000", "2:04", "\"" + "a" * 5000 + "\""]
KEYS = ["model.layers", "model.hidden", "model.heads", "model.vocab", "model.seq_len", "model.preset",
        "parallel.tp", "parallel.pp", "parallel.dp", "parallel.vpp", "parallel.cp", "parallel.ep",
        "training.micro_batch", "training.global_batch", "training.precision", "training.recompute",
        "system.gpus", "system.nodes", "system.preset", "system.file", "model.dropout", "training.lr",
        "parallel.stage_layers", "sweep.tp", "sweep.gpus", "nonsense.key", "model", "a.b.c.d.e"]


def mutate_text(text):
    """One of: a byte flipped, a span deleted or duplicated, junk inserted, truncation."""
    b = bytearray(text.encode())
    kind = rng.randrange(5)
    if not b:
        return bytes(rng.randrange(256) for _ in range(8))
    i = rng.randrange(len(b))
    if kind == 0:
        b[i] = rng.randrange(256)
    elif kind == 1:
        del b[i:i + rng.randrange(1, 40)]
    elif kind == 2:
        j = min(len(b), i + rng.randrange(1, 80))
        b[i:i] = b[i:j] * rng.randrange(1, 50)
    elif kind == 3:
        b[i:i] = rng.choice(JUNK).encode()
    else:
        b = b[:i]
    return bytes(b)


def outcome(cmd, timeout=20, cwd=None):
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        return "hang", ""
    err = r.stderr.decode(errors="replace")
    if r.returncode < 0:
        return f"signal {-r.returncode}", err
    if "Traceback" in err:
        return "traceback", err
    if r.returncode == 0:
        return "exit 0", err
    if r.returncode == 2:
        return ("exit 2, one line" if len(err.strip().splitlines()) == 1 else "exit 2, several lines"), err
    return f"exit {r.returncode}", err


def cases(tmp):
    """(class, command) pairs."""
    px = args.parallax
    out = os.path.join(tmp, "out.h5")
    per = max(1, args.cases // 6)
    for n in range(per):  # experiment TOML
        path = os.path.join(tmp, f"e{n}.toml")
        open(path, "wb").write(mutate_text(example))
        yield "experiment TOML", [px, "predict", path, "--format", "json"]
    for n in range(per):  # --set
        sets = []
        for _ in range(rng.randrange(1, 4)):
            value = rng.choice(JUNK + [str(rng.randrange(-3, 5000))]).replace("\x00", "")  # argv holds no NUL
            sets += ["--set", rng.choice(KEYS) + "=" + value]
        yield "--set", [px, "predict", os.path.join(root, "experiments", "example.toml"), *sets]
    for n in range(per):  # published-run CSV
        path = os.path.join(tmp, f"r{n}.csv")
        lines = [runs_csv[0]] + rng.sample(runs_csv[1:], 3)
        text = "\n".join(lines)
        for _ in range(rng.randrange(1, 4)):
            text = mutate_text(text).decode(errors="replace")
        open(path, "w").write(text)
        yield "published-run CSV", [px, "validate", path]
    for n in range(per):  # sweep spaces
        path = os.path.join(tmp, f"s{n}.toml")
        open(path, "wb").write(mutate_text(sweep))
        yield "sweep space", [px, "sweep", path, "--quiet", "--top", "1"]
    base_ckpt = os.path.join(tmp, "ckpt", "step_000001.h5")
    for n in range(per):  # checkpoints
        path = os.path.join(tmp, f"c{n}.h5")
        open(path, "wb").write(damage(base_ckpt))
        yield "checkpoint", [px, "run", os.path.join(root, "experiments", "train-tiny.toml"), "--set",
                             "training.data=synthetic", "--set", "training.steps=1", "--set",
                             f"training.init_from={path}", "--out", out]
    base_results = os.path.join(tmp, "base.h5")
    for n in range(max(1, per // 5)):  # results files for the report (slow: matplotlib)
        path = os.path.join(tmp, f"h{n}.h5")
        open(path, "wb").write(damage(base_results) if rng.random() < 0.5 else damage_attributes(base_results, path))
        yield "results file (report.py)", [sys.executable, os.path.join(root, "scripts", "report.py"), path, "--out",
                                           os.path.join(tmp, f"rep{n}")]


def damage(path):
    """The file's bytes with a few runs of them overwritten."""
    b = bytearray(open(path, "rb").read())
    for _ in range(rng.randrange(1, 6)):
        i = rng.randrange(len(b))
        b[i:i + rng.randrange(1, 64)] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    return bytes(b)


def damage_attributes(path, to):
    """A valid HDF5 file whose attributes or datasets are wrong: removed, retyped, garbage."""
    shutil.copy(path, to)
    with h5py.File(to, "r+") as f:
        runs = list(f["runs"])
        g = f["runs"][rng.choice(runs)]
        kind = rng.randrange(4)
        if kind == 0:
            del g.attrs[rng.choice(list(g.attrs))]
        elif kind == 1:
            g.attrs[rng.choice(list(g.attrs))] = rng.choice([3.5, "x", -1])
        elif kind == 2:
            del g[rng.choice(list(g))]
        else:
            f.attrs["schema_version"] = 99
    return open(to, "rb").read()


def main():
    counts = collections.Counter()
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([args.parallax, "run", os.path.join(root, "experiments", "train-tiny.toml"), "--set",
                        "training.data=synthetic", "--set", "training.steps=1", "--set", "training.checkpoint_every=1",
                        "--set", f"training.checkpoint_dir={os.path.join(tmp, 'ckpt')}", "--out",
                        os.path.join(tmp, "base.h5")], env=env, check=True, capture_output=True)
        subprocess.run([args.parallax, "predict", os.path.join(root, "experiments", "example.toml"), "--out",
                        os.path.join(tmp, "base.h5")], env=env, check=True, capture_output=True)
        for cls, cmd in cases(tmp):
            result, err = outcome(cmd, timeout=120 if "report.py" in cls else 20)
            counts[(cls, result)] += 1
            if result not in ("exit 0", "exit 2, one line"):
                bad.append((cls, result, " ".join(cmd[1:])[:160], err.strip()[-300:]))
    for (cls, result), n in sorted(counts.items()):
        print(f"{cls:28s} {result:24s} {n:5d}")
    for cls, result, cmd, err in bad:
        print(f"FAIL {cls}: {result}: {cmd}\n    {err}")
    print(f"{sum(counts.values())} cases, {len(bad)} failed")
    return 1 if bad else 0


sys.exit(main())
