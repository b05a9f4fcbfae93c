"""parallax predict: the contract's JSON keys, the Chrome trace, and the HDF5 results schema."""
import csv
import re
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

parallax, example = sys.argv[1], sys.argv[2]
failures = []


def check(condition, what):
    print(("ok: " if condition else "FAIL: ") + what)
    if not condition:
        failures.append(what)


def validate_output(fieldnames, rows, *extra):
    """Writes `rows` as a published-runs table and returns what `parallax validate` prints for
    it (with `extra` arguments)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "runs.csv")
        with open(path, "w", newline="") as out:
            w = csv.DictWriter(out, fieldnames=fieldnames)
            w.writeheader()
            w.writerows(rows)
        return subprocess.run([parallax, "validate", path, *extra], capture_output=True, text=True, check=True,
                              timeout=120).stdout


def validate_rows(fieldnames, rows, *extra):
    """The rows `parallax validate --format json` reports for `rows`, by row id."""
    report = json.loads(validate_output(fieldnames, rows, "--format", "json", *extra))
    return {r["row_id"]: r for r in report["rows"]}


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "results.h5")
    trace = os.path.join(tmp, "trace.json")
    res = subprocess.run([parallax, "predict", example, "--format", "json", "--timeline", trace, "--out", out],
                         capture_output=True, text=True, check=True)
    j = json.loads(res.stdout)
    for key in ["config", "fits", "iteration_time_s", "tokens_per_s", "model_tflops_per_gpu", "mfu",
                "hardware_tflops_per_gpu", "hfu", "breakdown_s", "memory_bytes"]:
        check(key in j, f"predict json has {key}")
    c = j["interval_class"]
    check(c["framework"] == "*" and c["device"] == "A100-SXM4-80GB" and c["rows"] > 100,
          "the interval comes from the A100 rows (no Megatron-Core A100 class)")
    with open(os.path.join(os.path.dirname(example), "..", "models", "presets", "intervals",
                           "prediction-intervals.toml"), "rb") as f:
        import tomllib
        a100 = [k for k in tomllib.load(f)["class"] if k["framework"] == "*" and k["device"] == "A100-SXM4-80GB"][0]
    t = j["iteration_time_s"]
    check(abs(j["iteration_time_p10_s"] - t / (1 + a100["p90_pct"] / 100)) < 1e-12 * t and
          abs(j["iteration_time_p90_s"] - t / (1 + a100["p10_pct"] / 100)) < 1e-12 * t,
          "P10 = t / (1 + P90 error), P90 = t / (1 + P10 error)")
    b = j["breakdown_s"]
    check(set(b) == {"compute", "recompute", "bubble", "tp_comm_exposed", "pp_comm_exposed", "dp_comm_exposed",
                     "optimizer"}, "breakdown keys")
    check(abs(sum(b.values()) - j["iteration_time_s"]) < 1e-6 * j["iteration_time_s"], "breakdown sums to the time")
    stages = j["memory_bytes"]["per_stage"]
    check(len(stages) == j["config"]["parallel"]["pp"], "one memory entry per stage")
    check(all(s["total"] == s["weights"] + s["gradients"] + s["optimizer"] + s["activations"] + s["other"] or
              abs(s["total"] - (s["weights"] + s["gradients"] + s["optimizer"] + s["activations"] + s["other"])) <= 5
              for s in stages), "stage totals add up")
    check(j["memory_bytes"]["peak"] == max(s["total"] for s in stages), "peak is the largest stage")

    # --require-fit: a plan that does not fit exits 1, one that fits 0. The table and the line
    # naming the run added to --out, on one pipe, never share a line: the table comes whole first.
    res = subprocess.run([parallax, "predict", example, "--set", "parallel.pp=1",
                          "--set", "parallel.vpp=1", "--require-fit"], capture_output=True, text=True)
    check(res.returncode == 1 and "DOES NOT FIT" in res.stdout and "does not fit in" in res.stderr,
          f"predict --require-fit exits 1 for a plan that does not fit ({res.returncode}: {res.stderr.strip()})")
    res = subprocess.run([parallax, "predict", example, "--require-fit"], capture_output=True, text=True)
    check(res.returncode == 0, "and 0 for one that fits")
    # A headroom leaves memory no plan may use: 60 GiB of the A100's 79.3 leave 19.3.
    res = subprocess.run([parallax, "predict", example, "--require-fit", "--set", "system.memory_headroom_GiB=60"],
                         capture_output=True, text=True)
    check(res.returncode == 1 and "of 79.30 GiB (19.30 GiB after the headroom): DOES NOT FIT" in res.stdout,
          "a plan that fits does not fit in 60 GiB less")
    res = subprocess.run([parallax, "predict", example, "--format", "json", "--set",
                          "system.memory_headroom_fraction=0.25"], capture_output=True, text=True)
    mem = json.loads(res.stdout)["memory_bytes"] if res.returncode == 0 else {}
    check(abs(mem.get("usable", 0) - 0.75 * mem.get("device", 0)) < 2, f"a quarter of the memory held back: {mem.get('usable')} of {mem.get('device')} bytes")
    res = subprocess.run([parallax, "predict", example, "--set", "system.memory_headroom_fraction=1"],
                         capture_output=True, text=True)
    check(res.returncode == 2 and "memory_headroom_fraction must be in [0, 1)" in res.stderr,
          "a headroom of all the memory is refused")
    res = subprocess.run([parallax, "predict", example, "--out", os.path.join(tmp, "mixed.h5")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = res.stdout.rstrip("\n").split("\n")
    check(res.returncode == 0 and lines[-1].startswith("parallax: added run ") and
          sum("added run" in line for line in lines) == 1, "the added-run line comes after the whole table")
    # bf16 Adam moments without a master copy: 4 bytes of optimizer state a parameter, not 12.
    check(j["config"]["training"]["optimizer_state"] == "fp32", "optimizer state in the config")
    light = json.loads(subprocess.run([parallax, "predict", example, "--format", "json", "--set",
                                       "training.optimizer_state=bf16"], capture_output=True, text=True,
                                      check=True).stdout)
    check(all(abs(3 * s["optimizer"] - f["optimizer"]) <= 3 and s["weights"] == f["weights"]
              for s, f in zip(light["memory_bytes"]["per_stage"], stages)), "bf16 optimizer state is a third of fp32's")
    tokens = j["config"]["training"]["global_batch"] * j["config"]["model"]["seq_len"]
    check(abs(j["tokens_per_s"] - tokens / j["iteration_time_s"]) < 1e-6 * j["tokens_per_s"], "tokens/s")

    events = json.load(open(trace))["traceEvents"]
    spans = [e for e in events if e.get("ph") == "X"]
    check(len(spans) > 0 and all(e["dur"] >= 0 for e in spans), "chrome trace has complete events")

    subprocess.run([parallax, "predict", example, "--set", "parallel.vpp=1", "--out", out],
                   capture_output=True, text=True, check=True)
    with h5py.File(out, "r") as f:
        check(f.attrs["schema"] == "parallax-results" and f.attrs["schema_version"] == 1, "root schema attributes")
        runs = list(f["runs"])
        check(len(runs) == 2, "second --out added a run and kept the first")
        run = f["runs"][runs[0]]
        for a in ["kind", "config_json", "config_hash", "world_size", "tp", "pp", "dp", "vpp", "cp", "ep", "micro_batch",
                  "global_batch", "recompute", "precision", "system", "started_utc", "finished_utc"]:
            check(a in run.attrs, f"run attribute {a}")
        check(run.attrs["kind"] == "predicted", "kind = predicted")
        it = run["iterations"][:]
        check(abs(it["iteration_time_s"][0] - j["iteration_time_s"]) < 1e-9 * j["iteration_time_s"],
              "iterations row holds the predicted time")
        for table, cols in {"phases": ["step", "rank", "forward_s", "backward_s", "recompute_s", "tp_comm_s",
                                       "pp_comm_s", "dp_comm_s", "optimizer_s", "idle_s"],
                            "timeline": ["rank", "stage", "chunk", "microbatch", "kind", "start_s", "duration_s",
                                         "step"],
                            "ranks": ["rank", "host", "local_rank", "tp_rank", "pp_rank", "dp_rank", "device"]}.items():
            check(list(run[table].dtype.names) == cols, f"{table} columns")
        check(len(run["ranks"]) == j["config"]["system"]["gpus"], "one ranks row per device")
        tl = run["timeline"][:]
        check(len(tl) == len(spans), "HDF5 timeline has the trace's events")
        check(np.all(tl["start_s"] >= 0), "timeline starts are non-negative")
        check(json.loads(run.attrs["config_json"])["parallel"]["tp"] == j["config"]["parallel"]["tp"], "config_json")
        # The interval of the example's class (A100 runs of any framework, from the shipped file).
        check(run.attrs["iteration_time_p10_s"] == j["iteration_time_p10_s"] and
              run.attrs["iteration_time_p90_s"] == j["iteration_time_p90_s"], "HDF5 carries the P10-P90 of the JSON")

    # sweep: JSON summary, CSV and HDF5 configs table hold the same plans
    sweep_toml = os.path.join(os.path.dirname(example), "sweep-gpt3-512.toml")
    csv_path = os.path.join(tmp, "plans.csv")
    res = subprocess.run([parallax, "sweep", sweep_toml, "--set", "sweep.gpus=[256,512]", "--format", "json",
                          "--csv", csv_path, "--out", out, "--quiet", "--top", "3"],
                         capture_output=True, text=True, check=True)
    s = json.loads(res.stdout)
    for key in ["evaluated", "feasible", "rejected", "seconds", "plans_per_second", "top"]:
        check(key in s, f"sweep json has {key}")
    check(s["evaluated"] == s["feasible"] + sum(s["rejected"].values()), "evaluated = feasible + rejected")
    check(len(s["top"]) == 6, "top 3 per device count")
    for plan in s["top"]:
        for key in ["gpus", "tp", "pp", "dp", "vpp", "schedule", "micro_batch", "recompute", "sequence_parallel",
                    "distributed_optimizer", "fits", "iteration_time_s", "tokens_per_s", "mfu", "peak_memory_bytes"]:
            check(key in plan, f"sweep plan has {key}")
    lines = open(csv_path).read().splitlines()
    with h5py.File(out, "r") as f:
        sweeps = list(f["sweeps"])
        check(len(sweeps) == 1, "one sweep in the results file")
        configs = f["sweeps"][sweeps[0]]["configs"][:]
        check(len(configs) == len(lines) - 1, "configs rows = CSV rows")
        check(int(np.sum(configs["fits"])) == s["feasible"], "configs fits = feasible")
        check(len(list(f["runs"])) == 2, "the sweep kept the runs")

    # a measured run: Megatron-style log lines, then iterations and phases per step in the file
    tiny = os.path.join(os.path.dirname(example), "train-tiny.toml")
    res = subprocess.run([parallax, "run", tiny, "--set", "training.data=synthetic", "--set", "training.steps=3",
                          "--set", "training.log_every=1", "--out", out], capture_output=True, text=True, check=True)
    lines = [l for l in res.stdout.splitlines() if l.strip().startswith("iteration")]
    check(len(lines) == 3, "one log line per step")
    for field in ["consumed samples:", "elapsed time per iteration (ms):", "throughput per GPU (TFLOP/s/GPU):",
                  "learning rate:", "lm loss:", "grad norm:"]:
        check(field in lines[0], f"log line has {field}")
    with h5py.File(out, "r") as f:
        measured = [f["runs"][r] for r in f["runs"] if f["runs"][r].attrs["kind"] == "measured"]
        check(len(measured) == 1 and len(list(f["sweeps"])) == 1, "the run was added beside the earlier runs and sweep")
        run = measured[0]
        for a in ["config_json", "git_sha", "hostnames", "hdf5_version", "blas", "predicted_iteration_time_s",
                  "predicted_peak_memory_bytes", "finished_utc"]:
            check(a in run.attrs, f"measured run attribute {a}")
        it = run["iterations"][:]
        check(list(it["step"]) == [1, 2, 3], "iterations rows 1..3")
        check(np.all(np.isfinite(it["loss"])) and np.all(it["iteration_time_s"] > 0), "losses and times")
        logged = [float(l.split("lm loss:")[1].split("|")[0]) for l in lines]
        check(np.allclose(logged, it["loss"], rtol=1e-5), "the file holds the logged losses")
        ph = run["phases"][:]
        check(len(ph) == 3 and np.all(ph["forward_s"] > 0) and np.all(ph["backward_s"] > 0), "phases per step")
        tl = run["timeline"][:]
        kinds = [k.decode() if isinstance(k, bytes) else k for k in tl["kind"]]
        check(sorted(set(tl["step"])) == [1, 2, 3] and {"forward", "backward", "optimizer"} <= set(kinds),
              "measured timeline: every action of every step")

# validate reads rows in the spellings other sources use: context parallelism, FP8 and NeMo.
runs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiments", "validation",
                    "published_runs.csv")
with open(runs, newline="") as f:
    reader = csv.DictReader(f)
    fieldnames, published = reader.fieldnames, list(reader)


def published_row(row_id=None, source_id=None):
    """The first row of published_runs.csv with this row id (or source id)."""
    return next(r for r in published if r["row_id"] == row_id or r["source_id"] == source_id)


base = published_row("45")  # GPT 314B on 384 H100s
fixed = {"micro_batch": "1", "vpp": "1", "recompute": "full", "seq_parallel": "yes"}
variants = {
    "bf16": {},
    "fp8": {"precision": "FP8 hybrid (Transformer Engine)"},
    "fp8-cp2": {"precision": "fp8", "cp": "2", "dp": "", "gpu": "NVIDIA H100 80GB HBM3", "framework": "NeMo 24.07"},
    # 94 layers on 8 stages: the end stages hold 11, the others 12 (L + 2 cut evenly).
    "uneven": {"layers": "94"},
    # Fully sharded: weights and gradients sharded too, gathered and reduced every micro-batch
    # (the same plan as "fixed", so that only the sharding differs).
    "fixed": fixed,
    "fsdp": {**fixed, "optimizer_sharding": "FSDP"},
    "zero3": {**fixed, "optimizer_sharding": "ZeRO stage 3"},
    # DeepSpeed's ZeRO-3 of 2021 gathers tensor by tensor, blocking; its 2022 rework by unit.
    "zero3-ds2021": {**fixed, "optimizer_sharding": "ZeRO-3", "framework": "DeepSpeed ZeRO-3 (2021)"},
    "zero3-ds2022": {**fixed, "optimizer_sharding": "ZeRO-3", "framework": "DeepSpeed 0.6 (2022)"},
    # a sharding column that names DeepSpeed is read as DeepSpeed when the framework is blank
    "zero3-ds-by-sharding": {**fixed, "optimizer_sharding": "ZeRO-3 (DeepSpeed)", "framework": ""},
    # the same plan on A100s: 2022 Megatron-LM materialises the scores, an unknown framework
    # is taken to use flash attention.
    "a100-legacy": {"gpu": "A100-SXM4-80GB", "framework": "Megatron-LM (2022)", "recompute": "selective"},
    "a100-flash": {"gpu": "A100-SXM4-80GB", "framework": "torchtitan", "recompute": "selective"},
    # A blank layout: every tp x pp x dp of the 3072 GPUs is tried (the published t8p8d48
    # among them); degrees given still bind (pp 8 and dp 48 leave tp 8).
    "layout-blank": {**fixed, "tp": "", "pp": "", "dp": ""},
    "tp-blank": {**fixed, "tp": "", "pp": "8", "dp": "48"},
}
mixtral = {"model": "Mixtral 8x7B", "layers": "32", "hidden": "4096", "ffn_hidden": "14336", "heads": "32",
           "kv_heads": "8", "seq_len": "4096", "vocab": "32000", "num_gpus": "64", "tp": "1", "pp": "4",
           "dp": "16", "global_batch": "256", "micro_batch": "1", "vpp": "1",
           "arch_notes": "MoE, 8 experts, top-2; SwiGLU, RMSNorm, RoPE, untied"}
variants["moe-ep8"] = {**mixtral, "notes": "EP=8"}
variants["moe-ep-blank"] = mixtral
variants["dense-same-shape"] = {**mixtral, "model": "dense", "arch_notes": "SwiGLU, RMSNorm, RoPE, untied"}
rows = validate_rows(fieldnames, [{**base, **change, "row_id": name} for name, change in variants.items()])
check(all("skipped" not in r for r in rows.values()), "validate predicts fp8 and cp rows")
check(rows["fp8"]["predicted_iteration_time_s"] < rows["bf16"]["predicted_iteration_time_s"], "fp8 is faster")
check(rows["fp8-cp2"]["plan"].startswith("t8c2p8d24"), "cp read, dp inferred from the GPUs")
check(re.fullmatch(r"t8p8d48m\d+v[2346]", rows["uneven"]["plan"]) is not None,
      "uneven stages interleave with a chunk count that divides 12 and fits in 11: " + rows["uneven"]["plan"])
check(rows["uneven"]["predicted_iteration_time_s"] < rows["bf16"]["predicted_iteration_time_s"],
      "two layers fewer take less time")
check(rows["fsdp"]["predicted_memory_gib"] < rows["fixed"]["predicted_memory_gib"] and
      rows["fsdp"]["predicted_iteration_time_s"] > rows["fixed"]["predicted_iteration_time_s"] and
      rows["zero3"]["predicted_iteration_time_s"] == rows["fsdp"]["predicted_iteration_time_s"],
      "FSDP and ZeRO-3 shard the weights: less memory, gathers every micro-batch")
check(rows["zero3-ds2021"]["predicted_iteration_time_s"] > rows["zero3-ds2022"]["predicted_iteration_time_s"] and
      rows["zero3-ds2021"]["predicted_memory_gib"] < rows["zero3-ds2022"]["predicted_memory_gib"],
      "DeepSpeed's 2021 ZeRO-3 gathers tensor by tensor: slower, fewer gathered weights alive")
check(rows["zero3-ds-by-sharding"]["predicted_iteration_time_s"] == rows["zero3-ds2021"]["predicted_iteration_time_s"],
      "a sharding column naming DeepSpeed reads as a DeepSpeed row")
check("tp=" in rows["layout-blank"]["searched"] and rows["layout-blank"]["fits"] and
      rows["layout-blank"]["predicted_iteration_time_s"] <= rows["fixed"]["predicted_iteration_time_s"],
      "a blank layout is searched, and beats or equals the published one: " + rows["layout-blank"]["plan"])
check(rows["tp-blank"]["plan"].startswith("t8p8d48") and
      rows["tp-blank"]["predicted_iteration_time_s"] == rows["fixed"]["predicted_iteration_time_s"],
      "pp and dp given leave tp = GPUs / (pp dp): " + rows["tp-blank"]["plan"])
check(rows["moe-ep8"]["plan"] == "t1p4d16e8m1", "EP read from the notes: " + rows["moe-ep8"]["plan"])
check("ep=" in rows["moe-ep-blank"]["searched"], "a blank EP is searched")
check(rows["moe-ep8"]["predicted_iteration_time_s"] > 1.5 * rows["dense-same-shape"]["predicted_iteration_time_s"],
      "top-2 routing about doubles the MLP work of the dense model of the same shape")
check(rows["a100-flash"]["predicted_iteration_time_s"] < rows["a100-legacy"]["predicted_iteration_time_s"],
      "flash attention assumed outside legacy Megatron on A100")

# A blank knob is searched over what the framework could run: the BigScience fork of
# Megatron-DeepSpeed and the Megatron-LM of 2021 had no sequence parallelism and recomputed
# none or every layer; Megatron-Core has both.
base = published_row("82")  # BLOOM-like 181B, t8 p6 d8, DeepSpeed
blank = {"recompute": "", "seq_parallel": ""}
variants = {"deepspeed": blank, "megatron-2021": {**blank, "framework": "Megatron-LM (2021)", "optimizer_sharding": "no"},
            "megatron-core": {**blank, "framework": "Megatron-Core", "optimizer_sharding": "distributed optimizer"},
            # tp and dp given fix pp = 6, which 71 layers (nor 73) do not divide: cut as DeepSpeed cuts them
            "uneven": {"layers": "71"}, "uneven-pp-blank": {"layers": "71", "pp": ""}}
rows = validate_rows(fieldnames, [{**base, **change, "row_id": name} for name, change in variants.items()])
searched = {k: r["searched"] for k, r in rows.items()}
check(rows["uneven-pp-blank"]["plan"] == rows["uneven"]["plan"] == "t8p6d8m4" and
      rows["uneven-pp-blank"]["predicted_iteration_time_s"] == rows["uneven"]["predicted_iteration_time_s"],
      "a pp fixed by the given degrees is taken even when it does not divide the layers")
for legacy in ("deepspeed", "megatron-2021"):
    check("sequence_parallel" not in searched[legacy] and
          re.search(r"recompute=(none|full)( |$)", searched[legacy]) is not None,
          f"{legacy}: no sequence parallelism, whole-layer recomputation only: {searched[legacy]}")
check("sequence_parallel=" in searched["megatron-core"], "Megatron-Core: sequence parallelism searched")

# The yes/no and recomputation columns read the spellings tables use: a yes, true or on is a yes;
# Megatron's "uniform" and "block" methods and "activation checkpointing" are full
# recomputation; "no", "false" and "off" are none.
base = published_row("23")
spellings = {"full": ("full", "yes"), "uniform": ("uniform", "True"), "ckpt": ("activation checkpointing", "on"),
             "none": ("none", "no"), "off": ("off", "false"), "sel": ("selective", "yes (inferred)")}
got = validate_rows(fieldnames, [{**base, "row_id": k, "recompute": rec, "seq_parallel": sp}
                                 for k, (rec, sp) in spellings.items()])
time = {k: r["predicted_iteration_time_s"] for k, r in got.items()}
check(time["full"] == time["uniform"] == time["ckpt"] and time["none"] == time["off"] and
      len({time["full"], time["none"], time["sel"]}) == 3 and got["sel"]["recompute"] == "selective",
      f"recompute and sequence-parallel spellings: {time}")
marks = validate_rows(fieldnames,
                      [{**base, "row_id": f"mark{i}", "iteration_time_s_reported": mark + base["iteration_time_s_reported"],
                        "num_gpus": mark + base["num_gpus"]}
                       for i, mark in enumerate(("", "~", "≈ ", "about ", "approx. "))])
check(len(marks) == 5 and
      len({(r["published_iteration_time_s"], r["predicted_iteration_time_s"]) for r in marks.values()}) == 1,
      f"a number after an approximation mark reads as the number: {marks}")

# A BigScience row whose gpu column leaves out the machine still runs on Jean Zay (its
# provenance says so), and an A100 row from elsewhere does not.
base = published_row("172")
plain = {**base, "gpu": "A100-SXM4-80GB"}
got = validate_rows(fieldnames, [{**base, "row_id": "named"}, {**plain, "row_id": "plain"},
                                 {**plain, "row_id": "elsewhere", "source": "a cluster of DGX A100s",
                                  "source_location": "a paper"}])
check(got["named"]["predicted_iteration_time_s"] == got["plain"]["predicted_iteration_time_s"] and
      got["elsewhere"]["predicted_iteration_time_s"] != got["plain"]["predicted_iteration_time_s"],
      f"BigScience rows run on Jean Zay: {[got[k]['predicted_iteration_time_s'] for k in got]}")

# The table's summary names the rows behind it: those past the 12 % bound and the OOM
# rows predicted to fit (row 82 fits in 56 GiB and is predicted within 3 %).
base = published_row("82")
table = validate_output(fieldnames,
                        [{**base, "row_id": "slow", "iteration_time_s_reported": "150"},
                         {**base, "row_id": "oom", "iteration_time_s_reported": "", "mem_measured_GB": "OOM"},
                         {**base, "row_id": "close"}])
check(re.search(r"time errors past 12 %: rows slow \(-16\.\d %\)\n", table) is not None and
      "OOM rows predicted to fit: rows oom\n" in table and "measured OOM, predicted to fit" in table,
      "validate's table names the rows past 12 % and the OOM rows predicted to fit")

# Cells no table should hold (a zero or huge degree, a count past 2^24, nan, a count with a k
# multiplier, a precision the model does not time, a PCIe card): each row is answered quickly, an
# impossible one skipped with its reason (nan reads as blank, and a blank tp is searched; "2k" is
# neither 2 nor a guess at 2000 or 2048; "tf32" is not fp16; a PCIe card is not a DGX).
base = published_row("82")
bad = {"pp-zero": {"pp": "0"}, "pp-huge": {"pp": "1e9"}, "layers-huge": {"layers": "99999999999"},
       "tp-nan": {"tp": "nan"}, "pp-huge-layout-blank": {"pp": "1e9", "tp": "", "dp": ""},
       "layers-huge-layout-blank": {"layers": "1e9", "tp": "", "pp": "", "dp": ""},
       "seq-2k": {"seq_len": "2k"}, "heads-blank": {"heads": ""}, "tf32": {"precision": "tf32"},
       "a100-pcie": {"gpu": "A100 80GB PCIe"}, "good": {}}
rows = validate_rows(fieldnames, [{**base, **change, "row_id": name} for name, change in bad.items()])
impossible = ("pp-zero", "pp-huge", "layers-huge", "pp-huge-layout-blank", "layers-huge-layout-blank", "seq-2k",
              "heads-blank", "tf32", "a100-pcie")
check(all("skipped" in rows[k] for k in impossible) and "skipped" not in rows["good"] and
      "tp=" in rows["tp-nan"]["searched"] and 'seq_len = "2k" has a k or M multiplier' in rows["seq-2k"]["skipped"] and
      rows["heads-blank"]["skipped"].startswith("no heads") and
      rows["tf32"]["skipped"].startswith('column precision = "tf32" names a format the model does not time') and
      rows["a100-pcie"]["skipped"] == 'no system file for GPU "A100 80GB PCIe"',
      "rows with impossible cells are skipped, the good one predicted: " +
      "; ".join(f"{k}: {r.get('skipped', 'predicted')}" for k, r in rows.items()))

# DeepSpeed's per-pass host time follows the framework to any machine: MT-NLG 530B on Selene
# (t8 p35 d8, 240 micro-batches) pays it on (240 + 34) forward and backward passes.
base = published_row(source_id="korthikanti2022_table5")
row = {**base, "row_id": "mtnlg", "model": "MT-NLG 530B", "layers": "105", "hidden": "20480", "ffn_hidden": "81920",
       "heads": "128", "kv_heads": "", "vocab": "51200", "num_gpus": "2240", "tp": "8", "pp": "35", "dp": "8",
       "vpp": "1", "micro_batch": "1", "global_batch": "1920", "recompute": "full", "seq_parallel": "no",
       "framework": "Megatron-DeepSpeed", "iteration_time_s_reported": "60.1"}
times = [validate_rows(fieldnames, [row], *extra)["mtnlg"]["predicted_iteration_time_s"]
         for extra in ([], ["--set", "deepspeed.pass_overhead_us=0"])]
check(abs((times[0] - times[1]) - 274 * 2 * 17.591e-3) < 0.5, f"DeepSpeed pass overhead on Selene: {times}")

# The outside checks (experiments/validation/outside_checks.csv) stay readable: every row predicted.
outside = os.path.join(os.path.dirname(runs), "outside_checks.csv")
rows = json.loads(subprocess.run([parallax, "validate", outside, "--format", "json"], capture_output=True, text=True,
                                 check=True).stdout)["rows"]
check(len(rows) == 179 and all("skipped" not in r for r in rows), "every outside check is predicted")

# A row with neither time column nor a throughput in tokens: its time from the reported TFLOP/s
# (or MFU) and the source's FLOP formula reproduces the table's own derived column (SC21's
# megatron96, Megatron-Core's num_floating_point_operations, NeMo's and PaLM's counts).
with open(outside, newline="") as f:
    outside_table = list(csv.DictReader(f))
derived = {r["row_id"]: r for r in published + outside_table if r["iteration_time_s_derived"] and
           r["tflops_per_gpu_reported"] and not r["iteration_time_s_reported"] and not r["source_id"].startswith("nemo_25")}
blanked = [{**r, "iteration_time_s_derived": "", "tokens_per_s_reported": "", "tokens_per_s_per_gpu_reported": ""}
           for r in derived.values()]
blanked += [{**r, "row_id": r["row_id"] + "-mfu", "tflops_per_gpu_reported": ""} for r in blanked if r["mfu_pct_reported"]]
gaps = {k: r["published_iteration_time_s"] / float(derived[k.removesuffix("-mfu")]["iteration_time_s_derived"]) - 1
        for k, r in validate_rows(fieldnames, blanked).items()}
by_tflops = [abs(g) for k, g in gaps.items() if not k.endswith("-mfu")]
by_mfu = [abs(g) for k, g in gaps.items() if k.endswith("-mfu")]
check(len(by_tflops) == 48 and max(by_tflops) < 2e-3,
      f"TFLOP/s and formula give the derived times: {len(by_tflops)} rows, {max(by_tflops)}")
check(len(by_mfu) == 9 and max(by_mfu) < 0.012,
      f"MFU (rounded to 0.1 pt) gives them within 1.2 %: {len(by_mfu)} rows, {max(by_mfu)}")

# Korthikanti's Table 4 times one 22B layer: those rows are checked on the layer alone.
report = json.loads(subprocess.run([parallax, "validate", runs, "--format", "json"], capture_output=True, text=True,
                                   check=True).stdout)
layer_rows = [r for r in report["rows"] if r["source"] == "korthikanti2022_table4"]
check(len(layer_rows) == 5 and all("skipped" not in r and r["published_layer_ms"]["forward"] > 0 and
                                   r["predicted_layer_ms"]["backward"] > r["predicted_layer_ms"]["forward"]
                                   for r in layer_rows) and report["layer_backward"]["rows"] == 5,
      "single-layer rows are checked on their forward and backward")

# Beside the mean and max |error|, each source's signed mean error: the mean of its rows' errors.
signed = {name: [r["time_error_pct"] for r in report["rows"] if r["source"] == name and "time_error_pct" in r]
          for name in report["time_by_source"]}
memory = [r["memory_error_pct"] for r in report["rows"] if "memory_error_pct" in r]
check(all(len(signed[n]) == s["rows"] and abs(sum(signed[n]) / s["rows"] - s["mean_error_pct"]) < 1e-9
          for n, s in report["time_by_source"].items()) and len(memory) == report["memory"]["rows"] > 0 and
      abs(sum(memory) / len(memory) - report["memory"]["mean_error_pct"]) < 1e-9,
      "validate's signed mean error, per source and for memory, is the mean of the rows' errors")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
