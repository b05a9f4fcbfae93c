// The experiment TOML: presets, defaults, overrides, and one clear error per bad input.
#define BOOST_TEST_MODULE config
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "models/framework_profile.hpp"
#include "models/presets.hpp"
#include "models/toml_reader.hpp"

using namespace parallax;

namespace {
const std::string base =
    "[model]\npreset = \"gpt3-175b\"\n[system]\npreset = \"dgx-a100-80g\"\nnodes = 16\n"
    "[parallel]\ntp = 8\npp = 4\n[training]\nglobal_batch = 64\nmicro_batch = 1\n";

std::string error_of(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    load_experiment_text(text, "exp.toml", sets);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
bool mentions(const std::string& message, const std::string& what) { return message.find(what) != std::string::npos; }
}  // namespace

BOOST_AUTO_TEST_CASE(presets_and_defaults) {
  const Experiment e = load_experiment_text(base, "exp.toml");
  BOOST_TEST(e.model.layers == 96);
  BOOST_TEST(e.model.ffn_hidden == 4 * 12288);
  BOOST_TEST(e.model.kv_heads == 96);
  BOOST_TEST(e.system.gpus == 128);
  BOOST_TEST(e.parallel.dp == 4);  // devices / (tp * pp)
  BOOST_TEST(e.system.device.peak_tflops_bf16 == 312);
  BOOST_TEST(e.micro_batches() == 16);
}

BOOST_AUTO_TEST_CASE(every_listed_preset_loads) {
  for (const auto& name : preset_names(PresetKind::model)) BOOST_TEST(model_preset(name).layers > 0, name);
  for (const auto& name : preset_names(PresetKind::system)) BOOST_TEST(system_preset(name).gpus_per_node > 0, name);
  for (const char* name : {"gpt2-124m", "gpt2-350m", "gpt2-774m", "gpt2-1.5b", "gpt3-175b", "megatron-22b",
                           "megatron-530b", "megatron-1t", "llama3-8b", "llama3-70b", "llama3-405b"})
    BOOST_TEST(model_preset(name).layers > 0, name);
  const ModelConfig llama = model_preset("llama3-70b");
  BOOST_TEST(llama.kv_heads == 8);
  BOOST_TEST(
      (llama.activation == Activation::swiglu && llama.norm == Norm::rmsnorm && llama.position == Position::rope));
}

BOOST_AUTO_TEST_CASE(overrides_win) {
  const Experiment e = load_experiment_text(
      base, "exp.toml",
      {"parallel.tp=4", "training.recompute=selective", "model.hidden=9216", "parallel.sequence_parallel=true"});
  BOOST_TEST(e.parallel.tp == 4);
  BOOST_TEST(e.parallel.dp == 8);
  BOOST_TEST((e.training.recompute == Recompute::selective));
  BOOST_TEST(e.model.hidden == 9216);
  BOOST_TEST(e.model.ffn_hidden == 4 * 9216);  // follows hidden unless given
  BOOST_TEST(e.parallel.sequence_parallel);
}

BOOST_AUTO_TEST_CASE(flash_attention_defaults_by_framework_and_device) {
  // Megatron-Core (the default framework) runs fused attention on every GPU; Megatron-LM before
  // it only where the device has FP8 tensor cores (Hopper and later); a file that says either
  // is taken at its word.
  BOOST_TEST(load_experiment_text(base, "exp.toml").training.flash_attention);  // A100
  const std::vector<std::string> legacy{"training.framework=megatron-lm-2020"};
  BOOST_TEST(!load_experiment_text(base, "exp.toml", legacy).training.flash_attention);
  const std::string hopper =
      "[model]\npreset = \"llama3-70b\"\n[system]\npreset = \"dgx-h100\"\ngpus = 64\n"
      "[parallel]\ntp = 8\npp = 4\n[training]\nglobal_batch = 128\nmicro_batch = 1\n";
  BOOST_TEST(load_experiment_text(hopper, "exp.toml").training.flash_attention);
  BOOST_TEST(load_experiment_text(hopper, "exp.toml", legacy).training.flash_attention);
  BOOST_TEST(!load_experiment_text(hopper, "exp.toml", {"training.flash_attention=false"}).training.flash_attention);
  BOOST_TEST(load_experiment_text(base, "exp.toml", {"training.flash_attention=true"}).training.flash_attention);
}

BOOST_AUTO_TEST_CASE(framework_profiles_set_what_the_experiment_leaves_out) {
  // Every profile reads; Megatron-Core is the default, and the defaults of a plan built in code.
  for (const auto& name : framework_names()) BOOST_TEST(framework_profile(name).name == name);
  const Experiment core = load_experiment_text(base, "exp.toml");
  BOOST_TEST(core.training.framework == "megatron-core");
  const ParallelConfig plain;
  BOOST_TEST(core.parallel.overlap_p2p_comm == plain.overlap_p2p_comm);
  BOOST_TEST(core.parallel.overlap_param_gather == plain.overlap_param_gather);
  BOOST_TEST(!core.parallel.tp_comm_overlap);
  // NeMo 2.x: the distributed optimizer, TP overlap and 16-bit gradient reduction in bf16; the
  // file's own word wins.
  const Experiment nemo = load_experiment_text(base, "exp.toml", {"training.framework=nemo-2"});
  BOOST_TEST(nemo.parallel.distributed_optimizer);
  BOOST_TEST(nemo.parallel.tp_comm_overlap);
  BOOST_TEST((nemo.training.grad_reduce_in_fp32 == std::optional<bool>(false)));
  BOOST_TEST((nemo.training.optimizer_state == OptimizerState::fp32));
  BOOST_TEST(!load_experiment_text(base, "exp.toml", {"training.framework=nemo-2", "parallel.tp_comm_overlap=false"})
                  .parallel.tp_comm_overlap);
  // NeMo 1.x keeps 16-bit remainders of the master weights, where the state is sharded over bf16
  // weights only.
  BOOST_TEST((load_experiment_text(base, "exp.toml", {"training.framework=nemo-1"}).training.optimizer_state ==
              OptimizerState::remainders));
  BOOST_TEST((load_experiment_text(base, "exp.toml", {"training.framework=nemo-1", "training.precision=fp16"})
                  .training.optimizer_state == OptimizerState::fp32));
  // Megatron-DeepSpeed of 2021: its fitted constants, gathers tensor by tensor under ZeRO-3 only.
  const std::vector<std::string> ds{"training.framework=megatron-deepspeed-2021"};
  const Experiment deepspeed = load_experiment_text(base, "exp.toml", ds);
  BOOST_TEST(deepspeed.system.calibration.pass_overhead_us == 17591);
  BOOST_TEST(deepspeed.system.calibration.dp_reduce_efficiency == 0.2328);
  BOOST_TEST(!deepspeed.parallel.overlap_grad_reduce);
  BOOST_TEST(!deepspeed.training.gradient_accumulation_fusion);
  BOOST_TEST(!deepspeed.parallel.fsdp_per_tensor);
  std::vector<std::string> zero3 = ds;
  zero3.push_back("parallel.zero_stage=3");
  BOOST_TEST(load_experiment_text(base, "exp.toml", zero3).parallel.fsdp_per_tensor);
  const std::string own_constant = base + "[system.calibration]\npass_overhead_us = 0\n";
  BOOST_TEST(load_experiment_text(own_constant, "exp.toml", ds).system.calibration.pass_overhead_us == 0);
  BOOST_TEST(mentions(error_of(base, {"training.framework=megatron-9"}),
                      "training.framework = \"megatron-9\" is not a known preset (allowed: megatron-core"));
}

BOOST_AUTO_TEST_CASE(vpp_selects_interleaving) {
  const Experiment e = load_experiment_text(base, "exp.toml", {"parallel.vpp=2"});
  BOOST_TEST((e.parallel.schedule == Schedule::interleaved));
}

BOOST_AUTO_TEST_CASE(bad_inputs_name_the_key) {
  BOOST_TEST(mentions(error_of("[model\nlayers = 2"), "exp.toml:1"));
  BOOST_TEST(mentions(error_of(base, {"model.preset=gpt5"}), "model.preset"));
  BOOST_TEST(mentions(error_of(base, {"model.colour=1"}), "unknown key model.colour"));
  BOOST_TEST(mentions(error_of(base, {"turbo.x=1"}), "unknown key turbo"));
  BOOST_TEST(mentions(error_of(base, {"parallel.tp=5", "system.nodes=5"}), "parallel.tp = 5 must divide model.heads"));
  BOOST_TEST(mentions(error_of(base, {"parallel.pp=5", "system.nodes=5"}), "divisible by parallel.pp*parallel.vpp"));
  BOOST_TEST(mentions(error_of(base, {"training.global_batch=63"}), "training.global_batch = 63"));
  BOOST_TEST(mentions(error_of(base, {"parallel.dp=3"}), "must equal the devices"));
  BOOST_TEST(mentions(error_of(base, {"model.layers=0"}), "model.layers = 0 must be a positive"));
  BOOST_TEST(mentions(error_of(base, {"training.micro_batch=-2"}), "training.micro_batch"));
  BOOST_TEST(mentions(error_of(base, {"parallel.schedule=interleaved-1f1b"}), "needs parallel.vpp >= 2"));
  BOOST_TEST(mentions(error_of(base, {"parallel.schedule=zigzag"}), "parallel.schedule = \"zigzag\" is not allowed"));
  BOOST_TEST(mentions(error_of(base, {"parallel.tp=\"eight\""}), "parallel.tp must be an integer"));
  BOOST_TEST(mentions(error_of(base, {"system.gpus=96"}), "system.nodes and system.gpus are both set"));
}

// A system file by path, relative to the experiment file; keys with their units; clear errors.
BOOST_AUTO_TEST_CASE(system_file_by_path) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("parallax-system-" + std::to_string(::getpid()));
  fs::create_directories(dir / "systems");
  const auto write = [](const fs::path& p, const std::string& text) { std::ofstream(p) << text; };
  write(dir / "systems" / "mine.toml",
        "gpus_per_node = 4\n[device]\npreset = \"h100-sxm5-80gb\"\nmemory_GiB = 70\nmemory_GBps = 3000\n"
        "[intra_node]\nbandwidth_GBps = 300\nlatency_us = 2\n[inter_node]\nbandwidth_GBps = 25\nlatency_us = 8\n");
  const std::string experiment =
      "[model]\npreset = \"gpt2-124m\"\n[system]\nfile = \"systems/mine.toml\"\nnodes = 2\n"
      "[parallel]\ntp = 4\n[training]\nglobal_batch = 8\nmicro_batch = 1\n";
  write(dir / "exp.toml", experiment);
  const Experiment e = load_experiment_file((dir / "exp.toml").string());
  BOOST_TEST(e.system.name == "mine");
  BOOST_TEST(e.system.gpus == 8);
  BOOST_TEST(e.system.device.peak_tflops_bf16 == 989.4);  // from the device preset
  BOOST_TEST(e.system.device.memory_gib == 70.0);
  BOOST_TEST(e.system.device.memory_gbps == 3000.0);
  BOOST_TEST(e.system.intra_node.bandwidth_gbps == 300.0);
  BOOST_TEST(e.system.inter_node.latency_us == 8.0);
  // The example in experiments/ reads, through the same path.
  const Experiment example = load_experiment_text(
      "[model]\npreset = \"gpt2-124m\"\n[system]\nfile = \"systems/example-cluster.toml\"\n[training]\n"
      "global_batch = 8\nmicro_batch = 1\n",
      std::string(PARALLAX_SOURCE_DIR) + "/experiments/exp.toml");
  BOOST_TEST(example.system.inter_node.bandwidth_gbps == 50.0);

  write(dir / "systems" / "both.toml", "[intra_node]\nbandwidth_GBps = 300\nbandwidth_gbps = 300\n");
  BOOST_TEST(mentions(error_of(experiment, {"system.file=" + (dir / "systems" / "both.toml").string()}),
                      "bandwidth_GBps and system file"));
  BOOST_TEST(
      mentions(error_of(experiment, {"system.file=" + (dir / "none.toml").string()}), "cannot open a system file"));
  BOOST_TEST(mentions(error_of(experiment, {"system.preset=cpu"}), "system.preset and system.file are both set"));
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(training_files_are_relative_to_the_experiment_file) {
  const std::string text = base + "data = \"../tokens.bin\"\ninit_from = \"w.h5\"\nresume_from = \"/abs/c.h5\"\n";
  const Experiment e = load_experiment_text(text, "runs/a/exp.toml");
  BOOST_TEST(e.training.data == "runs/tokens.bin");
  BOOST_TEST(e.training.init_from == "runs/a/w.h5");
  BOOST_TEST(e.training.resume_from == "/abs/c.h5");
  BOOST_TEST(e.training.checkpoint_dir == "checkpoints");  // the default: the working directory's
  // --set values are the command line's: relative to the working directory.
  const Experiment set = load_experiment_text(text, "runs/a/exp.toml", {"training.data=x.bin"});
  BOOST_TEST(set.training.data == "x.bin");
  BOOST_TEST(load_experiment_text(base + "data = \"synthetic\"\n", "runs/exp.toml").training.data == "synthetic");
}
