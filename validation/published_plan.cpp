#include "validation/published_plan.hpp"

#include <algorithm>
#include <regex>

namespace parallax::sim {

using namespace cells;  // the row's cell readers (validation/published_cells.hpp)

Framework framework_of(const Row& row) {
  Framework fw;
  fw.name = lowered(row, "framework");
  fw.sharding = given(row, "optimizer_sharding");
  const std::string& f = fw.name;
  // A row whose sharding column names DeepSpeed ("ZeRO-1 (DeepSpeed)") ran under it too.
  fw.deepspeed = has(f, "deepspeed") || has(fw.sharding, "deepspeed");
  fw.nemo = has(f, "nemo");
  fw.mcore = has(f, "megatron-core") || has(f, "mcore") || fw.nemo;
  // Megatron-LM's own data parallelism (--DDP-impl local, as SC21's scripts run it) all-reduces
  // the gradients in train_step after the last micro-batch's backward, like DeepSpeed.
  fw.local_ddp = has(f, "ddp impl=local") || has(f, "ddp-impl local");
  // Megatron-LM and Megatron-DeepSpeed of 2020-2022. PTD-P is SC21's name for Megatron-LM.
  fw.legacy = fw.deepspeed || ((has(f, "megatron") || has(f, "ptd-p")) && !fw.mcore);
  const std::optional<int> year = find_int(f, R"((20\d\d))");
  fw.from_2022 = year && *year >= 2022;
  fw.from_2023 = year && *year >= 2023;
  fw.embedding_named = has(f, "type:transformer|embedding");
  fw.family = fw.deepspeed ? "megatron-deepspeed"
              : fw.nemo    ? "nemo"
              : fw.mcore   ? "megatron-core"
              : fw.legacy  ? "megatron-lm"
                           : "other";
  return fw;
}

// Megatron's block method: N past the fullest chunk is all of the chunk.
void hold_block_to_chunk(Experiment& e) {
  auto& n = e.training.recompute_layers;
  if (n > 0) n = std::min(n, e.most_chunk_layers());
}

void split_layers(Experiment& e, bool deepspeed, bool embedding_named) {
  const auto& m = e.model;
  auto& p = e.parallel;
  p.stage_layers.clear();
  if (p.pp < 1 || p.pp > m.layers) return;  // validate names it
  const bool embedding_split = embedding_named || (m.layers % p.pp != 0 && (m.layers + 2) % p.pp == 0);
  if (embedding_split && p.pp > 1) {
    // The embedding and the output layer each count as one layer when the stages are cut
    // (DeepSpeed's partition_method "type:transformer|embedding"; Megatron-Core's
    // account_for_embedding/loss_in_pipeline_split; Llama 3 sec. 3.3.2, one layer fewer on the
    // first and the last stage): the L + 2 are spread evenly, the first stages taking one more.
    const int items = m.layers + 2;
    for (int s = 0; s < p.pp; ++s) p.stage_layers.push_back(items / p.pp + (s < items % p.pp ? 1 : 0));
    --p.stage_layers.front();
    --p.stage_layers.back();
  } else if (m.layers % p.pp != 0) {
    // DeepSpeed's partition_balanced ("type:transformer", Megatron-DeepSpeed's default) finds
    // the smallest bottleneck, ceil(L / pp) layers, and fills the stages greedily from the
    // first: for 78 layers on 12 stages, eleven of 7 and a last one of 1 (BigScience's
    // chronicles-prequel.md says so). Other frameworks: the first L mod pp stages one more.
    const int most = (m.layers + p.pp - 1) / p.pp;
    for (int s = 0, left = m.layers; s < p.pp; ++s) {
      const int n = deepspeed ? std::min(most, left) : m.layers / p.pp + (s < m.layers % p.pp ? 1 : 0);
      p.stage_layers.push_back(n);
      left -= n;
    }
  }
}

void read_degrees(const Row& row, const Framework& fw, const std::string& moe_text, Experiment& e, BlankKnobs& blank) {
  const std::string& sharding = fw.sharding;
  const ModelConfig& m = e.model;
  auto& p = e.parallel;
  p.tp = integer(row, "tp", 1);
  p.pp = integer(row, "pp", 1);
  p.cp = integer(row, "cp", 1);
  const long long tcp = static_cast<long long>(p.tp) * p.cp * p.pp;
  p.dp = integer(row, "dp", static_cast<int>(std::max(1LL, e.system.gpus / std::max(1LL, tcp))));
  const std::optional<int> ep = number(row, "ep") ? std::optional<int>(integer(row, "ep"))
                                                  : find_int(moe_text, R"((?:^|[^a-z])ep\s*[=:]?\s*(\d+))");
  p.ep = m.moe() ? ep.value_or(1) : 1;
  blank.ep = m.moe() && !ep;
  // A vpp marked not applicable ("n/a", "none", "-") is no interleaving; only a blank is unknown.
  const std::string vpp_text = lowered(row, "vpp");
  const bool not_interleaved = vpp_text == "n/a" || vpp_text == "na" || vpp_text == "none" || vpp_text == "-";
  blank.vpp = !number(row, "vpp") && !not_interleaved;
  p.vpp = integer(row, "vpp", 1);
  p.schedule = p.vpp > 1 ? Schedule::interleaved : Schedule::one_f_one_b;
  // A blank tp or pp: every layout of the devices is tried (layouts_of, below).
  blank.layout = !number(row, "tp") || !number(row, "pp");
  const std::string sp = given(row, "seq_parallel");
  p.sequence_parallel = affirmative(sp);
  // The distributed optimizer, ZeRO (any stage) and FSDP all shard the optimizer state over DP;
  // ZeRO-3 and FSDP (fully sharded) shard the weights and gradients too.
  // A yes is the distributed optimizer; ZeRO stage 0 shards nothing. Hybrid sharding (HSDP:
  // sharded within a group, replicated across groups) is neither and is not timed.
  if (has(sharding, "hsdp") || has(sharding, "hybrid"))
    throw InputError("column optimizer_sharding = \"" + text(row, "optimizer_sharding") +
                     "\" names hybrid sharding, which the model does not time (it has the distributed optimizer, "
                     "ZeRO stages 1 to 3 and FSDP)");
  const std::optional<int> zero_stage = find_int(sharding, R"(zero[- _]?(?:stage[- _]?)?(\d))");
  p.distributed_optimizer = !sharding.starts_with("no") && !sharding.starts_with("false") && zero_stage != 0 &&
                            (affirmative(sharding) || has(sharding, "distributed") || has(sharding, "zero") ||
                             has(sharding, "fsdp") || has(sharding, "shard"));
  p.fsdp = p.distributed_optimizer && (has(sharding, "fsdp") || has(sharding, "fully sharded") || zero_stage == 3);
  p.shard_gradients = p.distributed_optimizer && zero_stage == 2;
}

void read_habits(const Row& row, const Framework& fw, const std::string& arch, Experiment& e, BlankKnobs& blank) {
  const std::string& framework = fw.name;
  const std::string& sharding = fw.sharding;
  const bool deepspeed = fw.deepspeed, nemo = fw.nemo, mcore = fw.mcore, legacy = fw.legacy;
  const bool from_2022 = fw.from_2022, from_2023 = fw.from_2023;
  auto& p = e.parallel;
  const std::string sp = given(row, "seq_parallel");
  // Gradient reduction overlapped with the backward in Megatron, not in DeepSpeed's pipeline
  // engine nor Megatron-LM's local DDP (Framework); NeMo runs Megatron-Core with its
  // distributed optimizer, whose parameter all-gather it overlaps (its default optimizer,
  // distributed_fused_adam).
  p.overlap_grad_reduce = !deepspeed && !fw.local_ddp;
  if (nemo && sharding.empty()) p.distributed_optimizer = true;
  p.overlap_param_gather = has(framework, "--overlap-param-gather") || (nemo && p.distributed_optimizer);
  // NeMo's performance recipes also pipeline the TP collectives with their GEMMs
  // (ub_tp_comm_overlap / tp_comm_overlap = True, with sequence parallelism) and keep
  // gradients in 16-bit (optim.grad_sync_dtype: bf16 in NeMo 1.x, grad_reduce_in_fp32 = False
  // in NeMo 2.x). Megatron-Core overlaps the interleaved schedule's sends and receives with
  // compute (overlap_p2p_comm; Megatron-LM's --no-overlap-p2p-communication turns it off).
  p.tp_comm_overlap = has(framework, "--tp-comm-overlap") || has(framework, "tp_comm_overlap") || nemo;
  p.overlap_p2p_comm = mcore;
  p.pipeline_scatter_gather = true;  // Megatron scatter/gather; DeepSpeed pipe_partitioned
  e.training.gradient_accumulation_fusion = !deepspeed;
  // Fused (flash) attention: Megatron-Core and NeMo use it, and so does every framework on
  // Hopper or later (a device with FP8 tensor cores); legacy frameworks on older GPUs
  // materialise the s x s scores.
  e.training.flash_attention =
      mcore || has(framework, "flash") || has(arch, "flash") || !legacy || e.system.device.peak_tflops_fp8 > 0;
  // Megatron-LM's column-parallel linears overlap their backward collectives with the GEMMs
  // from late 2021 on (--async-tensor-model-parallel-allreduce, on by default); SC21's and
  // 2020's Megatron-LM and the Megatron-DeepSpeed forks all-reduce synchronously
  // (copy_to_tensor_model_parallel_region). A legacy row counts as async when it names 2022 on.
  p.async_tp_allreduce = !legacy || from_2022;
  // DeepSpeed's ZeRO-3 gathered tensor by tensor, each collective blocking, until its 2022
  // rework (coalesced, prefetched gathers); a DeepSpeed row counts as the rework when it names 2022 on.
  p.fsdp_per_tensor = p.fsdp && deepspeed && !from_2022;
  // A blank knob is searched over what the framework could run. Sequence parallelism and
  // selective and block recomputation came with Megatron-LM 3.0 (2022); the Megatron-DeepSpeed
  // forks took them with their 2023 rebase (the BigScience fork never did), and DeepSpeed's
  // pipeline engine does not run sequence parallelism (deepspeedai/Megatron-DeepSpeed#170).
  const bool offers_sequence_parallel = !legacy || (deepspeed ? from_2023 && p.pp == 1 : from_2022);
  blank.sequence_parallel = sp.empty() && (p.tp > 1 || blank.layout) && offers_sequence_parallel;
  blank.whole_layer_recompute = legacy && !(deepspeed ? from_2023 : from_2022);
  // A blank optimizer_sharding (NeMo's default is read above): sharding the optimizer state over
  // DP is searched where the framework offers it, DeepSpeed's ZeRO-1 from the start and
  // Megatron-LM's --use-distributed-optimizer from 2022 (Megatron-LM 3.0).
  blank.distributed_optimizer =
      sharding.empty() && !nemo && (p.dp > 1 || blank.layout) && (!legacy || deepspeed || from_2022);
  split_layers(e, deepspeed, fw.embedding_named);
}

void read_training(const Row& row, const Framework& fw, Experiment& e, BlankKnobs& blank) {
  const std::string& framework = fw.name;
  const std::string& sharding = fw.sharding;
  const bool nemo = fw.nemo;
  const auto& p = e.parallel;
  auto& t = e.training;
  // A layer timed alone runs one micro-batch per replica.
  const long long replicas_batch = static_cast<long long>(integer(row, "micro_batch", 1)) * p.dp;
  t.global_batch = integer(row, "global_batch", replicas_batch > kLargestCell ? 0 : static_cast<int>(replicas_batch));
  blank.micro_batch = !number(row, "micro_batch");
  t.micro_batch = integer(row, "micro_batch", 1);
  const std::string rec = given(row, "recompute");
  blank.recompute = rec.empty();
  t.recompute = recompute_of(rec);
  // Megatron's block method recomputes the first N layers of each model chunk and keeps the
  // others' activations (--recompute-method block --recompute-num-layers N): "full (block, 4
  // layers)". The uniform method recomputes every layer in groups of N, which is all of them.
  if (t.recompute == Recompute::full && has(rec, "block")) {
    const int n =
        find_int(rec, R"((\d+)\s*layers?\b)").value_or(find_int(rec, R"(num[-_ ]layers\D{0,3}(\d+))").value_or(0));
    t.recompute_layers = n;
    hold_block_to_chunk(e);
  }
  // Any mention of FP8 (NeMo's "bf16_with_fp8_mixed", "FP8-CS"); otherwise the first 16- or
  // 32-bit format named ("fp16 (bf16 optimizer from 02-28)" is fp16); 16-bit mixed precision
  // without a name is taken as fp16.
  const std::string prec = lowered(row, "precision");
  // A format the model does not time (TF32 tensor cores, 4- or 6-bit floats, integers) skips
  // the row rather than reading as fp16.
  static const std::regex untimed(R"((^|[^a-z0-9])(tf32|(nv|mx)?fp[46]|int[48])([^a-z0-9]|$))");
  if (std::regex_search(prec, untimed))
    throw InputError("column precision = \"" + text(row, "precision") +
                     "\" names a format the model does not time (it has fp32, fp16, bf16 and fp8)");
  t.precision = Precision::fp16;
  if (has(prec, "fp8")) {
    t.precision = Precision::fp8;
  } else {
    size_t first = std::string::npos;
    for (const auto& [name, precision] :
         std::initializer_list<std::pair<const char*, Precision>>{{"fp16", Precision::fp16},
                                                                  {"float16", Precision::fp16},
                                                                  {"bf16", Precision::bf16},
                                                                  {"bfloat16", Precision::bf16},
                                                                  {"fp32", Precision::fp32},
                                                                  {"float32", Precision::fp32}}) {
      const size_t at = prec.find(name);
      if (at < first) first = at, t.precision = precision;
    }
  }
  if (nemo && t.precision != Precision::fp32) t.grad_reduce_in_fp32 = false;  // NeMo's recipes, above
  // NeMo 1.x (a row naming its launcher, a 1.y version or a container of 24.xx or before) shards
  // the state with Apex's DistributedFusedAdam (optim.name: distributed_fused_adam), which NeMo's
  // setup_optimization gives 16-bit remainders of the fp32 master for bf16 weights. Its recipes
  // may also set optim.dtype: bf16 (bf16 moments, no master; the Nemotron-4 340B recipe does),
  // which the row does not say: searched like a blank knob (validation.cpp). A recipe that names
  // Megatron-Core's optimizer instead (optim.name: mcore_distributed_optim) keeps its fp32 state.
  const std::optional<int> nemo_version = find_int(framework, R"(nemo[^0-9]{0,24}(\d+)\.\d+)");
  const bool nemo_1x = has(framework, "launcher") ||
                       (nemo_version && (*nemo_version == 1 || (*nemo_version >= 20 && *nemo_version <= 24)));
  const bool mcore_optimizer = has(framework, "mcore_distributed_optim") || has(sharding, "mcore_distributed_optim");
  if (nemo && nemo_1x && !mcore_optimizer && p.distributed_optimizer && !p.fsdp &&
      (t.precision == Precision::bf16 || t.precision == Precision::fp8)) {
    t.optimizer_state = OptimizerState::remainders;
    blank.optimizer_state = true;
  }
}

}  // namespace parallax::sim
