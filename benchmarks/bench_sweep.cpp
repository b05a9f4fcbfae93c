// Prints the sweep's rate (no assertions: figures to read): the whole GPT-3 175B / 512-GPU
// space with every knob free, and a scaling sweep of the 1T model over device counts.
#include <cstdio>
#include <thread>

#include "models/toml_reader.hpp"
#include "sim/sweep.hpp"

namespace {
void bench(const char* name, const char* model, const std::vector<int>& gpus, int global_batch,
           const char* system = "dgx-a100-80g") {
  parallax::Experiment e;
  e.model = parallax::model_preset(model);
  e.system = parallax::system_preset(system);
  e.system.gpus = gpus.front();
  e.training.global_batch = global_batch;
  parallax::SweepSpec spec;
  spec.gpus = gpus;
  for (int threads : {1, static_cast<int>(std::thread::hardware_concurrency())}) {
    double best = 1e300;
    parallax::sim::SweepResult r;
    for (int rep = 0; rep < 5; ++rep) {
      r = parallax::sim::run_sweep(e, spec, {threads, nullptr});
      best = std::min(best, r.seconds);
    }
    long long timed = r.feasible;
    std::printf("%-44s %d thread(s): %lld plans (%lld timed) in %.4f s = %.0f plans/s, %.0f per thread\n", name,
                threads, r.evaluated, timed, best, r.evaluated / best, r.evaluated / best / threads);
  }
}
}  // namespace

int main() {
  bench("GPT-3 175B on 512 A100, every knob free", "gpt3-175b", {512}, 1536);
  bench("1T on 512..8192 A100 (5 sizes)", "megatron-1t", {512, 1024, 2048, 4096, 8192}, 3072);
  bench("Llama-3 70B on 64..4096 A100 (7 sizes)", "llama3-70b", {64, 128, 256, 512, 1024, 2048, 4096}, 1024);
  // Most plans fit in an H200's memory, so most are timed.
  bench("Llama-3 8B on 64..1024 H200 (5 sizes)", "llama3-8b", {64, 128, 256, 512, 1024}, 1024, "dgx-h200");
  return 0;
}
