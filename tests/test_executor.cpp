// The executor: model gradients against finite differences (with and without dropout),
// initialisation by tensor name, bit-identical resume, and clear errors for bad data and
// checkpoints.
#define BOOST_TEST_MODULE executor
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "exec/checkpoint.hpp"
#include "exec/data.hpp"
#include "exec/gpt.hpp"
#include "exec/init_rng.hpp"
#include "exec/trainer.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "models/toml_reader.hpp"
#include "results/results_file.hpp"
#include "sim/layer_costs.hpp"

using namespace parallax;
using namespace parallax::exec;
namespace fs = std::filesystem;

namespace {
ModelConfig tiny(int vocab = 300) {
  ModelConfig m = model_preset("tiny-gpt");
  m.seq_len = 16;
  m.vocab = vocab;  // padded to 384
  return m;
}
std::string temp_dir() {
  const fs::path d = fs::temp_directory_path() / ("parallax-test-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d.string();
}
Experiment experiment(const std::string& data, int steps) {
  return load_experiment_text(
      "[model]\npreset=\"tiny-gpt\"\nseq_len=16\nvocab=300\n[system]\npreset=\"cpu\"\ngpus=1\n"
      "[training]\nglobal_batch=4\nmicro_batch=2\nprecision=\"fp32\"\nlr=1e-3\nwarmup_steps=2\n"
      "steps=" +
          std::to_string(steps) + "\ndata=\"" + data + "\"\n",
      "test");
}
}  // namespace

// With dropout the masks are a function of the step's elements, the same in every forward.
BOOST_AUTO_TEST_CASE(model_gradients_match_finite_differences) {
  for (const double dropout : {0.0, 0.2}) {
    BOOST_TEST_CONTEXT("dropout " << dropout) {
      kernels::CpuKernels cpu;
      ModelConfig m = tiny();
      m.dropout = dropout;
      Gpt model(m, 2, cpu);
      model.init(7);
      model.seed_dropout(7);
      std::vector<int> in(32), tg(32);
      for (int i = 0; i < 32; ++i) in[i] = (i * 37) % 300, tg[i] = (i * 91 + 5) % 300;
      model.zero_grads();
      model.forward(in.data(), tg.data());
      model.backward(1.0f);
      const std::vector<float> grads(model.grads().begin(), model.grads().end());
      auto& params = model.params();
      for (const char* name :
           {"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.attn.c_attn.weight",
            "transformer.h.1.mlp.c_proj.bias", "transformer.h.0.ln_1.weight", "transformer.ln_f.bias"}) {
        const ParamTensor& t = model.tensor(name);
        for (long k = 0; k < 4; ++k) {
          const long i = t.offset + (k * 7919) % (std::string(name) == "transformer.wte.weight" ? 300 * 64 : t.size);
          const float keep = params[i], eps = 1e-2f;
          params[i] = keep + eps;
          const double up = model.forward(in.data(), tg.data());
          params[i] = keep - eps;
          const double down = model.forward(in.data(), tg.data());
          params[i] = keep;
          const double fd = (up - down) / (2 * eps);
          BOOST_TEST(std::fabs(fd - grads[i]) <= 1e-3 + 3e-2 * std::fabs(fd),
                     name << "[" << i - t.offset << "]: fd " << fd << " analytic " << grads[i]);
        }
      }
      // Padded vocabulary rows never get a gradient.
      const ParamTensor& wte = model.tensor("transformer.wte.weight");
      for (long i = 300 * 64; i < wte.size; ++i) BOOST_TEST_REQUIRE(grads[wte.offset + i] == 0.0f);
    }
  }
}

BOOST_AUTO_TEST_CASE(initialisation_is_a_function_of_seed_and_name) {
  kernels::CpuKernels cpu;
  Gpt a(tiny(), 1, cpu), b(tiny(), 1, cpu);
  a.init(11);
  b.init(11);
  BOOST_TEST((a.params() == b.params()));
  // Any slice of a tensor can be generated alone: element i depends on (seed, name, i) only.
  const ParamTensor& t = a.tensor("transformer.h.1.mlp.c_fc.weight");
  const auto stream = tensor_stream(11, t.name);
  BOOST_TEST(a.params()[t.offset + 100] == 0.02f * normal_at(stream, 100));
  // Residual projections are scaled by 1/sqrt(2L); LayerNorm weights start at 1, biases at 0.
  const ParamTensor& proj = a.tensor("transformer.h.0.attn.c_proj.weight");
  BOOST_TEST(a.params()[proj.offset + 3] == 0.02f / std::sqrt(4.0f) * normal_at(tensor_stream(11, proj.name), 3));
  BOOST_TEST(a.params()[a.tensor("transformer.h.0.ln_2.weight").offset] == 1.0f);
  BOOST_TEST(a.params()[a.tensor("transformer.h.0.attn.c_attn.bias").offset] == 0.0f);
}

BOOST_AUTO_TEST_CASE(resume_gives_bit_identical_losses) {
  const std::string dir = temp_dir();
  std::vector<std::uint16_t> tokens(2000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::uint16_t>((i * 7 + i / 13) % 300);
  const std::string data = dir + "/tokens.bin";
  write_token_file(data, tokens);

  SingleProcess comm;
  Experiment e = experiment(data, 10);
  e.model.dropout = 0.1;  // a resumed run draws the masks the straight one drew
  kernels::CpuKernels cpu;
  const sim::ResolvedPlan plan = sim::resolve(e);
  Trainer straight(plan, {comm, comm, comm, comm, comm}, cpu);
  std::vector<double> reference;
  for (int i = 0; i < 10; ++i) reference.push_back(straight.step().loss);

  Trainer first(plan, {comm, comm, comm, comm, comm}, cpu);
  for (int i = 0; i < 5; ++i) first.step();
  const std::string ckpt = dir + "/step5.h5";
  first.save_checkpoint(ckpt, "{}");
  Experiment resumed_e = e;
  resumed_e.training.resume_from = ckpt;
  const sim::ResolvedPlan resumed_plan = sim::resolve(resumed_e);
  Trainer resumed(resumed_plan, {comm, comm, comm, comm, comm}, cpu);
  BOOST_TEST(resumed.steps_done() == 5);
  for (int i = 5; i < 10; ++i) BOOST_TEST(resumed.step().loss == reference[i]);  // bit-identical
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(bad_data_and_checkpoints_are_input_errors) {
  const std::string dir = temp_dir();
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  BOOST_TEST(message([&] { TokenData(dir + "/missing.bin", 256, 16, 1); }).find("no such token file") !=
             std::string::npos);
  { std::ofstream(dir + "/junk.bin") << "not a token file at all, but long enough? no."; }
  BOOST_TEST(message([&] { TokenData(dir + "/junk.bin", 256, 16, 1); }).find("not a token file") != std::string::npos);
  std::vector<std::uint16_t> tokens(100, 7);
  tokens[42] = 999;
  write_token_file(dir + "/big.bin", tokens);
  BOOST_TEST(message([&] { TokenData(dir + "/big.bin", 256, 16, 1); }).find("token 999 at position 42") !=
             std::string::npos);
  // A checkpoint of another shape.
  kernels::CpuKernels cpu;
  Gpt small(tiny(300), 1, cpu);
  small.init(1);
  save_checkpoint(dir + "/small.h5", small, nullptr, "{}");
  ModelConfig wider = tiny(300);
  wider.hidden = 128;
  wider.ffn_hidden = 512;
  Gpt big(wider, 1, cpu);
  BOOST_TEST(message([&] { load_checkpoint(dir + "/small.h5", big, nullptr); }).find("has shape") != std::string::npos);
  fs::remove_all(dir);
}

// Tensor-parallel slices: over the TP ranks, every element of every whole tensor sits in
// exactly one slice (tensors whole on every rank: in each), QKV is cut by heads for q, k and v
// alike, and pipeline ranks hold disjoint layers with the tied embedding at both ends.
BOOST_AUTO_TEST_CASE(shards_cover_the_whole_model) {
  const ModelConfig m = tiny();  // 2 layers, hidden 64, 4 heads, vocab 300
  for (int tp : {1, 2, 4}) {
    BOOST_TEST(sim::padded_vocab(m, tp) % (128 * tp) == 0);
    const auto whole = rank_tensors(m, Layout{});
    for (const auto& w : whole) {
      long n = 1;
      for (long d : w.shape) n *= d;
      std::vector<int> hits(n, 0);
      for (int r = 0; r < tp; ++r) {
        const auto mine = rank_tensors(m, Layout{tp, r, 1, 0, 1, 0, {}, false});
        const ParamTensor& t =
            *std::find_if(mine.begin(), mine.end(), [&](const ParamTensor& x) { return x.name == w.name; });
        BOOST_TEST(t.primary == (t.split != Split::none || r == 0));
        for (long i = 0; i < t.size; ++i)
          if (const long k = whole_index(t, tp, r, i); k >= 0) ++hits[k];
      }
      const int expected = w.split == Split::none ? tp : 1;
      BOOST_TEST(std::all_of(hits.begin(), hits.end(), [&](int h) { return h == expected; }), w.name << " tp " << tp);
    }
  }
  // tp 2, rank 1: its first QKV row is q of head 2 (row 32), its rows 32.. are k of heads 2-3 (row 96).
  const auto mine = rank_tensors(m, Layout{2, 1, 1, 0, 1, 0, {}, false});
  const ParamTensor& qkv = *std::find_if(
      mine.begin(), mine.end(), [](const ParamTensor& x) { return x.name == "transformer.h.0.attn.c_attn.weight"; });
  BOOST_TEST(whole_index(qkv, 2, 1, 0) == 32 * 64);
  BOOST_TEST(whole_index(qkv, 2, 1, 32 * 64) == 96 * 64);
  // pp 2: layer 0 on rank 0 with the embeddings, layer 1 on rank 1 with ln_f and the head's copy.
  const auto first = rank_tensors(m, Layout{1, 0, 2, 0, 1, 0, {}, false}),
             last = rank_tensors(m, Layout{1, 0, 2, 1, 1, 0, {}, false});
  BOOST_TEST(first.front().name == "transformer.wte.weight");
  BOOST_TEST(first.front().primary);
  BOOST_TEST(last.front().name == "transformer.wte.weight");
  BOOST_TEST(!last.front().primary);
  BOOST_TEST(first.size() + last.size() == rank_tensors(m, Layout{}).size() + 1);
  BOOST_TEST(last.back().name == "transformer.ln_f.bias");
}

// Uneven stages: pp 2, vpp 2, stages of 3 and 5 layers (8 in all). Stage 0's odd layer goes
// to its later chunk (the embedding's chunk is lighter), stage 1's to its earlier one (the
// loss's chunk is lighter); virtual stages 0..3 hold layers [0,1), [1,4), [4,6), [6,8).
BOOST_AUTO_TEST_CASE(uneven_stages_split_their_layers_over_the_chunks) {
  ModelConfig m = tiny();
  m.layers = 8;
  const Layout first{1, 0, 2, 0, 2, 0, {3, 5}, false}, second{1, 0, 2, 1, 2, 0, {3, 5}, false};
  BOOST_TEST(virtual_stage_layers(m, first) == (std::vector<int>{1, 3, 2, 2}), boost::test_tools::per_element());
  const auto a = chunks_of(m, first), b = chunks_of(m, second);
  BOOST_TEST(a[0].first_layer == 0);
  BOOST_TEST(a[0].layers == 1);
  BOOST_TEST(a[0].embedding);
  BOOST_TEST(b[0].first_layer == 1);
  BOOST_TEST(b[0].layers == 3);
  BOOST_TEST(a[1].first_layer == 4);
  BOOST_TEST(b[1].first_layer == 6);
  BOOST_TEST(b[1].head);
  BOOST_TEST(pipeline_rank_of(m, first, "transformer.h.3.mlp.c_fc.weight") == 1);
  BOOST_TEST(pipeline_rank_of(m, first, "transformer.h.5.ln_1.weight") == 0);
  BOOST_TEST(pipeline_rank_of(m, first, "transformer.h.7.ln_1.weight") == 1);
  // A stage of vpp - 1 layers leaves its embedding chunk empty, and that chunk still runs.
  const Layout sparse{1, 0, 2, 0, 2, 0, {1, 7}, false};
  BOOST_TEST(chunks_of(m, sparse)[0].layers == 0);
  kernels::CpuKernels cpu;
  Gpt g(m, 1, cpu, sparse);
  g.init(1);
  std::vector<int> tokens(m.seq_len, 3);
  g.forward(0, 0, nullptr, tokens.data(), tokens.data());
  const auto* out = static_cast<const float*>(g.output(0, 0));
  BOOST_TEST(std::any_of(out, out + g.activation_size(), [](float x) { return x != 0.0f; }));
}

BOOST_AUTO_TEST_CASE(a_run_lists_each_host_once) {
  // Slurm names nodes r1i0n1, r1i0n10, ...: a host whose name holds another's is still its own
  // host (it used to be dropped when it came after the longer name).
  const std::vector<results::RankInfo> ranks = {{"r1i0n10", 0}, {"r1i0n10", 1}, {"r1i0n1", 0},
                                                {"r1i0n1", 1},  {"r1i0n10", 2}, {"n1", 0}};
  BOOST_TEST(results::distinct_hosts(ranks) == "r1i0n10,r1i0n1,n1");
  BOOST_TEST(results::distinct_hosts({}) == "");
}
