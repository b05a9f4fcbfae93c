"""`parallax study` with the local launcher, `study status|resume|collect` and `parallax merge`:
- a three-plan study runs each plan under mpiexec; stopped by SIGTERM during its second plan,
  it keeps the first plan's run, marks the second interrupted and leaves the third pending;
- `study resume` runs only the second and third; `collect` merges the three plans' measured and
  predicted runs, and a second collect adds nothing; a plan whose results file is broken is
  named and the others merged; the report draws the study view;
- `merge` of a file into itself is refused; the 1024-GPU top-k study's dry run writes nothing.

usage: study_local.py PARALLAX ROOT
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_runs import check, failures, tiny_study  # noqa: E402

parallax, root = sys.argv[1], sys.argv[2]
env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def parallax_run(*args, timeout=300):
    return subprocess.run([parallax, *args], capture_output=True, text=True, timeout=timeout, env=env)


def status(directory):
    r = parallax_run("study", "status", directory, "--format", "json")
    check(r.returncode == 0, f"study status exits 0 ({r.stderr.strip()})")
    return {s["plan"]: s for s in json.loads(r.stdout)} if r.returncode == 0 else {}


def measured_runs(path):
    with h5py.File(path, "r") as f:
        return [dict(f["runs"][k].attrs) for k in f["runs"] if f["runs"][k].attrs["kind"] == "measured"]


with tempfile.TemporaryDirectory() as tmp:
    study_file = os.path.join(tmp, "study.toml")
    with open(study_file, "w") as f:
        f.write(tiny_study("tiny-study", 400, '["t1p1d1m2", {dp = 2, micro_batch = 2}, "t1p2d1m2"]', layers=4))
    directory = os.path.join(tmp, "study")
    proc = subprocess.Popen([parallax, "study", study_file, "--dir", directory], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    second = os.path.join(directory, "plans", "01-t1p1d2m2")
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        try:
            if open(os.path.join(second, "status")).read().startswith("running"):
                break
        except OSError:
            pass
        time.sleep(0.2)
    time.sleep(2)  # inside the second plan's run
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    check(proc.returncode == -signal.SIGTERM, f"a study stopped by SIGTERM ends by the signal, as `run` does "
          f"(got {proc.returncode})")
    s = status(directory)
    names = sorted(s)
    check(names == ["plans/00-t1p1d1m2", "plans/01-t1p1d2m2", "plans/02-t1p2d1m2"], f"three plan directories {names}")
    check(s.get(names[0], {}).get("state") == "finished", f"the first plan finished ({s.get(names[0])})")
    check(s.get(names[1], {}).get("state") == "interrupted", f"the second plan is interrupted ({s.get(names[1])})")
    check(s.get(names[2], {}).get("state") == "pending", f"the third plan never started ({s.get(names[2])})")
    first_runs = measured_runs(os.path.join(directory, names[0], "results.h5"))
    check(len(first_runs) == 1 and first_runs[0]["status"] == "finished", "the first plan's run is kept, finished")
    second_runs = measured_runs(os.path.join(directory, names[1], "results.h5"))
    check([r["status"] for r in second_runs] == ["interrupted"], f"the second plan's run is marked interrupted "
          f"({[r['status'] for r in second_runs]})")

    # Resume with fewer steps: the plans' own files say how long they run, so shorten them.
    for name in names[1:]:
        path = os.path.join(directory, name, "experiment.toml")
        text = open(path).read().replace("steps = 400", "steps = 5")
        open(path, "w").write(text)
    r = parallax_run("study", "resume", directory)
    check(r.returncode == 0, f"study resume exits 0 ({r.stderr.strip()})")
    check("00-t1p1d1m2" not in r.stdout and "01-t1p1d2m2" in r.stdout and "02-t1p2d1m2" in r.stdout,
          "resume runs only the second and third plans:\n" + r.stdout)
    s = status(directory)
    check(all(v["state"] == "finished" for v in s.values()), f"every plan finished ({[v['state'] for v in s.values()]})")
    check(len(measured_runs(os.path.join(directory, names[0], "results.h5"))) == 1, "the first plan did not run again")

    collected = os.path.join(tmp, "collected.h5")
    r = parallax_run("study", "collect", directory, "--out", collected)
    check(r.returncode == 0, f"collect exits 0 ({r.stderr.strip()})")
    with h5py.File(collected, "r") as f:
        kinds = sorted(f["runs"][k].attrs["kind"] for k in f["runs"])
    check(kinds.count("measured") == 4 and kinds.count("predicted") == 3,
          f"collect merges 4 measured (one interrupted) and 3 predicted runs ({kinds})")
    r = parallax_run("study", "collect", directory, "--out", collected)
    check(r.returncode == 0 and "0 added, 7 already there" in r.stdout, f"a second collect adds nothing: {r.stdout}")
    r = subprocess.run(["/usr/bin/python3", os.path.join(root, "scripts", "report.py"), collected, "--out",
                        os.path.join(tmp, "report")], capture_output=True, text=True)
    check(r.returncode == 0 and os.path.exists(os.path.join(tmp, "report", "study.png")),
          f"the report draws the study view ({r.stdout[-300:]}{r.stderr[-300:]})")

    broken = os.path.join(directory, names[2], "results.h5")
    open(broken, "wb").write(b"not a results file")
    fresh = os.path.join(tmp, "fresh.h5")
    r = parallax_run("study", "collect", directory, "--out", fresh)
    check(r.returncode == 0 and names[2] in r.stderr and "left out" in r.stderr,
          f"collect names the broken plan's file: {r.stderr.strip()}")
    with h5py.File(fresh, "r") as f:
        check(len(f["runs"]) == 5, f"and merges the other plans' 5 runs ({len(f['runs'])})")
    s = status(directory)
    check(s.get(names[2], {}).get("state") == "broken", f"status calls the plan broken ({s.get(names[2])})")

    r = parallax_run("merge", fresh, "--out", fresh)
    check(r.returncode == 2 and "is also the output" in r.stderr, f"merge into an input is refused: {r.stderr.strip()}")
    r = parallax_run("study", study_file, "--dir", directory)
    check(r.returncode == 2 and "already holds a study" in r.stderr, f"a second study in one directory is refused: "
          f"{r.stderr.strip()}")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
