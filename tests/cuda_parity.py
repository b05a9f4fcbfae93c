"""The CUDA backend against the CPU backend on the tiny GPT (the same weights, tokens and
dropout masks): per-step losses within 1e-4 over 10 steps in fp32 and within 2e-2 in bf16; with
2 GPUs or more, tensor, pipeline and data parallelism on the GPUs against one GPU. Needs a GPU:
without one it says so and exits 77 (CTest: SKIPPED, label gpu).

    cuda_parity.py PARALLAX SOURCE_DIR"""
import os
import subprocess
import sys
import tempfile

from tiny_runs import check, failures, losses, run, sets


def gpus():
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU ")) if out.returncode == 0 else 0


def main():
    parallax, root = sys.argv[1], sys.argv[2]
    n = gpus()
    if n == 0:
        print("SKIPPED: no GPU to compare the CUDA backend on (nvidia-smi lists none)")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        def trained(name, backend, precision, ranks=1, **plan):
            out = os.path.join(tmp, name + ".h5")
            r = run(parallax, root, out, ranks=ranks,
                    extra=sets(training__backend=backend, training__precision=precision, model__dropout=0.1, **plan))
            check(r.returncode == 0, f"{name} runs" + ("" if r.returncode == 0 else ": " + r.stderr[-400:]))
            return losses(out) if r.returncode == 0 else None

        for precision, tol in (("fp32", 1e-4), ("bf16", 2e-2)):
            cpu, gpu = trained(f"cpu-{precision}", "cpu", precision), trained(f"gpu-{precision}", "cuda", precision)
            if cpu is not None and gpu is not None:
                worst = max(abs(a - b) for a, b in zip(cpu, gpu))
                print(f"{precision}: CPU {list(map(float, cpu))}\n{precision}: GPU {list(map(float, gpu))}")
                check(len(cpu) == len(gpu) == 10 and worst <= tol,
                      f"{precision}: 10 steps' losses on the GPU within {tol} of the CPU's (largest difference {worst:.2e})")
        if n >= 2:
            one = trained("gpu1", "cuda", "fp32")
            for name, plan in (("tp2", {"parallel__tp": 2}), ("pp2", {"parallel__pp": 2}), ("dp2", {"parallel__dp": 2})):
                many = trained(name, "cuda", "fp32", ranks=2, **plan)
                if one is not None and many is not None:
                    worst = max(abs(a - b) for a, b in zip(one, many))
                    check(worst <= 1e-4, f"{name} on 2 GPUs within 1e-4 of one GPU (largest difference {worst:.2e})")
        else:
            print(f"only {n} GPU: tp2, pp2 and dp2 against one GPU need two")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
