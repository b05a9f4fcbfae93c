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
  // Megatron-LM's own data parallelism (--DDP-impl local, as SC21's scripts run it) all-reduces
  // the gradients in train_step after the last micro-batch's backward, like DeepSpeed.
  fw.local_ddp = has(f, "ddp impl=local") || has(f, "ddp-impl local");
  fw.embedding_named = has(f, "type:transformer|embedding");
  // The profile (models/presets/frameworks/) by framework and year: Megatron-LM before
  // Megatron-Core (PTD-P is SC21's name for it), Megatron-Core, NeMo on it (1.x: a row naming
  // its launcher, a 1.y version or a container of 24.xx or before), Megatron-DeepSpeed.
  const bool nemo = has(f, "nemo");
  const bool mcore = has(f, "megatron-core") || has(f, "mcore") || nemo;
  const bool megatron_lm = (has(f, "megatron") || has(f, "ptd-p")) && !mcore;
  const std::optional<int> year = find_int(f, R"((20\d\d))");
  const bool from_2022 = year && *year >= 2022, from_2023 = year && *year >= 2023;
  const std::optional<int> nemo_version = find_int(f, R"(nemo[^0-9]{0,24}(\d+)\.\d+)");
  const bool nemo_1x =
      has(f, "launcher") || (nemo_version && (*nemo_version == 1 || (*nemo_version >= 20 && *nemo_version <= 24)));
  fw.profile = fw.deepspeed  ? (from_2023   ? "megatron-deepspeed-2023"
                                : from_2022 ? "megatron-deepspeed-2022"
                                            : "megatron-deepspeed-2021")
               : nemo        ? (nemo_1x ? "nemo-1" : "nemo-2")
               : mcore       ? "megatron-core"
               : megatron_lm ? (from_2022 ? "megatron-lm-2022" : "megatron-lm-2020")
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

void read_habits(const Row& row, const Framework& fw, const FrameworkProfile& profile, const std::string& arch,
                 Experiment& e, BlankKnobs& blank) {
  const std::string& framework = fw.name;
  const std::string& sharding = fw.sharding;
  auto& p = e.parallel;
  auto& t = e.training;
  // The framework's profile (models/presets/frameworks/) sets how it runs the plan; the row's
  // sharding cell, read with the degrees, is the row's own word on sharding.
  const bool sharding_given = !sharding.empty();
  const bool profile_shards = profile.distributed_optimizer.value_or(false) && !sharding_given;
  apply_framework(profile, e, [&](const std::string&, const std::string& key) {
    return key == "fsdp" || (key == "distributed_optimizer" && sharding_given);
  });
  // What the row's own text adds to its framework's habits: Megatron-LM's local DDP reduces
  // after the last backward (SC21's scripts: --DDP-impl local), command-line flags it names, a
  // fused attention it names, Megatron-Core's optimizer named in place of NeMo 1.x's Apex one.
  if (fw.local_ddp) p.overlap_grad_reduce = false;
  if (has(framework, "--overlap-param-gather")) p.overlap_param_gather = true;
  if (has(framework, "--tp-comm-overlap") || has(framework, "tp_comm_overlap")) p.tp_comm_overlap = true;
  if (has(framework, "flash") || has(arch, "flash")) t.flash_attention = true;
  const bool mcore_optimizer = has(framework, "mcore_distributed_optim") || has(sharding, "mcore_distributed_optim");
  if (mcore_optimizer) t.optimizer_state = OptimizerState::fp32;
  // NeMo 1.x recipes may also set optim.dtype: bf16 (bf16 moments, no master; the Nemotron-4
  // 340B recipe does), which the row does not say: searched like a blank knob (validation.cpp).
  blank.optimizer_state = t.optimizer_state == OptimizerState::remainders;
  // A blank knob is searched over what the framework offers.
  using SP = FrameworkProfile::SequenceParallel;
  const bool offers_sequence_parallel =
      profile.sequence_parallel == SP::yes || (profile.sequence_parallel == SP::without_pipeline && p.pp == 1);
  blank.sequence_parallel =
      given(row, "seq_parallel").empty() && (p.tp > 1 || blank.layout) && offers_sequence_parallel;
  blank.whole_layer_recompute = !profile.selective_recompute;
  blank.distributed_optimizer =
      !sharding_given && !profile_shards && (p.dp > 1 || blank.layout) && profile.offers_distributed_optimizer;
}

void read_training(const Row& row, Experiment& e, BlankKnobs& blank) {
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
}

}  // namespace parallax::sim
