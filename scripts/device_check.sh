#!/usr/bin/env bash
# The GPU check, on a machine that brings the CUDA toolkit, a C++ compiler, CMake and a Python
# with PyTorch and h5py, and nothing of Debian's development packages: unpacks what
# scripts/fetch_device_deps.sh packed (deps/device-deps.tar.xz) into a prefix, builds Parallax
# with the CUDA backend for the GPU at hand against it, runs the tests labelled gpu, and prints
# the table: GEMM TFLOP/s by shape and precision against the device's peak, GPT-2 124M bf16
# training in Parallax beside PyTorch eager and torch.compile, and the CUDA-vs-CPU losses.
#   scripts/fetch_device_deps.sh       (here; deps/ is ignored by git: carry it to the GPU machine)
#   scripts/device_check.sh            (there: the build, the gpu tests, the table)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
deps=${PARALLAX_DEPS:-/tmp/parallax-deps}
build=${PARALLAX_GPU_BUILD:-$root/build-gpu}
arch=$(${CXX:-c++} -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
python=$(command -v python3)
step() { printf '\n== %s (%s s)\n' "$1" "$SECONDS"; }

step "GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || { echo "no GPU"; exit 1; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$gpu" in
  *H100* | *H200* | *H800* | *GH200*) cuda_arch=90 peak_bf16=989 peak_fp32=67 ;;
  *A100* | *A800*) cuda_arch=80 peak_bf16=312 peak_fp32=19.5 ;;
  *) cuda_arch=native peak_bf16=0 peak_fp32=0 ;;
esac

step "dependencies into $deps"
if [[ ! -f deps/device-deps.tar.xz ]]; then
  echo "deps/device-deps.tar.xz is missing: run scripts/fetch_device_deps.sh on the Debian machine and carry deps/"
  exit 1
fi
rm -rf "$deps" && mkdir -p "$deps"
# tar needs xz for this; Python's tarfile reads it without (and keeps the libraries' symlinks).
tar -C "$deps" -xJf deps/device-deps.tar.xz 2>/dev/null ||
  "$python" -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" deps/device-deps.tar.xz "$deps" ||
  { echo "cannot unpack deps/device-deps.tar.xz"; exit 1; }
P=$deps/usr
# MPICH's compiler wrapper names the folders it was built for: point it at the prefix.
sed -i "s|^prefix=/usr|prefix=$P|; s|^exec_prefix=/usr|exec_prefix=$P|; s|^includedir=/usr|includedir=$P|;
        s|^libdir=/usr|libdir=$P|" "$P/bin/mpicc.mpich"
ln -sf mpiexec.hydra "$P/bin/mpiexec"  # beside hydra_pmi_proxy, where Hydra looks for it
export PATH=$P/bin:$PATH
export LD_LIBRARY_PATH=$P/lib/$arch:$P/lib/$arch/openblas-openmp:$P/lib/$arch/hdf5/serial:${LD_LIBRARY_PATH:-}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}

step "build (CUDA architecture $cuda_arch)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$P" -DCMAKE_CUDA_ARCHITECTURES=$cuda_arch \
  -DHDF5_C_INCLUDE_DIR="$P/include/hdf5/serial" -DHDF5_hdf5_LIBRARY_RELEASE="$P/lib/$arch/hdf5/serial/libhdf5.so" \
  -DMPI_C_COMPILER="$P/bin/mpicc.mpich" -DPYTHON="$python" >"$build.configure.log" 2>&1 ||
  { tail -30 "$build.configure.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" >"$build.build.log" 2>&1 || { grep -m 20 -E "error|Error" "$build.build.log"; exit 1; }
parallax=$build/parallax

step "tests labelled gpu"
(cd "$build" && ctest -L gpu --output-on-failure -V 2>&1 |
  grep -E "^[0-9]+: (ok|FAIL|fp32|bf16|SKIP|.*largest|.*error)|Test +#|tests passed|\*\*\*")

step "GEMMs (peak: bf16 $peak_bf16, fp32 $peak_fp32 TFLOP/s dense): cublaslt = the library on operands already in
the precision; forward/backward = the kernel seam, which casts its fp32 operands to 16 bits first"
for precision in bf16 fp32; do
  "$parallax" bench gemm --backend cuda --precision $precision -b 1024 -e 8192 --csv "$build/gemm-$precision.csv" >/dev/null
done
"$python" - "$build" "$peak_bf16" "$peak_fp32" <<'PY'
import csv, sys
build, peaks = sys.argv[1], {"bf16": float(sys.argv[2]), "fp32": float(sys.argv[3])}
print(f"{'precision':9s} {'M=N=K':>6s} {'pass':9s} {'TFLOP/s':>8s} {'of peak':>8s}")
for p in ("bf16", "fp32"):
    try:
        rows = list(csv.DictReader(open(f"{build}/gemm-{p}.csv")))
    except OSError:
        print(p, "no figures"); continue
    for r in rows:
        t = float(r["tflops"])
        share = f"{100 * t / peaks[p]:7.1f}%" if peaks[p] else "      ?"
        print(f"{p:9s} {r['M']:>6s} {r['pass']:9s} {t:8.1f} {share}")
PY

step "GPT-2 124M, T 1024, bf16: Parallax beside PyTorch"
"$python" benchmarks/bench_gpt2_gpu.py "$parallax" --peak-tflops "$peak_bf16"
step "done"
