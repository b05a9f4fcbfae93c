#include "validation/published_row.hpp"

#include <algorithm>
#include <regex>

#include "models/presets.hpp"
#include "models/toml_reader.hpp"
#include "sim/flops.hpp"
#include "validation/published_cells.hpp"
#include "validation/published_plan.hpp"

namespace parallax::sim {

namespace {

using namespace cells;  // the row's cell readers (sim/published_cells.hpp)

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

// The devices: the num_gpus column, or the product of the parallel degrees.
int gpus_of(const Row& row) {
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
  return gpus;
}

// A TFLOP/s or MFU the row publishes with the FLOP formula its source used.
struct PublishedRate {
  size_t first = std::string::npos, at96 = std::string::npos, at72 = std::string::npos;  // in tflops_formula
  std::optional<double> tflops, mfu;
  bool time_from_flops = false;  // the row's time is the one that rate and formula give
};

// The row's published time, throughput, rate, memory and timed layer into `out`.
PublishedRate read_measurements(const Row& row, int gpus, ValidationRow& out) {
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
  // time that formula gives, once the model is read (time_from_flops).
  const std::string formula = lowered(row, "tflops_formula");
  const size_t at96 = formula.find("megatron96");
  const size_t at72 =
      std::min({formula.find("korthikanti72"), formula.find("num_floating_point_operations"), formula.find("nemo")});
  const size_t at6n = formula.find("palm");
  const size_t first = std::min({at96, at72, at6n});
  const std::optional<double> tflops = measured("tflops_per_gpu_reported"), mfu = measured("mfu_pct_reported");
  PublishedRate rate;
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
  rate.first = first, rate.at96 = at96, rate.at72 = at72;
  rate.tflops = tflops, rate.mfu = mfu;
  rate.time_from_flops = from_flops;
  return rate;
}

// The architecture (its columns are all given: read_row checks), from the columns and the
// notes; `moe_text` is the row's text that may name experts.
void read_model(const Row& row, const std::string& arch, const std::string& moe_text, ModelConfig& m) {
  m.layers = integer(row, "layers");
  m.hidden = integer(row, "hidden");
  m.heads = integer(row, "heads");
  m.kv_heads = integer(row, "kv_heads", m.heads);
  m.ffn_hidden = integer(row, "ffn_hidden", 4 * m.hidden);
  m.seq_len = integer(row, "seq_len");
  m.vocab = integer(row, "vocab");
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
  const std::string name = lowered(row, "model");
  if (has(moe_text, "moe") || has(moe_text, "expert") || has(moe_text, "mixtral")) {
    m.experts = find_int(moe_text, R"((\d+)\s*(?:routed\s+)?experts?\b)")
                    .value_or(find_int(name, R"((\d+)\s*x\s*\d+(?:\.\d+)?\s*b\b)").value_or(0));
    if (m.moe()) {
      m.top_k = find_int(moe_text, R"(top[-_ ]?k?\s*[=:]?\s*(\d+))").value_or(2);
      m.moe_ffn_hidden = m.ffn_hidden;
    }
  }
}

// The time a published rate gives under its source's FLOP formula.
double time_from_flops(const Row& row, const Experiment& e, const PublishedRate& rate, int gpus) {
  const ModelConfig& m = e.model;
  const TrainingConfig& t = e.training;
  const size_t first = rate.first, at96 = rate.at96, at72 = rate.at72;
  const std::optional<double> tflops = rate.tflops, mfu = rate.mfu;
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
  return flops / (achieved * gpus);
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

  const int gpus = gpus_of(row);
  const PublishedRate rate = read_measurements(row, gpus, out);
  if (!number(row, "global_batch") && !out.published_layer) {
    out.skipped = "no global batch";
    return read;
  }
  if (!out.published_time_s && !rate.time_from_flops && !out.measured_memory_gib && !out.oom && !out.published_layer) {
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

  const std::string arch = lowered(row, "arch_notes");
  const Framework fw = framework_of(row);
  const std::string moe_text = arch + " " + lowered(row, "model") + " " + fw.name + " " + lowered(row, "notes");
  e.model.name = out.model;
  read_model(row, arch, moe_text, e.model);

  e.system = system_preset(*system);
  e.system.gpus = gpus;
  read_degrees(row, fw, moe_text, e, blank);
  const bool deepspeed = fw.deepspeed;
  split_layers(e, deepspeed, fw.embedding_named);
  read_training(row, e, blank);
  // The framework's habits and constants (DeepSpeed's per-pass host cost and its reduction's
  // share of the links: its profile), then the constants --set replaces.
  const FrameworkProfile profile = framework_profile(fw.profile, "framework profile");
  read_habits(row, fw, profile, arch, e, blank);
  for (const auto& o : overrides)
    if (o.system == "*" || o.system == *system || (deepspeed && o.system == "deepspeed"))
      set_calibration(e.system.calibration, o.key, o.value);
  e.name = out.model;
  out.framework = profile.family;
  if (rate.time_from_flops) out.published_time_s = time_from_flops(row, e, rate, gpus);
  if (blank.layout) {
    const auto given = [&](const char* key) {
      return number(row, key) ? std::optional<int>(integer(row, key)) : std::nullopt;
    };
    read.layouts = layouts_of(e, given("tp"), given("pp"), given("dp"), deepspeed, fw.embedding_named);
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
