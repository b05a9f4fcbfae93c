#include "models/toml_reader.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "models/framework_profile.hpp"
#include "models/presets.hpp"
#include "models/toml_section.hpp"

namespace parallax {
namespace {

// A product of configuration integers (`what` names it), refused once it leaves int's range.
int product_of(std::initializer_list<long long> factors, const std::string& what) {
  long long p = 1;
  for (long long f : factors) {
    p *= f;
    if (!fits_int(p)) throw InputError(what + " is out of range");
  }
  return static_cast<int>(p);
}

void read_model_fields(Section& s, ModelConfig& m) {
  set_if(m.name, s.string("name"));
  s.string("description");
  set_if(m.layers, s.int32("layers"));
  set_if(m.hidden, s.int32("hidden"));
  set_if(m.heads, s.int32("heads"));
  set_if(m.kv_heads, s.int32("kv_heads"));
  set_if(m.ffn_hidden, s.int32("ffn_hidden"));
  set_if(m.seq_len, s.int32("seq_len"));
  set_if(m.vocab, s.int32("vocab"));
  set_if(m.norm, s.choice<Norm>("norm", {{"layernorm", Norm::layernorm}, {"rmsnorm", Norm::rmsnorm}}));
  set_if(m.activation,
         s.choice<Activation>("activation", {{"gelu", Activation::gelu}, {"swiglu", Activation::swiglu}}));
  set_if(m.position,
         s.choice<Position>("position",
                            {{"learned", Position::learned}, {"rope", Position::rope}, {"alibi", Position::alibi}}));
  set_if(m.tied_embeddings, s.boolean("tied_embeddings"));
  set_if(m.dropout, s.number("dropout"));
  set_if(m.experts, s.int32("experts"));
  set_if(m.top_k, s.int32("top_k"));
  set_if(m.moe_ffn_hidden, s.int32("moe_ffn_hidden"));
}

// An MoE model routes each token to 2 experts of ffn_hidden unless told otherwise.
void fill_moe_defaults(ModelConfig& m) {
  if (!m.moe()) return;
  if (m.top_k == 0) m.top_k = 2;
  if (m.moe_ffn_hidden == 0) m.moe_ffn_hidden = m.ffn_hidden;
}

ModelConfig read_model(Section& s) {
  ModelConfig m;
  if (auto preset = s.string("preset")) m = model_preset(*preset);
  const ModelConfig base = m;
  read_model_fields(s, m);
  // kv_heads and ffn_hidden follow heads and hidden unless given (here, or by an unchanged preset).
  if (!s.node("kv_heads") && (m.kv_heads == 0 || m.heads != base.heads)) m.kv_heads = m.heads;
  if (!s.node("ffn_hidden") && (m.ffn_hidden == 0 || m.hidden != base.hidden))
    m.ffn_hidden = product_of({4, m.hidden}, "model.ffn_hidden = 4*model.hidden (its default)");
  if (!s.node("moe_ffn_hidden") && m.ffn_hidden != base.ffn_hidden) m.moe_ffn_hidden = 0;
  fill_moe_defaults(m);
  s.finish();
  return m;
}

void read_calibration(Section& s, Calibration& c) {
  set_if(c.gemm_efficiency, s.number("gemm_efficiency"));
  set_if(c.gemm_k_half, s.number("gemm_k_half"));
  set_if(c.gemm_tile_m, s.number("gemm_tile_m"));
  set_if(c.gemm_tile_n, s.number("gemm_tile_n"));
  set_if(c.misaligned_gemm_efficiency, s.number("misaligned_gemm_efficiency"));
  set_if(c.memory_efficiency, s.number("memory_efficiency"));
  set_if(c.kernel_launch_us, s.number("kernel_launch_us"));
  set_if(c.flash_attention_efficiency, s.number("flash_attention_efficiency"));
  set_if(c.busbw_efficiency_intra, s.number("busbw_efficiency_intra"));
  set_if(c.busbw_efficiency_inter, s.number("busbw_efficiency_inter"));
  set_if(c.p2p_efficiency_inter, s.number("p2p_efficiency_inter"));
  set_if(c.memory_overhead_gib, s.number("memory_overhead_gib"));
  set_if(c.pass_overhead_us, s.number("pass_overhead_us"));
  set_if(c.dp_reduce_efficiency, s.number("dp_reduce_efficiency"));
  set_if(c.thread_efficiency, s.number("thread_efficiency"));
  set_if(c.activation_memory_factor, s.number("activation_memory_factor"));
}

void read_calibration_table(Section& parent, Calibration& c) {
  if (const toml::table* t = parent.table("calibration")) {
    Section cs(t, parent.key("calibration"));
    read_calibration(cs, c);
    cs.finish();
  }
}

// A quantity spelled with its unit in the key (contract v2: memory_GiB, bandwidth_GBps) or with
// its v1 key (memory_gib, bandwidth_gbps: GB/s too, which the lower case hides).
std::optional<double> number_with_unit(Section& s, const std::string& unit_key, const std::string& v1_key) {
  const auto with_unit = s.number(unit_key), v1 = s.number(v1_key);
  if (with_unit && v1) throw InputError(s.key(unit_key) + " and " + s.key(v1_key) + " are one quantity: give one");
  return with_unit ? with_unit : v1;
}

void read_device_fields(Section& s, DeviceSpec& d, Calibration& c) {
  set_if(d.name, s.string("name"));
  s.string("description");
  set_if(d.sms, s.int32("sms"));
  set_if(d.peak_tflops_fp32, s.number("peak_tflops_fp32"));
  set_if(d.peak_tflops_fp16, s.number("peak_tflops_fp16"));
  set_if(d.peak_tflops_bf16, s.number("peak_tflops_bf16"));
  set_if(d.peak_tflops_fp8, s.number("peak_tflops_fp8"));
  set_if(d.peak_tflops_vector_fp16, s.number("peak_tflops_vector_fp16"));
  set_if(d.memory_gib, number_with_unit(s, "memory_GiB", "memory_gib"));
  set_if(d.memory_gbps, number_with_unit(s, "memory_GBps", "memory_gbps"));
  read_calibration_table(s, c);
}

void read_device_preset(const std::string& name, const std::string& key, DeviceSpec& d, Calibration& c) {
  const toml::table preset = parse_toml(preset_text(PresetKind::device, name, key), name + ".toml");
  Section ps(&preset, "device preset " + name);
  read_device_fields(ps, d, c);
  ps.finish();
}

// `device = "preset-name"`, or a table of fields with an optional `preset` under them.
void read_device(Section& parent, DeviceSpec& d, Calibration& c) {
  const toml::node* n = parent.node("device");
  if (!n) return;
  if (n->is_string()) return read_device_preset(n->as_string()->get(), parent.key("device"), d, c);
  if (!n->is_table()) throw InputError(parent.key("device") + " must be a preset name or a table");
  Section s(n->as_table(), parent.key("device"));
  if (auto preset = s.string("preset")) read_device_preset(*preset, s.key("preset"), d, c);
  read_device_fields(s, d, c);
  s.finish();
}

void read_link(Section& parent, const char* name, LinkSpec& link) {
  if (const toml::table* t = parent.table(name)) {
    Section s(t, parent.key(name));
    set_if(link.bandwidth_gbps, number_with_unit(s, "bandwidth_GBps", "bandwidth_gbps"));
    set_if(link.latency_us, s.number("latency_us"));
    s.string("source");
    s.finish();
  }
}

void read_system_fields(Section& s, SystemConfig& sys) {
  set_if(sys.name, s.string("name"));
  s.string("description");
  set_if(sys.gpus_per_node, s.int32("gpus_per_node"));
  read_device(s, sys.device, sys.calibration);
  read_link(s, "intra_node", sys.intra_node);
  read_link(s, "inter_node", sys.inter_node);
  read_calibration_table(s, sys.calibration);
  set_if(sys.memory_headroom_fraction, s.number("memory_headroom_fraction"));
  set_if(sys.memory_headroom_gib, s.number("memory_headroom_GiB"));
}

// `system.file`: a path relative to the experiment file's directory (`base`).
SystemConfig read_system(Section& s, int& nodes, int& gpus, const std::filesystem::path& base) {
  SystemConfig sys;
  const auto preset = s.string("preset"), file = s.string("file");
  if (preset && file) throw InputError("system.preset and system.file are both set: give one of them");
  if (preset) sys = system_preset(*preset);
  if (file) sys = system_file((base / *file).string());
  read_system_fields(s, sys);
  auto n = s.int32("nodes");
  auto g = s.int32("gpus");
  if (n && g) throw InputError("system.nodes and system.gpus are both set: give one of them");
  nodes = n.value_or(0);
  gpus = g.value_or(0);
  if (n && *n <= 0) throw InputError("system.nodes = " + std::to_string(*n) + " must be a positive integer");
  if (g && *g <= 0) throw InputError("system.gpus = " + std::to_string(*g) + " must be a positive integer");
  s.finish();
  return sys;
}

ParallelConfig read_parallel(Section& s, bool& dp_given, bool& schedule_given) {
  ParallelConfig p;
  set_if(p.tp, s.int32("tp"));
  set_if(p.pp, s.int32("pp"));
  auto dp = s.int32("dp");
  dp_given = dp.has_value();
  set_if(p.dp, dp);
  set_if(p.vpp, s.int32("vpp"));
  set_if(p.cp, s.int32("cp"));
  set_if(p.ep, s.int32("ep"));
  auto sched = s.choice<Schedule>(
      "schedule",
      {{"gpipe", Schedule::gpipe}, {"1f1b", Schedule::one_f_one_b}, {"interleaved-1f1b", Schedule::interleaved}});
  schedule_given = sched.has_value();
  set_if(p.schedule, sched);
  set_if(p.sequence_parallel, s.boolean("sequence_parallel"));
  set_if(p.distributed_optimizer, s.boolean("distributed_optimizer"));
  set_if(p.fsdp, s.boolean("fsdp"));
  set_if(p.fsdp_per_tensor, s.boolean("fsdp_per_tensor"));
  set_if(p.shard_gradients, s.boolean("shard_gradients"));
  set_if(p.reshard_after_forward, s.boolean("reshard_after_forward"));
  // DeepSpeed's name for the three sharding flags: stage 1 the optimizer state, 2 and the
  // gradients, 3 and the weights.
  if (const auto stage = s.int32("zero_stage")) {
    if (*stage < 0 || *stage > 3)
      throw InputError("parallel.zero_stage = " + std::to_string(*stage) + " must be 0, 1, 2 or 3");
    for (const char* flag : {"distributed_optimizer", "shard_gradients", "fsdp"})
      if (s.boolean(flag))
        throw InputError(std::string("parallel.zero_stage and parallel.") + flag + " are both set: give one of them");
    p.set_zero_stage(*stage);
  }
  set_if(p.overlap_grad_reduce, s.boolean("overlap_grad_reduce"));
  set_if(p.overlap_param_gather, s.boolean("overlap_param_gather"));
  set_if(p.tp_comm_overlap, s.boolean("tp_comm_overlap"));
  set_if(p.async_tp_allreduce, s.boolean("async_tp_allreduce"));
  set_if(p.pipeline_scatter_gather, s.boolean("pipeline_scatter_gather"));
  set_if(p.overlap_p2p_comm, s.boolean("overlap_p2p_comm"));
  if (auto layers = s.list<long long>("stage_layers")) {
    for (long long l : *layers) {
      if (l < 1 || l > 1000000) throw InputError("parallel.stage_layers: every stage needs at least one layer");
      p.stage_layers.push_back(static_cast<int>(l));
    }
  }
  s.finish();
  return p;
}

TrainingConfig read_training(Section& s) {
  TrainingConfig t;
  if (auto batch = s.int32("global_batch")) {  // left out: micro_batch * dp (below); 0 is not "left out"
    if (*batch <= 0)
      throw InputError("training.global_batch = " + std::to_string(*batch) + " must be a positive integer");
    t.global_batch = *batch;
  }
  set_if(t.micro_batch, s.int32("micro_batch"));
  set_if(t.recompute_layers, s.int32("recompute_layers"));
  set_if(t.recompute_method, s.choice<RecomputeMethod>("recompute_method", {{"uniform", RecomputeMethod::uniform},
                                                                            {"block", RecomputeMethod::block}}));
  set_if(t.recompute,
         s.choice<Recompute>(
             "recompute", {{"none", Recompute::none}, {"selective", Recompute::selective}, {"full", Recompute::full}}));
  set_if(t.precision, s.choice<Precision>("precision", {{"fp32", Precision::fp32},
                                                        {"fp16", Precision::fp16},
                                                        {"bf16", Precision::bf16},
                                                        {"fp8", Precision::fp8}}));
  set_if(t.flash_attention, s.boolean("flash_attention"));
  set_if(t.optimizer_state, s.choice<OptimizerState>("optimizer_state", {{"fp32", OptimizerState::fp32},
                                                                         {"remainders", OptimizerState::remainders},
                                                                         {"bf16", OptimizerState::bf16}}));
  set_if(t.gradient_accumulation_fusion, s.boolean("gradient_accumulation_fusion"));
  if (auto v = s.boolean("grad_reduce_in_fp32")) t.grad_reduce_in_fp32 = *v;
  set_if(t.backend, s.choice<std::string>("backend", {{"cpu", std::string("cpu")}, {"cuda", std::string("cuda")}}));
  set_if(t.framework, s.string("framework"));
  set_if(t.steps, s.int32("steps"));
  set_if(t.lr, s.number("lr"));
  set_if(t.min_lr, s.number("min_lr"));
  set_if(t.warmup_steps, s.int32("warmup_steps"));
  set_if(t.lr_schedule, s.choice<std::string>("lr_schedule", {{"cosine", std::string("cosine")},
                                                              {"linear", std::string("linear")},
                                                              {"constant", std::string("constant")}}));
  set_if(t.weight_decay, s.number("weight_decay"));
  set_if(t.layerwise_lr_decay, s.number("layerwise_lr_decay"));
  set_if(t.initial_loss_scale, s.number("initial_loss_scale"));
  set_if(t.min_loss_scale, s.number("min_loss_scale"));
  set_if(t.loss_scale_window, s.int32("loss_scale_window"));
  set_if(t.hysteresis, s.int32("hysteresis"));
  set_if(t.adam_beta1, s.number("adam_beta1"));
  set_if(t.adam_beta2, s.number("adam_beta2"));
  set_if(t.adam_eps, s.number("adam_eps"));
  set_if(t.grad_clip, s.number("grad_clip"));
  if (auto seed = s.integer("seed")) {
    if (*seed < 0) throw InputError("training.seed must be a non-negative integer");
    t.seed = static_cast<std::uint64_t>(*seed);
  }
  set_if(t.data, s.string("data"));
  set_if(t.init_from, s.string("init_from"));
  set_if(t.log_every, s.int32("log_every"));
  set_if(t.checkpoint_every, s.int32("checkpoint_every"));
  set_if(t.checkpoint_dir, s.string("checkpoint_dir"));
  set_if(t.resume_from, s.string("resume_from"));
  s.finish();
  return t;
}

// `section.key=value`: the value is read as a TOML value, or as a bare string if it is not one.
void apply_override(toml::table& root, const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("--set \"" + arg + "\" must have the form section.key=value");
  const std::string path = arg.substr(0, eq);
  const std::string value = arg.substr(eq + 1);
  check_key_depth(path, "--set " + path);
  // One value on one line: a line break would let the rest of the argument add keys or tables.
  if (value.find_first_of("\r\n") != std::string::npos)
    throw InputError("--set " + path + ": the value holds a line break (give one value)");
  toml::table parsed;
  // Unquoted non-ASCII text can only be a string; toml++ 3.3 reaches an unreachable point
  // classifying it (found by the fuzzer under the sanitizer), so it is not parsed.
  const bool ascii =
      std::all_of(value.begin(), value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  const bool quoted = !value.empty() && (value.front() == '"' || value.front() == '\'');
  try {
    parsed = ascii || quoted ? toml::parse("v = " + value) : toml::table{{"v", value}};
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};
  }
  toml::table* target = &root;
  std::string rest = path;
  for (auto dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
    const std::string part = rest.substr(0, dot);
    rest = rest.substr(dot + 1);
    toml::node* n = target->get(part);
    if (!n) {
      target->insert_or_assign(part, toml::table{});
      n = target->get(part);
    }
    if (!n->is_table()) throw InputError("--set " + path + ": " + part + " is not a table");
    target = n->as_table();
  }
  if (rest.empty()) throw InputError("--set \"" + arg + "\" names no key");
  target->insert_or_assign(rest, *parsed.get("v"));
}

}  // namespace

ModelConfig model_preset(const std::string& name) {
  const toml::table t = parse_toml(preset_text(PresetKind::model, name, "model.preset"), name + ".toml");
  Section s(&t, "model preset " + name);
  ModelConfig m;
  m.name = name;
  read_model_fields(s, m);
  s.finish();
  if (m.kv_heads == 0) m.kv_heads = m.heads;
  if (m.ffn_hidden == 0) m.ffn_hidden = 4 * m.hidden;
  fill_moe_defaults(m);
  return m;
}

SystemConfig system_preset(const std::string& name) {
  const toml::table t = parse_toml(preset_text(PresetKind::system, name, "system.preset"), name + ".toml");
  Section s(&t, "system preset " + name);
  SystemConfig sys;
  sys.name = name;
  read_system_fields(s, sys);
  s.finish();
  sys.gpus = sys.gpus_per_node;
  return sys;
}

void set_calibration(Calibration& c, const std::string& key, double value) {
  const toml::table t{{key, value}};
  Section s(&t, "calibration");
  read_calibration(s, c);
  s.finish();
}

// A path given with --set stays relative to the working directory, as any command-line argument.
void resolve_training_paths(toml::table& root, const std::filesystem::path& base) {
  toml::table* training = root["training"].as_table();
  if (!training || base.empty()) return;
  for (const char* key : {"data", "init_from", "checkpoint_dir", "resume_from"}) {
    const toml::node* n = training->get(key);
    if (!n || !n->is_string()) continue;
    const std::string value = n->as_string()->get();
    if (value.empty() || std::filesystem::path(value).is_absolute() ||
        (std::string(key) == "data" && value == "synthetic"))
      continue;
    training->insert_or_assign(key, (base / value).lexically_normal().string());
  }
}

toml::table parse_with_overrides(const std::string& text, const std::string& source,
                                 const std::vector<std::string>& overrides) {
  toml::table root = parse_toml(text, source);
  resolve_training_paths(root, std::filesystem::path(source).parent_path());
  for (const auto& o : overrides) apply_override(root, o);
  return root;
}

// Only a regular file of at most 16 MiB is read: a FIFO would hang the reader, /dev/zero would
// never end, and no experiment or system file comes near that size.
std::string read_text_file(const std::string& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(path + " is a directory, not " + what);
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) throw InputError(path + " is not a regular file");
  constexpr std::uintmax_t most = 16u << 20;
  if (const auto size = fs::file_size(path, ec); !ec && size > most)
    throw InputError(path + " is " + std::to_string(size) + " bytes: more than the 16 MiB " + what + " may hold");
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open " + what);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

SystemConfig system_file(const std::string& path) {
  const toml::table t = parse_toml(read_text_file(path, "a system file"), path);
  Section s(&t, "system file " + path);
  SystemConfig sys;
  sys.name = std::filesystem::path(path).stem().string();
  read_system_fields(s, sys);
  s.finish();
  sys.gpus = sys.gpus_per_node;
  return sys;
}

Experiment load_experiment_text(const std::string& text, const std::string& source,
                                const std::vector<std::string>& overrides, bool check_plan) {
  toml::table root = parse_with_overrides(text, source, overrides);

  Section top(&root, "");
  Experiment e;
  set_if(e.name, top.string("name"));
  if (!root.get("model")) throw InputError(source + ": no [model] section (give model.preset or the model's fields)");
  Section model(top.table("model"), "model");
  e.model = read_model(model);
  int nodes = 0, gpus = 0;
  Section system(top.table("system"), "system");
  e.system = read_system(system, nodes, gpus, std::filesystem::path(source).parent_path());
  bool dp_given = false, schedule_given = false;
  Section parallel(top.table("parallel"), "parallel");
  e.parallel = read_parallel(parallel, dp_given, schedule_given);
  Section training(top.table("training"), "training");
  e.training = read_training(training);
  // The framework's habits, where the file does not set the knob itself (fused attention among
  // them: every framework runs it on Hopper and later, Megatron-Core and NeMo everywhere).
  apply_framework(framework_profile(e.training.framework), e,
                  [&root](const std::string& section, const std::string& key) {
                    const toml::table* t = root.at_path(section).as_table();
                    return t && t->contains(key);
                  });
  if (!training.node("backend")) e.training.backend = e.system.device.name.rfind("cpu", 0) == 0 ? "cpu" : "cuda";
  top.table("sweep");  // read by `parallax sweep`
  top.table("study");  // read by `parallax study`
  top.finish();

  // Devices in the job: nodes, gpus, or tp*cp*pp*dp; dp from the devices when omitted.
  const auto& p = e.parallel;
  if (nodes > 0) gpus = product_of({nodes, e.system.gpus_per_node}, "system.nodes*system.gpus_per_node");
  const int tp_pp = product_of({p.tp, p.cp, p.pp}, "parallel.tp*parallel.cp*parallel.pp");
  if (gpus == 0) gpus = dp_given ? product_of({tp_pp, p.dp}, "parallel.tp*cp*pp*dp") : (tp_pp > 0 ? tp_pp : 1);
  e.system.gpus = gpus;
  // When tp*pp does not divide the devices, validate() names the mismatch (after the checks
  // on tp and pp themselves).
  if (!dp_given && tp_pp > 0) e.parallel.dp = std::max(1, gpus / tp_pp);
  if (!schedule_given && e.parallel.vpp > 1) e.parallel.schedule = Schedule::interleaved;
  if (e.training.global_batch == 0)
    e.training.global_batch = product_of({e.training.micro_batch, p.dp}, "training.micro_batch*parallel.dp");
  if (e.name.empty()) e.name = e.model.name + "-on-" + e.system.name;
  if (check_plan)
    validate(e);
  else
    validate_model_and_system(e);
  return e;
}

Experiment load_experiment_file(const std::string& path, const std::vector<std::string>& overrides, bool check_plan) {
  return load_experiment_text(read_text_file(path, "an experiment file"), path, overrides, check_plan);
}

}  // namespace parallax
