"""A study through a real Slurm: the test starts a one-node cluster (tests/slurm_cluster.sh:
munged, slurmctld and slurmd on this host, state in a temporary directory) and stops it.
- a three-plan study of the tiny model runs as job arrays (`srun --mpi=pmi2`), each run records
  its Slurm job; `collect` merges its runs and the report draws the study view;
- in a second study one array task is cancelled with scancel while it runs: status calls it
  cancelled, and `study resume` submits that plan alone, which then finishes;
- `sbatch --test-only` accepts the dry-run scripts of a 1024-GPU study (128 nodes of 8 GPUs,
  declared in the cluster's configuration but never started) and refuses one node more.
Exit 77 (SKIPPED) when Slurm is not installed or this is not root (slurmd needs it).

usage: study_slurm.py PARALLAX ROOT
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_runs import check, failures, tiny_study  # noqa: E402

parallax, root = sys.argv[1], sys.argv[2]
if not all(shutil.which(t) for t in ("munged", "slurmctld", "slurmd", "sbatch")) or os.geteuid() != 0:
    print("SKIPPED: needs Slurm and munge (bash scripts/setup.sh) and root for slurmd")
    sys.exit(77)
cluster = os.path.join(root, "tests", "slurm_cluster.sh")
BIG = """name = "gpt3-1024"
[model]
preset = "gpt3-175b"
[system]
preset = "dgx-a100-80g"
gpus = 1024
[training]
global_batch = 1536
precision = "bf16"
[sweep]
gpus = [512, 1024]
[study]
top_k = 2
steps = 20
launcher = "slurm"
[study.slurm]
partition = "gpu"
account = "llm"
time = "00:30:00"
gpus_per_node = 8
extra_sbatch = ["--exclusive"]
"""


def run(*args, timeout=120):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env)


def states(directory):
    r = run(parallax, "study", "status", directory, "--format", "json")
    return {s["plan"]: s for s in json.loads(r.stdout)} if r.returncode == 0 else {}


def wait_for(directory, done, limit=240):
    deadline = time.time() + limit
    while time.time() < deadline:
        s = states(directory)
        if s and done(s):
            return s
        time.sleep(1)
    return states(directory)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


tmp = tempfile.mkdtemp(prefix="parallax-slurm-")
state = os.path.join(tmp, "cluster")
env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
try:
    started = subprocess.run(["bash", cluster, "start", state], capture_output=True, text=True, timeout=120)
    check(started.returncode == 0, f"a one-node Slurm starts ({started.stderr.strip()})")
    if started.returncode != 0:
        raise SystemExit
    env["SLURM_CONF"] = started.stdout.strip()

    first = os.path.join(tmp, "first")
    study = write(os.path.join(tmp, "first.toml"),
                  tiny_study("three-plans", 5, '["t1p1d1m2", "t1p1d2m2", "t2p1d1m2"]', "slurm"))
    r = run(parallax, "study", study, "--dir", first)
    check(r.returncode == 0 and r.stdout.count("submitted") == 2,
          f"the study is submitted as two job arrays (1 and 2 ranks): {r.stdout.strip()} {r.stderr.strip()}")
    s = wait_for(first, lambda s: all(v["state"] not in ("submitted", "running") for v in s.values()))
    check(len(s) == 3 and all(v["state"] == "finished" for v in s.values()),
          f"the three plans finish ({[v['state'] for v in s.values()]})")
    with h5py.File(os.path.join(first, "plans", "01-t1p1d2m2", "results.h5"), "r") as f:
        runs = [f["runs"][k].attrs for k in f["runs"] if f["runs"][k].attrs["kind"] == "measured"]
        check(len(runs) == 1 and "slurm_job_id" in runs[0] and runs[0]["world_size"] == 2,
              "the 2-rank run records its Slurm job")
    collected = os.path.join(tmp, "first.h5")
    r = run(parallax, "study", "collect", first, "--out", collected)
    check(r.returncode == 0 and "6 added" in r.stdout, f"collect merges 3 measured and 3 predicted runs: {r.stdout}")
    r = run("/usr/bin/python3", os.path.join(root, "scripts", "report.py"), collected, "--out",
            os.path.join(tmp, "report"))
    check(r.returncode == 0 and os.path.exists(os.path.join(tmp, "report", "study.png")), "the report has the study view")

    second = os.path.join(tmp, "second")
    study = write(os.path.join(tmp, "second.toml"),
                  tiny_study("cancel-one", 600, '["t1p1d1m2", "t1p1d1m4"]', "slurm"))
    r = run(parallax, "study", study, "--dir", second)
    check(r.returncode == 0, f"the second study is submitted: {r.stdout.strip()} {r.stderr.strip()}")
    victim = "plans/01-t1p1d1m4"
    s = wait_for(second, lambda s: s.get(victim, {}).get("state") == "running", 120)
    job = s.get(victim, {}).get("job", "")
    check(job.startswith("job="), f"the second plan runs as an array task ({job})")
    time.sleep(2)
    r = run("scancel", job[4:])
    check(r.returncode == 0, f"scancel {job[4:]} ({r.stderr.strip()})")
    s = wait_for(second, lambda s: all(v["state"] not in ("submitted", "running") for v in s.values()), 300)
    check(s.get("plans/00-t1p1d1m2", {}).get("state") == "finished", f"the other plan finishes ({s.get('plans/00-t1p1d1m2')})")
    check(s.get(victim, {}).get("state") in ("cancelled", "lost"), f"the cancelled plan is not finished ({s.get(victim)})")
    plan_file = os.path.join(second, victim, "experiment.toml")
    write(plan_file, open(plan_file).read().replace("steps = 600", "steps = 5"))
    r = run(parallax, "study", "resume", second)
    check(r.returncode == 0 and victim in r.stdout and "00-t1p1d1m2" not in r.stdout and
          r.stdout.count("submitted") == 1, f"resume submits the cancelled plan alone: {r.stdout.strip()}")
    script = sorted(os.listdir(os.path.join(second, "slurm")))
    resubmitted = [open(os.path.join(second, "slurm", n)).read() for n in script if n.endswith(".sbatch")][-1]
    check("#SBATCH --array=1\n" in resubmitted, "its job array holds task 1 only")
    s = wait_for(second, lambda s: all(v["state"] not in ("submitted", "running") for v in s.values()))
    check(all(v["state"] == "finished" for v in s.values()), f"after resume both plans finished ({s})")
    with h5py.File(os.path.join(second, "plans", "00-t1p1d1m2", "results.h5"), "r") as f:
        check(sum(f["runs"][k].attrs["kind"] == "measured" for k in f["runs"]) == 1, "the finished plan ran once")

    big = write(os.path.join(tmp, "big.toml"), BIG)
    r = run(parallax, "study", big, "--dir", os.path.join(tmp, "big"), "--dry-run")
    check(r.returncode == 0 and not os.path.exists(os.path.join(tmp, "big")), "the 1024-GPU dry run writes nothing")
    scripts = ["#!/bin/bash" + s for s in r.stdout.split("#!/bin/bash")[1:]]
    check(len(scripts) == 2 and "#SBATCH --nodes=128\n" in scripts[1] and "#SBATCH --gpus-per-node=8\n" in scripts[1],
          "two job arrays, of 64 and 128 nodes of 8 GPUs")
    for i, text in enumerate(scripts):
        path = write(os.path.join(tmp, f"big-{i}.sbatch"), text)
        r = run("sbatch", "--test-only", path)
        check(r.returncode == 0 and re.search(r"to start at .* on nodes gpu", r.stderr),
              f"sbatch --test-only accepts {os.path.basename(path)}: {r.stderr.strip()}")
    r = run("sbatch", "--test-only", "--nodes=129", path)
    check(r.returncode != 0, "and refuses the same job on 129 nodes")
finally:
    subprocess.run(["bash", cluster, "stop", state], capture_output=True, timeout=60)
    shutil.rmtree(tmp, ignore_errors=True)

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
