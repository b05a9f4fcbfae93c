"""Every parallel layout of 2, 4 and 8 ranks against the single process: starting from the same
seed and tokens, `mpiexec -n N parallax run` gives the single-process losses within 1e-5 at each
of 10 fp32 steps, and pipeline-only layouts give them bit for bit (every run takes one BLAS thread
a rank: OpenBLAS's GEMMs may round differently on 1 and 2 threads). Checkpoints cross layouts
(tp2*pp2 -> one process -> tp2*pp2, optimizer state included; bf16 dp2 and dp2 FSDP -> one
process). FSDP runs in fp32 and bf16. The bytes every rank holds against the simulator's
prediction, in fp32 and bf16. A wrong rank count, a rank that dies and an unsupported option end
the job with a clear message, never a hang."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_runs import check, failures, sets  # noqa: E402
from tiny_runs import run as run_tiny  # noqa: E402

parallax, root = sys.argv[1], sys.argv[2]
tiny = os.path.join(root, "experiments", "train-tiny.toml")


def run(out, ranks=1, extra=(), steps=10, global_batch=8, timeout=300):
    return run_tiny(parallax, root, out, ranks, extra, steps, global_batch, timeout)


def measured(path):
    with h5py.File(path, "r") as f:
        r = f["runs"][list(f["runs"])[-1]]
        return r["iterations"]["loss"][:], r["phases"][:], r["timeline"][:], str(r.attrs["blas"])


def memory(path):
    with h5py.File(path, "r") as f:
        return f["runs"][list(f["runs"])[-1]]["memory"][:]


def check_memory(name, path, ranks, single_rank_holds_both_ends, low=0.8):
    """Weights and optimizer state as the simulator counts them, gradients too where no rank keeps
    the LM head's share of the tied embedding apart; activations kept for the backward from `low`
    to 1.25 of the prediction for the same plan (no dropout: model.dropout = 0). 22 of the 27
    fp32 layouts land within 10 %; the others (0.83-1.20) are GPipe and interleaved schedules,
    whose last stage keeps the logits of every micro-batch in flight where the prediction counts
    one micro-batch's, and full recomputation, where so little is kept that the working set of
    the layer being recomputed, counted differently by the two, weighs most."""
    m = memory(path)
    check(sorted(m["rank"]) == list(range(ranks)), f"{name}: memory of every rank")
    close = lambda a, b: np.all(np.abs(a - b) <= 0.01 * b)
    check(close(m["weights_bytes"], m["predicted_weights_bytes"]) and
          close(m["optimizer_bytes"], m["predicted_optimizer_bytes"]),
          f"{name}: weights and optimizer bytes as predicted")
    if not single_rank_holds_both_ends:
        check(close(m["grads_bytes"], m["predicted_grads_bytes"]), f"{name}: gradient bytes as predicted")
    ratio = m["activations_peak_bytes"] / m["predicted_activations_bytes"]
    print(f"   {name}: activations measured/predicted {ratio.min():.2f}-{ratio.max():.2f}")
    check(np.all(ratio <= 1.25) and np.all(ratio >= low), f"{name}: activations within {low} to 1.25 of the prediction")


# name, ranks, overrides, global batch (8: 4 micro-batches of 2 per replica; 6: 3, not a multiple of pp)
LAYOUTS = [
    ("tp2", 2, dict(parallel__tp=2), 8),
    ("tp4 (two ranks hold only padded vocabulary)", 4, dict(parallel__tp=4), 8),
    ("pp2 1f1b", 2, dict(parallel__pp=2), 8),
    ("pp2 1f1b, 3 micro-batches", 2, dict(parallel__pp=2), 6),
    ("pp2 gpipe", 2, dict(parallel__pp=2, parallel__schedule="gpipe"), 8),
    ("pp2 vpp2 interleaved", 2, dict(parallel__pp=2, parallel__vpp=2, parallel__schedule="interleaved-1f1b"), 8),
    ("pp2 vpp2 interleaved, 3 micro-batches", 2,
     dict(parallel__pp=2, parallel__vpp=2, parallel__schedule="interleaved-1f1b"), 6),
    ("pp4 1f1b", 4, dict(parallel__pp=4), 8),
    ("pp2 uneven stages of 1 and 3 layers", 2, dict(parallel__pp=2, parallel__stage_layers="[1,3]"), 8),
    ("pp2 vpp2 uneven stages of 1 and 3 layers (an empty chunk)", 2,
     dict(parallel__pp=2, parallel__vpp=2, parallel__schedule="interleaved-1f1b", parallel__stage_layers="[1,3]"), 6),
    ("pp2 full recomputation", 2, dict(parallel__pp=2, training__recompute="full"), 8),
    ("pp2 vpp2 uniform full recomputation", 2,
     dict(parallel__pp=2, parallel__vpp=2, parallel__schedule="interleaved-1f1b", training__recompute="full",
          training__recompute_method="uniform", training__recompute_layers=1), 6),
    ("tp2 full recomputation of one layer a chunk", 2,
     dict(parallel__tp=2, training__recompute="full", training__recompute_layers=1), 8),
    ("tp2 selective recomputation", 2, dict(parallel__tp=2, training__recompute="selective"), 8),
    ("dp2", 2, dict(parallel__dp=2), 8),
    ("dp2 blocking reduction", 2, dict(parallel__dp=2, parallel__overlap_grad_reduce="false"), 8),
    ("dp2 distributed optimizer", 2, dict(parallel__dp=2, parallel__distributed_optimizer="true"), 8),
    ("tp2 pp2", 4, dict(parallel__tp=2, parallel__pp=2), 8),
    ("tp2 dp2", 4, dict(parallel__tp=2, parallel__dp=2), 8),
    ("tp2 sequence parallel", 2, dict(parallel__tp=2, parallel__sequence_parallel="true"), 8),
    ("tp4 sequence parallel, full recomputation", 4,
     dict(parallel__tp=4, parallel__sequence_parallel="true", training__recompute="full"), 8),
    ("tp2 pp2 sequence parallel, selective recomputation", 4,
     dict(parallel__tp=2, parallel__pp=2, parallel__sequence_parallel="true", training__recompute="selective"), 8),
    ("tp2 dp2 sequence parallel, distributed optimizer", 4,
     dict(parallel__tp=2, parallel__dp=2, parallel__sequence_parallel="true", parallel__distributed_optimizer="true"), 8),
    ("tp2 dp2 sequence parallel, overlapped DP reduction", 4,
     dict(parallel__tp=2, parallel__dp=2, parallel__sequence_parallel="true"), 8),
    ("pp2 dp2", 4, dict(parallel__pp=2, parallel__dp=2), 8),
    ("tp2 pp2 dp2", 8, dict(parallel__tp=2, parallel__pp=2, parallel__dp=2), 8),
    ("tp2 pp2 dp2 interleaved, distributed optimizer", 8,
     dict(parallel__tp=2, parallel__pp=2, parallel__dp=2, parallel__vpp=2, parallel__schedule="interleaved-1f1b",
          parallel__distributed_optimizer="true"), 8),
]

with tempfile.TemporaryDirectory() as tmp:
    reference = {}
    for gb in (8, 6):
        out = os.path.join(tmp, f"single{gb}.h5")
        r = run(out, global_batch=gb)
        check(r.returncode == 0, f"single process, global batch {gb} ({r.stderr.strip()[-300:]})")
        reference[gb], _, _, blas = measured(out)
        check(blas.endswith("1 thread(s) per rank"), f"OPENBLAS_NUM_THREADS=1 honoured and recorded ({blas})")
    for i, (name, ranks, over, gb) in enumerate(LAYOUTS):
        out = os.path.join(tmp, f"layout{i}.h5")
        r = run(out, ranks, sets(**over), global_batch=gb)
        check(r.returncode == 0, f"{name} runs on {ranks} ranks ({r.stderr.strip()[-300:]})")
        if r.returncode != 0:
            continue
        got, phases, timeline, _ = measured(out)
        delta = float(np.max(np.abs(got - reference[gb])))
        pipeline_only = over.get("parallel__pp", 1) > 1 and len([k for k in over if k in (
            "parallel__tp", "parallel__dp")]) == 0
        print(f"   {name}: max |loss delta| vs single process = {delta:.2e}")
        check(len(got) == 10 and delta <= 1e-5, f"{name}: losses within 1e-5 of the single process")
        if pipeline_only:
            check(delta == 0.0, f"{name}: losses bit-identical to the single process")
        check(sorted(set(phases["rank"])) == list(range(ranks)), f"{name}: phases of every rank")
        check_memory(name, out, ranks, over.get("parallel__pp", 1) == 1)
        if over.get("parallel__tp", 1) > 1:
            check(np.all(phases["tp_comm_s"] > 0), f"{name}: TP communication measured")
        if over.get("parallel__pp", 1) > 1:
            check(np.all(phases[phases["rank"] == ranks - 1]["pp_comm_s"] > 0), f"{name}: PP waits measured")
            kinds = set(k.decode() if isinstance(k, bytes) else k for k in timeline["kind"])
            check({"forward", "backward", "recv"} <= kinds, f"{name}: timeline has passes and receives")

    # Checkpoints across layouts: 5 steps in one layout, 5 more resumed in the other, against 10 straight.
    tp2pp2 = sets(parallel__tp=2, parallel__pp=2)
    for first, second in (((1, []), (4, tp2pp2)), ((4, tp2pp2), (1, []))):
        ckdir = os.path.join(tmp, f"ck{first[0]}")
        r = run(os.path.join(tmp, f"a{first[0]}.h5"), first[0], first[1] + sets(
            training__checkpoint_every=5, training__checkpoint_dir=ckdir), steps=5)
        ck = os.path.join(ckdir, "step_000005.h5")
        check(r.returncode == 0 and os.path.exists(ck), f"checkpoint written by {first[0]} rank(s)")
        if not os.path.exists(ck):
            continue
        with h5py.File(ck, "r") as f:
            check(f["transformer.wte.weight"].shape == (256, 64) and f["transformer.h.3.attn.c_attn.weight"].shape
                  == (192, 64) and "optimizer/exp_avg/transformer.h.0.mlp.c_proj.weight" in f,
                  f"checkpoint of {first[0]} rank(s) holds whole tensors and the optimizer state")
        out = os.path.join(tmp, f"b{first[0]}.h5")
        r = run(out, second[0], second[1] + sets(training__resume_from=ck))
        check(r.returncode == 0, f"{second[0]} rank(s) resume it ({r.stderr.strip()[-300:]})")
        if r.returncode == 0:
            got = measured(out)[0]
            delta = float(np.max(np.abs(got - reference[8][5:])))
            print(f"   {first[0]} -> {second[0]} rank(s): max |loss delta| at steps 6-10 = {delta:.2e}")
            check(len(got) == 5 and delta <= 1e-5, f"{first[0]} -> {second[0]} rank(s): steps 6-10 match within 1e-5")

    # bf16: the bytes each rank holds (16-bit weights and kept activations, the optimizer's fp32
    # master weights sharded with its state; the last stage's activations from 0.7 of the
    # prediction, which counts Megatron's 16-bit logits beside their fp32 copy, where the
    # executor keeps the fp32 logits only), and a checkpoint of dp2 with the distributed
    # optimizer (its master weights gathered) resumed by one process: steps 6-10 of ten
    # straight bf16 steps (their 16-bit weights are cast from the same fp32 ones).
    bf16 = dict(training__precision="bf16")
    straight = os.path.join(tmp, "bf16.h5")
    check(run(straight, extra=sets(**bf16)).returncode == 0, "bf16 single process runs")
    for name, ranks, over in (
            ("bf16 pp2 1f1b", 2, dict(parallel__pp=2)),
            ("bf16 tp2 pp2 sequence parallel, full recomputation", 4,
             dict(parallel__tp=2, parallel__pp=2, parallel__sequence_parallel="true", training__recompute="full"))):
        out = os.path.join(tmp, "bf16-layout.h5")
        r = run(out, ranks, sets(**over, **bf16))
        check(r.returncode == 0, f"{name} runs on {ranks} ranks ({r.stderr.strip()[-300:]})")
        if r.returncode == 0:
            check_memory(name, out, ranks, False, low=0.7)
    ckdir = os.path.join(tmp, "ck-bf16")
    out = os.path.join(tmp, "bf16-dp2.h5")
    r = run(out, 2, sets(parallel__dp=2, parallel__distributed_optimizer="true", training__checkpoint_every=5,
                         training__checkpoint_dir=ckdir, **bf16), steps=5)
    check(r.returncode == 0, f"bf16 dp2 distributed optimizer writes a checkpoint ({r.stderr.strip()[-300:]})")
    if r.returncode == 0:
        check_memory("bf16 dp2 distributed optimizer", out, 2, True, low=0.7)
        out = os.path.join(tmp, "bf16-resumed.h5")
        r = run(out, 1, sets(training__resume_from=os.path.join(ckdir, "step_000005.h5"), **bf16))
        check(r.returncode == 0, f"one process resumes it ({r.stderr.strip()[-300:]})")
        if r.returncode == 0:
            delta = float(np.max(np.abs(measured(out)[0] - measured(straight)[0][5:])))
            print(f"   bf16 dp2 -> 1 rank: max |loss delta| at steps 6-10 = {delta:.2e}")
            check(delta <= 1e-3, "bf16 dp2 -> 1 rank: steps 6-10 match within 1e-3")

    # FSDP: weights and optimizer state sharded over DP, each pass gathering its layer's weights;
    # the losses of the single process (fp32 within 1e-5, bf16 within 1e-3), the optimizer's
    # bytes as predicted, the weights' between the block and the prediction (which counts two
    # gathered layers, one being prefetched; the executor gathers one at a time), and a
    # checkpoint of dp2 FSDP resumed by one process.
    for name, ranks, over, expected, tolerance in (
            ("dp2 fsdp", 2, dict(parallel__dp=2, parallel__fsdp="true"), reference[8], 1e-5),
            ("tp2 pp2 dp2 fsdp", 8, dict(parallel__tp=2, parallel__pp=2, parallel__dp=2, parallel__fsdp="true"),
             reference[8], 1e-5),
            ("bf16 dp2 fsdp", 2, dict(parallel__dp=2, parallel__fsdp="true", **bf16), measured(straight)[0], 1e-3)):
        ckdir = os.path.join(tmp, f"ck-fsdp{ranks}")
        out = os.path.join(tmp, "fsdp.h5")
        r = run(out, ranks, sets(**over, training__checkpoint_every=5, training__checkpoint_dir=ckdir))
        check(r.returncode == 0, f"{name} runs on {ranks} ranks ({r.stderr.strip()[-300:]})")
        if r.returncode != 0:
            continue
        delta = float(np.max(np.abs(measured(out)[0] - expected)))
        print(f"   {name}: max |loss delta| vs single process = {delta:.2e}")
        check(delta <= tolerance, f"{name}: losses within {tolerance:.0e} of the single process")
        m = memory(out)
        check(np.all(np.abs(m["optimizer_bytes"] - m["predicted_optimizer_bytes"]) <= 0.01 * m["predicted_optimizer_bytes"]),
              f"{name}: optimizer bytes as predicted")
        ratio = m["weights_bytes"] / m["predicted_weights_bytes"]
        print(f"   {name}: weights measured/predicted {ratio.min():.2f}-{ratio.max():.2f}")
        check(np.all(ratio <= 1.0) and np.all(ratio > 0.5), f"{name}: weights sharded, at most the prediction")
        if name == "dp2 fsdp":
            out = os.path.join(tmp, "fsdp-resumed.h5")
            r = run(out, 1, sets(training__resume_from=os.path.join(ckdir, "step_000005.h5")))
            check(r.returncode == 0, f"one process resumes dp2 FSDP's checkpoint ({r.stderr.strip()[-300:]})")
            if r.returncode == 0:
                delta = float(np.max(np.abs(measured(out)[0] - reference[8][5:])))
                check(delta <= 1e-5, f"dp2 FSDP -> 1 rank: steps 6-10 within 1e-5 ({delta:.1e})")

    # Failures end the job with one clear line and no results file.
    r = subprocess.run(["mpiexec", "-n", "2", parallax, "run", tiny, "--set", "training.data=synthetic", "--out",
                        os.path.join(tmp, "x.h5")], capture_output=True, text=True, timeout=300)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(r.returncode == 2 and len(lines) == 1 and "mpiexec started 2 rank(s)" in lines[0],
          f"wrong rank count: one line, status 2 ({lines})")
    r = run(os.path.join(tmp, "y.h5"), 2, sets(parallel__dp=2, parallel__cp=2, system__gpus=4))
    check(r.returncode == 2 and "parallel.cp" in r.stderr, f"unsupported option refused clearly ({r.stderr.strip()})")
    r = run(os.path.join(tmp, "w.h5"), 2, sets(parallel__pp=2, training__checkpoint_every=2,
                                                training__checkpoint_dir="/proc/parallax-no-such-dir"))
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(r.returncode == 2 and len(lines) == 1 and "training.checkpoint_dir" in lines[0],
          f"checkpoint directory that cannot be made: one line, status 2 ({lines})")
    check(not any(os.path.exists(os.path.join(tmp, f)) for f in ("x.h5", "y.h5", "w.h5")),
          "no results file left by a refused run")
    # A rank killed mid-run (pipeline partner waiting on it): the job ends, saying so.
    script = ('if [ "$PMI_RANK" = 1 ]; then (sleep 2; kill -9 $$) & fi; '
              f'exec {parallax} run {tiny} --set training.data=synthetic --set training.steps=100000 '
              f'--set model.layers=4 --set parallel.pp=2 --set system.gpus=2 --out {tmp}/z.h5')
    try:
        r = subprocess.run(["mpiexec", "-n", "2", "sh", "-c", script], capture_output=True, text=True, timeout=120)
        check(r.returncode != 0 and ("KILLED" in r.stdout + r.stderr or "TERMINATION" in r.stdout + r.stderr),
              f"a killed rank ends the job with a message (status {r.returncode}: {(r.stdout + r.stderr).strip()[-200:]})")
    except subprocess.TimeoutExpired:
        check(False, "a killed rank ends the job (it hung)")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
