#include "validation/published_row.hpp"

#include <algorithm>
#include <regex>

#include "models/presets.hpp"
#include "models/toml_reader.hpp"
#include "sim/flops.hpp"
#include "validation/published_cells.hpp"

namespace parallax::sim {

namespace {

using namespace cells;  // the row's cell readers (sim/published_cells.hpp)

// Host time per pipeline pass of DeepSpeed's pipeline engine, and the share of the link's bus
// bandwidth its ZeRO stage 0-2 gradient reduction reaches across nodes, fitted on
// bloom_tr11_prequel_sweeps (scripts/fit_calibration.py sets them as deepspeed.KEY; the
// per-pass cost is held there at this value, docs/cost-model.md).
constexpr double kDeepSpeedPassOverheadUs = 17591;
constexpr double kDeepSpeedReduceEfficiency = 0.2328;

// A block recomputation of N layers (Megatron's block method) recomputes at most the plan's
// fullest chunk: N past it is all of the chunk.
void hold_block_to_chunk(Experiment& e) {
  auto& n = e.training.recompute_layers;
  if (n > 0) n = std::min(n, e.most_chunk_layers());
}

// How the layers are cut into pipeline stages, for the row's pp.
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

// Every tensor- and pipeline-parallel layout of the row's devices, for the degrees it leaves
// blank: tp within a node (where Megatron keeps it), pp dividing the layers (or the layers and
// the two ends, cut as split_layers does) unless the given degrees fix it, dp what is left
// unless given; each one a valid plan.
std::vector<Experiment> layouts_of(const Experiment& base, std::optional<int> tp, std::optional<int> pp,
                                   std::optional<int> dp, bool deepspeed, bool embedding_named) {
  const auto& m = base.model;
  const int gpus = base.system.gpus, cp = base.parallel.cp;
  std::vector<Experiment> out;
  if (gpus < 1 || cp < 1 || (tp && *tp < 1) || (pp && *pp < 1) || (dp && *dp < 1)) return out;
  for (int t = tp.value_or(1); t <= (tp ? *tp : std::min(gpus, base.system.gpus_per_node)); ++t) {
    const long long tc = static_cast<long long>(t) * cp;
    if (gpus % tc != 0) continue;
    std::vector<int> stages;  // pp: as given, or the divisors of what tp and cp leave, at most L
    if (pp) stages.push_back(*pp);
    for (int q = 1, rest = static_cast<int>(gpus / tc); !pp && q <= rest / q; ++q)
      if (rest % q == 0) stages.insert(stages.end(), {q, rest / q});
    for (int q : stages) {
      if (!pp && (q > m.layers || (!dp && m.layers % q != 0 && (m.layers + 2) % q != 0)))
        continue;  // dp given: q is forced
      if (gpus % (tc * q) != 0 || (dp && tc * q * *dp != gpus)) continue;
      Experiment e = base;
      e.parallel.tp = t;
      e.parallel.pp = q;
      e.parallel.dp = static_cast<int>(gpus / (tc * q));
      split_layers(e, deepspeed, embedding_named);
      hold_block_to_chunk(e);
      try {
        validate(e);
      } catch (const InputError&) {
        continue;
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

// The system file for a row's machine (the `gpu` column, lower-cased): one per machine, no
// per-row adjustment. An A100 without a memory size is the 80 GB part unless the row is from
// 2020, when only the 40 GB one existed. An A100 row whose provenance (`source` and
// `source_location`, lower-cased) is Jean Zay or BigScience's own runs ran on Jean Zay even
// where its gpu column does not say so.
std::optional<std::string> system_for(const std::string& gpu, const std::string& provenance) {
  const auto jean_zay = [](const std::string& s) {
    return has(s, "jean zay") || has(s, "jean-zay") || has(s, "jeanzay") || has(s, "idris");
  };
  // The system files are SXM machines with NVSwitch: a PCIe or NVL card (other clocks, memory
  // bandwidth and links), a Grace Hopper or Blackwell superchip, or a DGX-1's V100-SXM2 (16 GB,
  // hybrid cube mesh) is not guessed as one of them.
  static const std::regex other_machine(R"(pcie|\bnvl\b|g[hb]200|sxm2|\b16\s*gb)");
  if (std::regex_search(gpu, other_machine)) return std::nullopt;
  if (has(gpu, "h200")) return "dgx-h200";
  if (has(gpu, "h100")) return "dgx-h100";
  if (has(gpu, "v100")) return "dgx2-v100";
  if (jean_zay(gpu)) return "jean-zay-a100-80g";
  if (has(gpu, "a100")) {
    const bool names_other_machine = has(gpu, "40") || has(gpu, "selene") || has(gpu, "dgx");
    if (!names_other_machine && (jean_zay(provenance) || has(provenance, "bigscience"))) return "jean-zay-a100-80g";
    if (has(gpu, "80")) return "dgx-a100-80g";
    if (has(gpu, "40") || has(gpu, "2020")) return "dgx-a100-40g";
    return "dgx-a100-80g";
  }
  return std::nullopt;
}

PublishedRow read_row(const std::map<std::string, std::string>& row,
                      const std::vector<CalibrationOverride>& overrides) {
  PublishedRow read;
  ValidationRow& out = read.row;
  Experiment& e = read.experiment;
  BlankKnobs& blank = read.blank;
  out.row_id = text(row, "row_id");
  out.source = text(row, "source_id");
  out.model = text(row, "model");

  // The devices: the num_gpus column, or the product of the parallel degrees.
  int gpus = integer(row, "num_gpus");
  if (gpus < 0 || (gpus == 0 && number(row, "num_gpus")))
    throw InputError("column num_gpus = \"" + text(row, "num_gpus") + "\" is not a positive count");
  if (gpus <= 0 && number(row, "dp")) {
    const long long product = static_cast<long long>(integer(row, "tp", 1)) * integer(row, "pp", 1) *
                              integer(row, "cp", 1) * integer(row, "dp");
    if (product > kLargestCell)
      throw InputError("the GPUs, tp*pp*cp*dp = " + std::to_string(product) + ", are out of range (at most 2^24)");
    gpus = static_cast<int>(product);
  }
  // A run that did not fit has no time: whatever its time cells hold (0, x, a dash) is not read.
  out.oom = out_of_memory(lowered(row, "mem_measured_GB"));
  const auto measured = [&](const char* key) { return out.oom ? std::nullopt : measure(row, key); };
  if (auto t = measured("iteration_time_s_reported")) {
    out.published_time_s = *t;
    out.time_measured = true;
  } else if (auto d = measured("iteration_time_s_derived")) {
    out.published_time_s = *d;
  } else if (const auto batch = number(row, "global_batch"), seq = number(row, "seq_len"); batch && seq) {
    // Derived here from a published throughput, as the table derives its own column.
    const double tokens = *batch * *seq;
    if (auto per_gpu = measured("tokens_per_s_per_gpu_reported"); per_gpu && gpus > 0)
      out.published_time_s = tokens / (*per_gpu * gpus);
    else if (auto total = measured("tokens_per_s_reported"))
      out.published_time_s = tokens / *total;
  }
  // Neither a time nor a throughput, but a TFLOP/s or MFU and the source's FLOP formula: the
  // time that formula gives, once the model is read (below).
  const std::string formula = lowered(row, "tflops_formula");
  const size_t at96 = formula.find("megatron96");
  const size_t at72 =
      std::min({formula.find("korthikanti72"), formula.find("num_floating_point_operations"), formula.find("nemo")});
  const size_t at6n = formula.find("palm");
  const size_t first = std::min({at96, at72, at6n});
  const std::optional<double> tflops = measured("tflops_per_gpu_reported"), mfu = measured("mfu_pct_reported");
  const bool from_flops = !out.published_time_s && gpus > 0 && first != std::string::npos && (tflops || mfu);
  out.measured_memory_gib = measured("mem_measured_GB");
  out.tflops_reported = tflops.value_or(0);

  // A layer timed on its own ("per-layer forward 7.7 ms, backward 11.9 ms" in other_measured):
  // checked against the model's layer cost even without a global batch.
  static const std::regex layer_times(R"(per-layer forward ([^,]*?) ms, backward ([^,]*?) ms)");
  const std::string measured_other = lowered(row, "other_measured");
  if (std::smatch lm; std::regex_search(measured_other, lm, layer_times)) {
    const auto milliseconds = [](const std::string& cell) {
      static const std::regex decimal(R"(\d{1,9}(\.\d+)?|\.\d+)");
      const double ms = std::regex_match(cell, decimal) ? std::stod(cell) : 0;
      if (ms <= 0)
        throw InputError("column other_measured: a per-layer time of \"" + cell + " ms\" is not a positive number");
      return ms;
    };
    out.published_layer = LayerTimes{milliseconds(lm[1].str()), milliseconds(lm[2].str())};
  }
  if (!number(row, "global_batch") && !out.published_layer) {
    out.skipped = "no global batch";
    return read;
  }
  if (!out.published_time_s && !from_flops && !out.measured_memory_gib && !out.oom && !out.published_layer) {
    out.skipped = "no published time or memory";
    return read;
  }
  const auto system = system_for(lowered(row, "gpu"), lowered(row, "source") + " " + lowered(row, "source_location"));
  if (!system) {
    out.skipped = "no system file for GPU \"" + text(row, "gpu") + "\"";
    return read;
  }

  // The architecture has no blank knob to search: a row without one of these is skipped.
  for (const char* key : {"layers", "hidden", "heads", "seq_len", "vocab"})
    if (!number(row, key)) {
      out.skipped = std::string("no ") + key + " (the column is blank or not a number)";
      return read;
    }

  ModelConfig& m = e.model;
  m.name = out.model;
  m.layers = integer(row, "layers");
  m.hidden = integer(row, "hidden");
  m.heads = integer(row, "heads");
  m.kv_heads = integer(row, "kv_heads", m.heads);
  m.ffn_hidden = integer(row, "ffn_hidden", 4 * m.hidden);
  m.seq_len = integer(row, "seq_len");
  m.vocab = integer(row, "vocab");
  const std::string arch = lowered(row, "arch_notes");
  m.tied_embeddings = !has(arch, "untied");
  // A gated GeLU (GeGLU: Grok-1, Gemma) has SwiGLU's three matrices and costs what it does.
  if (has(arch, "swiglu") || has(arch, "geglu") || has(arch, "gated gelu")) m.activation = Activation::swiglu;
  if (has(arch, "rmsnorm")) m.norm = Norm::rmsnorm;
  if (has(arch, "alibi"))
    m.position = Position::alibi;
  else if (has(arch, "rope") || has(arch, "rotary"))
    m.position = Position::rope;

  // Mixture of experts, from the notes ("8 experts", "top-2") or a name like "Mixtral 8x7B";
  // the ffn_hidden column is then each expert's width. Expert parallelism from an `ep` column
  // or "EP 8" in the notes; searched when not given.
  const std::string name = lowered(row, "model"), notes = lowered(row, "notes");
  const std::string framework = lowered(row, "framework"), sharding = lowered(row, "optimizer_sharding");
  const std::string moe_text = arch + " " + name + " " + framework + " " + notes;
  if (has(moe_text, "moe") || has(moe_text, "expert") || has(moe_text, "mixtral")) {
    m.experts = find_int(moe_text, R"((\d+)\s*(?:routed\s+)?experts?\b)")
                    .value_or(find_int(name, R"((\d+)\s*x\s*\d+(?:\.\d+)?\s*b\b)").value_or(0));
    if (m.moe()) {
      m.top_k = find_int(moe_text, R"(top[-_ ]?k?\s*[=:]?\s*(\d+))").value_or(2);
      m.moe_ffn_hidden = m.ffn_hidden;
    }
  }

  e.system = system_preset(*system);
  // DeepSpeed's pipeline engine interprets its schedule in Python, one instruction at a time:
  // a host cost per pass and micro-batch that Megatron's schedules do not have; and its ZeRO
  // gradient reduction (bucketed, after the last micro-batch) moves far less across nodes than
  // NCCL's collectives do on the same links, while its pipeline sends run at the links' rate.
  // Both belong to the framework, not the machine (fitted on the BigScience rows:
  // docs/cost-model.md). A row whose sharding column names DeepSpeed ("ZeRO-1 (DeepSpeed)")
  // ran under it too.
  const bool deepspeed = has(framework, "deepspeed") || has(sharding, "deepspeed");
  if (deepspeed) {
    e.system.calibration.pass_overhead_us = kDeepSpeedPassOverheadUs;
    e.system.calibration.dp_reduce_efficiency = kDeepSpeedReduceEfficiency;
  }
  for (const auto& o : overrides)
    if (o.system == "*" || o.system == *system || (deepspeed && o.system == "deepspeed"))
      set_calibration(e.system.calibration, o.key, o.value);
  e.system.gpus = gpus;
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
  const std::string sp = lowered(row, "seq_parallel");
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

  // How the framework runs the plan: gradient reduction overlapped with the backward in
  // Megatron (torch DDP, Megatron-Core --overlap-grad-reduce), not in DeepSpeed's pipeline
  // engine, which reduces after the last micro-batch; fused (flash) attention and TP overlap
  // in Megatron-Core. NeMo runs Megatron-Core with its distributed optimizer, whose parameter
  // all-gather it overlaps (its default optimizer, distributed_fused_adam).
  const bool nemo = has(framework, "nemo");
  const bool mcore = has(framework, "megatron-core") || has(framework, "mcore") || nemo;
  // Megatron-LM's own data parallelism (--DDP-impl local, as SC21's scripts run it) all-reduces
  // the gradients in train_step after the last micro-batch's backward, like DeepSpeed.
  const bool local_ddp = has(framework, "ddp impl=local") || has(framework, "ddp-impl local");
  p.overlap_grad_reduce = !deepspeed && !local_ddp;
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
  // Hopper or later (a device with FP8 tensor cores). Megatron-LM and Megatron-DeepSpeed of
  // 2020-2022 on older GPUs materialise the s x s scores. PTD-P is SC21's name for Megatron-LM.
  const bool legacy = deepspeed || ((has(framework, "megatron") || has(framework, "ptd-p")) && !mcore);
  e.training.flash_attention =
      mcore || has(framework, "flash") || has(arch, "flash") || !legacy || e.system.device.peak_tflops_fp8 > 0;
  // Megatron-LM's column-parallel linears overlap their backward collectives with the GEMMs
  // from late 2021 on (--async-tensor-model-parallel-allreduce, on by default); SC21's and
  // 2020's Megatron-LM and the Megatron-DeepSpeed forks all-reduce synchronously
  // (copy_to_tensor_model_parallel_region). A legacy row counts as async when it names 2022 on.
  const std::optional<int> year = find_int(framework, R"((20\d\d))");
  const bool from_2022 = year && *year >= 2022;
  p.async_tp_allreduce = !legacy || from_2022;
  // DeepSpeed's ZeRO-3 gathered tensor by tensor, each collective blocking, until its 2022
  // rework (coalesced, prefetched gathers); a DeepSpeed row counts as the rework when it names 2022 on.
  p.fsdp_per_tensor = p.fsdp && deepspeed && !from_2022;
  // A blank knob is searched over what the framework could run. Sequence parallelism and
  // selective and block recomputation came with Megatron-LM 3.0 (2022); the Megatron-DeepSpeed
  // forks took them with their 2023 rebase (the BigScience fork never did), and DeepSpeed's
  // pipeline engine does not run sequence parallelism (deepspeedai/Megatron-DeepSpeed#170).
  const bool from_2023 = year && *year >= 2023;
  const bool offers_sequence_parallel = !legacy || (deepspeed ? from_2023 && p.pp == 1 : from_2022);
  blank.sequence_parallel = sp.empty() && (p.tp > 1 || blank.layout) && offers_sequence_parallel;
  blank.whole_layer_recompute = legacy && !(deepspeed ? from_2023 : from_2022);
  // A blank optimizer_sharding (NeMo's default is read above): sharding the optimizer state over
  // DP is searched where the framework offers it, DeepSpeed's ZeRO-1 from the start and
  // Megatron-LM's --use-distributed-optimizer from 2022 (Megatron-LM 3.0).
  blank.distributed_optimizer =
      sharding.empty() && !nemo && (p.dp > 1 || blank.layout) && (!legacy || deepspeed || from_2022);
  const bool embedding_named = has(framework, "type:transformer|embedding");
  split_layers(e, deepspeed, embedding_named);
  auto& t = e.training;
  // A layer timed alone runs one micro-batch per replica.
  const long long replicas_batch = static_cast<long long>(integer(row, "micro_batch", 1)) * p.dp;
  t.global_batch = integer(row, "global_batch", replicas_batch > kLargestCell ? 0 : static_cast<int>(replicas_batch));
  blank.micro_batch = !number(row, "micro_batch");
  t.micro_batch = integer(row, "micro_batch", 1);
  const std::string rec = lowered(row, "recompute");
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
  e.name = out.model;
  if (from_flops) {
    // experiments/validation/README.md sec. 2: megatron96 is SC21's eq. (3); korthikanti72,
    // Megatron-Core's num_floating_point_operations and NeMo 24.07's count are the model FLOPs
    // (model_flops); PaLM's is 6N + 12 L h s a token, N the params_B column or the model's own
    // count. An MFU is of those FLOPs over the peak the row divides by (its own, else the device's).
    const std::optional<double> params_b = measure(row, "params_B");
    const double n = params_b ? *params_b * 1e9 : m.parameters();
    const double flops = first == at96   ? megatron96_flops(e)
                         : first == at72 ? model_flops(e)
                                         : static_cast<double>(t.global_batch) * m.seq_len *
                                               (6 * n + 12.0 * m.layers * m.hidden * m.seq_len);
    const auto peak = measure(row, "peak_tflops_per_gpu");
    const double achieved =
        tflops ? *tflops * 1e12 : *mfu / 100 * (peak ? *peak * 1e12 : peak_flops(e.system.device, t.precision));
    out.published_time_s = flops / (achieved * gpus);
  }
  if (blank.layout) {
    const auto given = [&](const char* key) {
      return number(row, key) ? std::optional<int>(integer(row, key)) : std::nullopt;
    };
    read.layouts = layouts_of(e, given("tp"), given("pp"), given("dp"), deepspeed, embedding_named);
    if (read.layouts.empty()) {
      out.skipped = "no layout of the " + std::to_string(gpus) +
                    " GPUs is a valid plan (tp within a node, pp dividing the layers, dp the global batch)";
      return read;
    }
    e = read.layouts.front();
    return read;
  }
  try {
    validate(e);
  } catch (const InputError& err) {  // an inconsistent plan skips the row (read_published_row)
    throw InputError(std::string("inconsistent row: ") + err.what());
  }
  return read;
}

}  // namespace

PublishedRow read_published_row(const std::map<std::string, std::string>& row,
                                const std::vector<CalibrationOverride>& overrides) {
  try {
    return read_row(row, overrides);
  } catch (const InputError& err) {  // a cell it cannot read, or a plan that validate() refuses
    PublishedRow read;
    read.row = unchecked_row(row, err.what());
    return read;
  }
}

ValidationRow unchecked_row(const std::map<std::string, std::string>& row, const std::string& why) {
  ValidationRow out;
  out.row_id = text(row, "row_id");
  out.source = text(row, "source_id");
  out.model = text(row, "model");
  out.skipped = why;
  return out;
}

}  // namespace parallax::sim
