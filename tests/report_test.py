"""scripts/report.py on a results file made by the real `parallax` commands: every figure file
exists and is a real image, the CSVs hold the numbers in the HDF5 file, and bad files give one
clear line and exit 2."""
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

parallax, root = sys.argv[1], sys.argv[2]
report = os.path.join(root, "scripts", "report.py")
py = "/usr/bin/python3"
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


with tempfile.TemporaryDirectory() as tmp:
    results = os.path.join(tmp, "results.h5")
    exp = os.path.join(root, "experiments")
    run(parallax, "predict", os.path.join(exp, "example.toml"), "--out", results, check=True)
    run(parallax, "sweep", os.path.join(exp, "sweep-gpt3-512.toml"), "--set", "sweep.gpus=[256,512]", "--quiet",
        "--out", results, check=True)
    run(parallax, "run", os.path.join(exp, "train-tiny.toml"), "--set", "training.data=synthetic", "--set",
        "training.steps=4", "--out", results, check=True)
    out = os.path.join(tmp, "report")
    r = run(py, report, results, "--out", out)
    check(r.returncode == 0, f"report.py succeeds ({r.stderr.strip()})")
    for name in ["scaling", "parity", "timeline", "memory", "memory_measured", "sweep_map", "training"]:
        png = os.path.join(out, name + ".png")
        ok = os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 10000
        check(ok, f"{name}.png is a non-trivial PNG")
        check(os.path.exists(os.path.join(out, name + ".pdf")) and
              open(os.path.join(out, name + ".pdf"), "rb").read(5) == b"%PDF-", f"{name}.pdf is a PDF")
    check(os.path.exists(os.path.join(out, "index.html")), "index.html")

    with h5py.File(results, "r") as f:
        measured = [f["runs"][k] for k in f["runs"] if f["runs"][k].attrs["kind"] == "measured"]
        sweep = f["sweeps"][list(f["sweeps"])[0]]["configs"][:]
        times = measured[0]["iterations"]["iteration_time_s"][:]
        predicted = measured[0].attrs["predicted_iteration_time_s"]
    with h5py.File(results, "r") as f:
        held = f["runs"][[k for k in f["runs"] if f["runs"][k].attrs["kind"] == "measured"][0]]["memory"][:]
    memory_rows = list(csv.DictReader(open(os.path.join(out, "memory_measured.csv"))))
    check(len(memory_rows) == 1 and float(memory_rows[0]["weights_bytes"]) == held["weights_bytes"][0] and
          float(memory_rows[0]["predicted_activations_bytes"]) == held["predicted_activations_bytes"][0],
          "memory_measured.csv: the measured run's memory table, measured and predicted")
    rows = list(csv.DictReader(open(os.path.join(out, "parity.csv"))))
    check(len(rows) == len(measured) == 1, "parity.csv: one row per measured run")
    check(abs(float(rows[0]["predicted_s"]) - predicted) < 1e-9 * predicted, "parity.csv predicted = the run's attribute")
    check(abs(float(rows[0]["measured_s"]) - np.median(times[1:])) < 1e-9, "parity.csv measured = median step time")
    scaling = list(csv.DictReader(open(os.path.join(out, "scaling.csv"))))
    for g in (256, 512):
        best = sweep["tokens_per_s"][(sweep["gpus"] == g) & (sweep["fits"] == 1)].max()
        row = [x for x in scaling if x["kind"] == "predicted (strong)" and int(x["gpus"]) == g]
        check(len(row) == 1 and abs(float(row[0]["tokens_per_s"]) - best) < 1e-6 * best, f"scaling.csv best at {g}")
    training = list(csv.DictReader(open(os.path.join(out, "training.csv"))))
    check(len(training) == 4, "training.csv: one row per step")

    # With `parallax compare`'s report: the parity plot's measured runs and the per-phase figure.
    compare = os.path.join(tmp, "compare.json")
    with open(compare, "w") as f:
        f.write(run(parallax, "compare", results, "--format", "json", check=True).stdout)
    compared = json.load(open(compare))["runs"][0]
    with_compare = os.path.join(tmp, "with_compare")
    r = run(py, report, results, "--out", with_compare, "--compare", compare)
    check(r.returncode == 0 and os.path.exists(os.path.join(with_compare, "phases_compared.png")),
          "report.py --compare draws phases_compared.png")
    rows = list(csv.DictReader(open(os.path.join(with_compare, "parity.csv"))))
    check(len(rows) == 1 and abs(float(rows[0]["measured_s"]) - np.mean(times[1:])) < 1e-9,
          "parity.csv with --compare: measured = compare's mean of the steps after the first")
    phases = list(csv.DictReader(open(os.path.join(with_compare, "phases_compared.csv"))))
    check(len(phases) == 1 and float(phases[0]["compute_measured_s"]) == compared["phases"]["compute"]["measured_s"]
          and float(phases[0]["optimizer_predicted_s"]) == compared["phases"]["optimizer"]["predicted_s"],
          "phases_compared.csv: compare's phases, predicted and measured")

    # Measured runs alone: each drawn once, none paired with itself.
    only = os.path.join(tmp, "only.h5")
    for steps in ("2", "3"):
        run(parallax, "run", os.path.join(exp, "train-tiny.toml"), "--set", "training.data=synthetic", "--set",
            f"training.steps={steps}", "--out", only, check=True)
    r = run(py, report, only, "--out", os.path.join(tmp, "pair"))
    with h5py.File(only, "r") as f:
        ids = sorted(f["runs"])
    drawn = [row["run"] for row in csv.DictReader(open(os.path.join(tmp, "pair", "timeline.csv")))]
    check(r.returncode == 0 and sorted(set(drawn)) == ids, f"every measured run's timeline is drawn, once ({set(drawn)})")

    # A run without a timeline (removed here): said in a line, not a traceback.
    with h5py.File(only, "a") as f:
        for k in f["runs"]:
            del f["runs"][k]["timeline"]
    r = run(py, report, only, "--out", os.path.join(tmp, "only"))
    check(r.returncode == 0 and "no timeline figure: no run has a timeline" in r.stdout, "run without a timeline")
    # Nothing in it, or not ours: one line, exit 2.
    empty = os.path.join(tmp, "empty.h5")
    with h5py.File(empty, "w") as f:
        f.attrs["schema"] = "parallax-results"
    r = run(py, report, empty, "--out", os.path.join(tmp, "e"))
    check(r.returncode == 2 and "holds no runs" in r.stderr and "Traceback" not in r.stderr, "file with no runs")
    other = os.path.join(tmp, "other.h5")
    with h5py.File(other, "w") as f:
        f["x"] = [1, 2, 3]
    r = run(py, report, other, "--out", os.path.join(tmp, "o"))
    check(r.returncode == 2 and "not a Parallax results file" in r.stderr, "HDF5 file that is not ours")
    r = run(py, report, os.path.join(exp, "example.toml"), "--out", os.path.join(tmp, "t"))
    check(r.returncode == 2 and "not an HDF5 file" in r.stderr and "Traceback" not in r.stderr, "not HDF5 at all")
    r = run(py, report, tmp, "--out", os.path.join(tmp, "d"))
    check(r.returncode == 2 and r.stderr.strip() == f"report.py: {tmp} is a directory, not a results file",
          "a directory, in one line")

# Every script answers --help with its usage, whatever else it needs.
for script in sorted(glob.glob(os.path.join(root, "scripts", "*.py")) + glob.glob(os.path.join(root, "benchmarks", "*.py"))):
    r = run(py, script, "--help")
    check(r.returncode == 0 and "usage:" in r.stdout, f"{os.path.relpath(script, root)} --help")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
