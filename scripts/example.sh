#!/usr/bin/env bash
# The built-in example, after scripts/setup.sh: predict GPT-3 175B on 1024 A100s, sweep every plan
# for it on 512, and train a tiny GPT-2 on the built-in text (the loss falls from ln 256 = 5.5),
# on one rank and then on 8 MPI ranks.
# Everything lands in build/example/results.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/example
./build/parallax predict experiments/example.toml --timeline build/example/trace.json --out build/example/results.h5
./build/parallax sweep experiments/sweep-gpt3-512.toml --top 3 --quiet --out build/example/results.h5
/usr/bin/python3 scripts/tokenize_text.py experiments/data/parallel-training.txt build/parallel-training.bin
./build/parallax run experiments/train-tiny.toml --out build/example/results.h5
# The same model on 8 MPI ranks (tensor 2 x pipeline 2 x data 2), then where its time went.
mpiexec -n 8 ./build/parallax run experiments/train-tiny.toml --set parallel.tp=2 --set parallel.pp=2 \
  --set parallel.dp=2 --set system.gpus=8 --set training.micro_batch=2 --set training.steps=30 \
  --out build/example/results.h5
/usr/bin/python3 scripts/phases.py build/example/results.h5
for scaling in false true; do
  ./build/parallax sweep experiments/sweep-gpt3-512.toml --set 'sweep.gpus=[128,256,512,1024]' --quiet \
    --set sweep.weak_scaling=$scaling --out build/example/results.h5 >/dev/null
done
/usr/bin/python3 scripts/report.py build/example/results.h5 --out build/example/report
echo "example: results in build/example/results.h5, report in build/example/report/index.html," \
  "timeline in build/example/trace.json (open in ui.perfetto.dev)"
