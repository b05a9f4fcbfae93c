#!/usr/bin/env bash
# Every bad input exits with status 2, one line on stderr naming what is wrong, and writes
# no output file.
set -u
parallax=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
good=../experiments/example.toml
fails=0

expect() {  # expect "<what stderr names>" args...
  local what=$1; shift
  "$parallax" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$tmp/err")
  if [[ $rc -ne 2 || $lines -ne 1 ]] || ! grep -qF -- "$what" "$tmp/err"; then
    echo "FAIL (rc=$rc, $lines stderr lines): parallax $*"; cat "$tmp/err"; fails=$((fails + 1))
  else
    echo "ok: parallax $* -> $(cat "$tmp/err")"
  fi
}

printf '[model\nlayers=2\n' >"$tmp/malformed.toml"
expect "malformed TOML" predict "$tmp/malformed.toml"
printf '[=]\n' >"$tmp/header.toml"
expect "header.toml:1:2: malformed TOML: Error while parsing key" predict "$tmp/header.toml"
expect "cannot open" predict "$tmp/missing.toml"
expect "is a directory" predict "$tmp"
expect "--set parallel.tp: the value holds a line break" predict $good --set $'parallel.tp=4\n[x]\ny=1'
/usr/bin/python3 -c "open('$tmp/deep.toml', 'w').write('[' + '.'.join(['a'] * 200000) + ']\n')"
expect "deep.toml:1: a key nested more than 64 deep" predict "$tmp/deep.toml"
expect "the sweep space holds up to 5041800 plans, more than the 2000000" sweep ../experiments/sweep-gpt3-512.toml \
  --set system.gpus_per_node=64 --set "sweep.gpus=[$(seq -s, 64 64 8192)]" --set sweep.tp_across_nodes=true \
  --set "sweep.micro_batch=[1,2,4,8,16,32,64,128,256,512,1024,2048]" --set "sweep.vpp=[1,2,3,4,6,8,12,16,24,48]" \
  --set 'sweep.schedule=["1f1b","gpipe","interleaved-1f1b"]' --set system.gpus=8192 --set training.global_batch=8192
expect "sweep.tp lists more than 256 distinct values" sweep ../experiments/sweep-gpt3-512.toml --set "sweep.tp=[$(seq -s, 1 300)]"
mkfifo "$tmp/fifo"
expect "is not a regular file" predict "$tmp/fifo"
expect "is not a regular file" predict /dev/zero
head -c 17000000 /dev/zero | tr '\0' '#' >"$tmp/huge.toml"
expect "more than the 16 MiB an experiment file may hold" predict "$tmp/huge.toml"
expect "is a character device, not a file to write" predict $good --timeline /dev/full
expect "is a FIFO, not a file to write" predict $good --out "$tmp/fifo"
: >"$tmp/empty.toml"
expect "no [model] section" predict "$tmp/empty.toml"
expect "model.preset" predict $good --set model.preset=gpt5
expect "unknown key model.colour" predict $good --set model.colour=3
expect "must divide model.heads" predict $good --set parallel.tp=5
expect "divisible by parallel.pp*parallel.vpp" predict $good --set parallel.pp=5 --set parallel.vpp=1 --set system.nodes=40
expect "training.global_batch" predict $good --set training.global_batch=1000
expect "training.global_batch = 0 must be a positive integer" predict $good --set training.global_batch=0
expect "parallel.cp = 0 must be a positive integer" sweep ../experiments/sweep-gpt3-512.toml --set parallel.cp=0
expect "parallel.ep = 0 must be a positive integer" sweep ../experiments/sweep-gpt3-512.toml --set parallel.ep=0
expect "parallel.tp = -1 must be a positive integer" sweep ../experiments/sweep-gpt3-512.toml --set parallel.tp=-1
expect "training.recompute_layers = -1 must be zero" sweep ../experiments/sweep-gpt3-512.toml --set training.recompute_layers=-1
expect "must equal the devices" predict $good --set parallel.dp=3
expect "micro-batches per iteration; at most 1048576 are simulated" predict $good --set training.global_batch=33554432
expect "model.ffn_hidden = 4*model.hidden (its default) is out of range" predict $good --set model.hidden=2000000000
expect "system.nodes*system.gpus_per_node is out of range" predict $good --set system.nodes=2000000000
expect "model.experts = 1000000000 must be 0 (a dense model) or a positive integer up to 65536" predict $good --set model.experts=1000000000
expect "model.hidden = -8" predict $good --set model.hidden=-8
expect "needs parallel.vpp >= 2" predict $good --set parallel.vpp=1 --set parallel.schedule=interleaved-1f1b
expect "parallel.stage_layers: every stage needs at least one layer" predict $good --set parallel.vpp=1 --set parallel.schedule=1f1b --set "parallel.stage_layers=[0,96,0,0,0,0,0,0]"
expect "parallel.stage_layers must add up to model.layers" predict $good --set parallel.vpp=1 --set parallel.schedule=1f1b --set "parallel.stage_layers=[12,12,12,12,12,12,12,13]"
expect "parallel.stage_layers: every stage needs at least parallel.vpp - 1 = 2 layers" predict $good --set "parallel.stage_layers=[1,13,13,13,13,13,13,17]"
expect "training.recompute_layers needs training.recompute = \"full\"" predict $good --set training.recompute_layers=2
expect "training.recompute_layers = 13 must be between 1 and the layers of a model chunk (4)" predict $good --set training.recompute=full --set training.recompute_layers=13
expect "training.grad_reduce_in_fp32 = false needs a 16-bit or fp8 training.precision" predict $good --set training.precision=fp32 --set training.grad_reduce_in_fp32=false
expect "training.grad_reduce_in_fp32" predict $good --set training.grad_reduce_in_fp32=3
expect "training.optimizer_state = \"remainders\" needs bf16 weights: training.precision \"bf16\" or \"fp8\" (got \"fp16\")" predict $good --set training.precision=fp16 --set training.optimizer_state=remainders
expect "training.optimizer_state = \"bf16\" needs bf16 weights" sweep $good --set training.precision=fp32 --set training.optimizer_state=bf16
expect "training.optimizer_state" predict $good --set training.optimizer_state=fp8
expect "parallel.fsdp_per_tensor = true needs parallel.fsdp = true" predict $good --set parallel.fsdp_per_tensor=true
expect "parallel.cp" predict $good --set parallel.cp=0
expect "tp*cp*pp*dp = 8*2*8*16 = 2048" predict $good --set parallel.cp=2 --set parallel.dp=16
expect "parallel.cp = 3 needs model.seq_len = 2048 divisible by 2*cp" predict $good --set parallel.cp=3 --set system.nodes=192
expect "peak_tflops_fp8" predict $good --set training.precision=fp8
expect "training.precision" predict $good --set training.precision=fp4
expect "--format" predict $good --format yaml
expect "not an HDF5 file" predict $good --out $good
expect "is a directory, not a file to write" predict $good --timeline "$tmp"
expect "is a directory, not a file to write" sweep ../experiments/sweep-gpt3-512.toml --csv "$tmp"
expect "no column" validate $good
/usr/bin/python3 - "$tmp/skipped.csv" <<'END'
import csv, sys
rows = csv.DictReader(open("../experiments/validation/published_runs.csv", newline=""))
out = csv.DictWriter(open(sys.argv[1], "w", newline=""), fieldnames=rows.fieldnames)
out.writeheader()
out.writerow({**next(rows), "tp": "1abc"})
END
expect "skipped.csv: no row could be predicted (1 skipped" validate "$tmp/skipped.csv"
expect "SYSTEM.KEY=VALUE" validate ../experiments/validation/published_runs.csv --set gemm_efficiency
expect "the value must be a number" validate ../experiments/validation/published_runs.csv --set "*.gemm_efficiency=0.5abc"
expect "system.calibration.busbw_efficiency_inter = -1.000000 must be positive" validate ../experiments/validation/published_runs.csv --set "*.busbw_efficiency_inter=-1"
expect "system.calibration.p2p_efficiency_inter = -0.500000 must be zero or positive" predict $good --set system.calibration.p2p_efficiency_inter=-0.5
expect "system.calibration.dp_reduce_efficiency = 0.000000 must be positive" predict $good --set system.calibration.dp_reduce_efficiency=0
expect "system.calibration.gemm_efficiency = inf must be a finite number" predict $good --set system.calibration.gemm_efficiency=inf
expect "system.device.sms = 0 must be a positive integer" predict $good --set system.device.sms=0
expect "system.inter_node.latency_us = -1.000000 must be zero or positive" predict $good --set system.inter_node.latency_us=-1
expect "system.device.peak_tflops_vector_fp16 = 0: training.precision = \"bf16\" needs it" predict $good --set system.device.peak_tflops_vector_fp16=0
expect "system.calibration.memory_overhead_gib = nan must be a finite number" predict $good --set system.calibration.memory_overhead_gib=nan
expect "system.calibration.gemm_efficiency = 1.500000 must be at most 1 (a fraction of the peak)" predict $good --set system.calibration.gemm_efficiency=1.5
expect "system.calibration.memory_efficiency = 2.000000 must be at most 1" validate ../experiments/validation/published_runs.csv --set "*.memory_efficiency=2"
mix=(--set model.preset=mixtral-8x7b --set parallel.tp=1 --set parallel.pp=4 --set parallel.vpp=1 --set parallel.schedule=1f1b --set model.seq_len=2048)
expect "parallel.ep = 2 needs an MoE model (model.experts > 0)" predict $good --set parallel.ep=2
expect "model.experts = -1 must be 0" predict $good --set model.experts=-1
expect "model.top_k and model.moe_ffn_hidden need model.experts > 0" predict $good --set model.top_k=2
expect "model.top_k = 9 must be between 1 and model.experts = 8" predict $good "${mix[@]}" --set model.top_k=9
expect "parallel.ep = 3 must divide model.experts = 8" predict $good "${mix[@]}" --set parallel.ep=3
expect "parallel.ep = 8 must divide parallel.dp*parallel.cp = 4" predict $good "${mix[@]}" --set parallel.ep=8 --set system.nodes=2
expect "model.experts = 8: the executor trains dense models only" run ../experiments/train-tiny.toml --set model.experts=8 --out "$tmp/out.h5"
expect "parallel.shard_gradients = true (ZeRO-2): the executor shards" run ../experiments/train-tiny.toml --set parallel.zero_stage=2 --out "$tmp/out.h5"
expect "parallel.reshard_after_forward = false: the executor's FSDP" run ../experiments/train-tiny.toml --set parallel.fsdp=true --set parallel.reshard_after_forward=false --out "$tmp/out.h5"
expect "parallel.zero_stage = 5 must be 0, 1, 2 or 3" predict $good --set parallel.zero_stage=5
expect "parallel.cp = 2: the executor does not run context parallelism" run ../experiments/train-tiny.toml --set training.data=synthetic --set parallel.cp=2 --set system.gpus=2 --out "$tmp/out.h5"
study=../experiments/study-tiny.toml
expect "no [study] section" study $good --dir "$tmp/s1"
expect "study.plans[0] = \"t2x\" is not a plan name" study $study --dir "$tmp/s1" --set 'study.plans=["t2x"]'
expect "study: give either plans" study $study --dir "$tmp/s1" --set study.top_k=2
expect "study.launcher = \"pbs\" is not allowed" study $study --dir "$tmp/s1" --set study.launcher=pbs
expect "study.plans[0]: parallel.tp = 3 must divide model.heads" study $study --dir "$tmp/s1" --set 'study.plans=["t3p1d1m4"]'
expect "unknown key study.plans[0].bogus" study $study --dir "$tmp/s1" --set 'study.plans=[{bogus = 1}]'
expect "holds no study" study status "$tmp"
[[ -e $tmp/s1 ]] && { echo "FAIL: a refused study left $tmp/s1"; fails=$((fails + 1)); }
sweep=../experiments/sweep-gpt3-512.toml
expect "sweep.tp is an empty list" sweep $sweep --set 'sweep.tp=[]'
expect "sweep.tp = 5 does not divide model.heads" sweep $sweep --set 'sweep.tp=[5]'
expect "unknown key sweep.colour" sweep $sweep --set 'sweep.colour=[1]'
expect "parallel.fsdp_per_tensor = true needs parallel.fsdp = true" sweep $sweep --set parallel.fsdp_per_tensor=true
expect "sweep.zero_stage = 4 must be 0, 1, 2 or 3" sweep $sweep --set "sweep.zero_stage=[1,4]"
expect "sweep.zero_stage and sweep.distributed_optimizer are both listed" sweep $sweep --set "sweep.zero_stage=[1,3]" --set "sweep.distributed_optimizer=[true]"
expect "sweep.schedule = \"zigzag\" is not allowed" sweep $sweep --set 'sweep.schedule=["zigzag"]'
expect "sweep.micro_batch = 0 is not allowed" sweep $sweep --set 'sweep.micro_batch=[0]'
expect "spans nodes" sweep $sweep --set 'sweep.tp=[16]' --set model.heads=96
expect "sweep.recompute must hold strings" sweep $sweep --set 'sweep.recompute=[1]'
tiny=../experiments/train-tiny.toml
printf 'not a token file' >"$tmp/junk.bin"
expect "no such token file" run $tiny --set training.data="$tmp/none.bin" --out "$tmp/out.h5"
expect "not a token file" run $tiny --set training.data="$tmp/junk.bin" --out "$tmp/out.h5"
/usr/bin/python3 -c "import struct,sys; open(sys.argv[1],'wb').write(struct.pack('<256i',20240520,1,100,*([0]*253))+struct.pack('<100H',*([300]*100)))" "$tmp/big.bin"
expect "is not below the model's vocabulary" run $tiny --set training.data="$tmp/big.bin" --out "$tmp/out.h5"
expect "no such checkpoint file" run $tiny --set training.data=synthetic --set training.init_from="$tmp/none.h5" --out "$tmp/out.h5"
"$parallax" run $tiny --set training.data=synthetic --set training.steps=1 --set training.checkpoint_every=1 \
  --set training.checkpoint_dir="$tmp/ckpt" --out "$tmp/first.h5" >/dev/null 2>&1
expect "has shape" run $tiny --set training.data=synthetic --set model.hidden=128 --set model.ffn_hidden=512 \
  --set training.init_from="$tmp/ckpt/step_000001.h5" --out "$tmp/out.h5"
expect "the executor trains in fp32, bf16 or fp16" run $tiny --set training.data=synthetic --set training.precision=fp8 --set system.preset=dgx-h100 --out "$tmp/out.h5"
expect 'training.backend = "gpu" is not allowed' run $tiny --set training.data=synthetic --set training.backend=gpu --out "$tmp/out.h5"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then  # a machine without a GPU
  expect 'training.backend = "cuda" (system cpu): no GPU to run on here' run $tiny --set training.data=synthetic --set training.backend=cuda --out "$tmp/out.h5"
  expect 'training.backend = "cuda" (system dgx-h100): no GPU' run $tiny --set training.data=synthetic --set system.preset=dgx-h100 --out "$tmp/out.h5"
fi
expect "model.dropout must be in [0, 1)" predict $good --set model.dropout=1
expect "training.adam_beta2 = 1.5 must be in [0, 1)" run $tiny --set training.data=synthetic --set training.adam_beta2=1.5 --out "$tmp/out.h5"
expect "training.min_lr = 1 must be between 0 and training.lr" run $tiny --set training.data=synthetic --set training.min_lr=1 --out "$tmp/out.h5"
expect "training.adam_eps = 0 must be positive" run $tiny --set training.data=synthetic --set training.adam_eps=0 --out "$tmp/out.h5"
expect "training.layerwise_lr_decay = 0 must be in (0, 1]" run $tiny --set training.data=synthetic --set training.layerwise_lr_decay=0 --out "$tmp/out.h5"
expect "training.min_loss_scale = 8 must be positive and at most training.initial_loss_scale" run $tiny --set training.data=synthetic --set training.initial_loss_scale=4 --set training.min_loss_scale=8 --out "$tmp/out.h5"
expect "training.recompute_method" run $tiny --set training.recompute_method=random --out "$tmp/out.h5"
expect "but mpiexec started 1 rank(s): run under mpiexec -n 2" run $tiny --set parallel.tp=2 --set system.gpus=2 --out "$tmp/out.h5"
[[ -e $tmp/out.h5 || -e $good.tmp || -e $tmp.tmp ]] && { echo "FAIL: a file was left behind"; fails=$((fails + 1)); }
echo "$fails failed"
exit $((fails > 0))
